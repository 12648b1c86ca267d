// Command trademesh-journey walks through a trader's first session with the Go SDK: register, log in,
// record a trade, list it back and wait for a live quote tick. It prints one JSON line with what it saw
// (the cross-language tests read it).
//
//	go run ./cmd/trademesh-journey -target 127.0.0.1:8080
//	go run ./cmd/trademesh-journey -auth 127.0.0.1:50051 -trade 127.0.0.1:50052 -marketdata 127.0.0.1:50054
package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	authv1 "github.com/trademesh/trademesh/clients/go/gen/trademesh/auth/v1"
	commonv1 "github.com/trademesh/trademesh/clients/go/gen/trademesh/common/v1"
	marketdatav1 "github.com/trademesh/trademesh/clients/go/gen/trademesh/marketdata/v1"
	tradev1 "github.com/trademesh/trademesh/clients/go/gen/trademesh/trade/v1"
)

// quoteTick is the first live (non-snapshot) quote the stream delivered.
type quoteTick struct {
	Symbol          string `json:"symbol"`
	LastPriceMicros int64  `json:"lastPriceMicros"`
	Sequence        uint64 `json:"sequence"`
	Snapshot        bool   `json:"snapshot"`
}

// result is what the journey saw, printed as JSON.
type result struct {
	UserID         string    `json:"userId"`
	Username       string    `json:"username"`
	TradeID        string    `json:"tradeId"`
	ListedTradeIDs []string  `json:"listedTradeIds"`
	Quote          quoteTick `json:"quote"`
}

// bearer is per-RPC credentials carrying the access token; it allows plaintext for the local mesh.
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		log.Fatalf("uuid: %v", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func dial(target string, opts ...grpc.DialOption) *grpc.ClientConn {
	conn, err := grpc.NewClient(target, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)...)
	if err != nil {
		log.Fatalf("connect %s: %v", target, err)
	}
	return conn
}

func run(ctx context.Context, authTarget, tradeTarget, quotesTarget, username, password string) (*result, error) {
	authConn := dial(authTarget)
	defer authConn.Close()
	auth := authv1.NewAuthServiceClient(authConn)
	if _, err := auth.Register(ctx, &authv1.RegisterRequest{Email: username + "@example.com", Username: username, Password: password}); err != nil {
		return nil, fmt.Errorf("register: %w", err)
	}
	login, err := auth.Login(ctx, &authv1.LoginRequest{Login: username, Password: password})
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	token := grpc.WithPerRPCCredentials(bearer{login.GetTokens().GetAccessToken()})

	tradeConn := dial(tradeTarget, token)
	defer tradeConn.Close()
	trades := tradev1.NewTradeServiceClient(tradeConn)
	infy := &commonv1.Instrument{Symbol: "INFY", Exchange: commonv1.Exchange_EXCHANGE_NSE}
	created, err := trades.CreateTrade(ctx, &tradev1.CreateTradeRequest{
		RequestId: newUUID(),
		Trade: &tradev1.Trade{
			Instrument:     infy,
			Side:           tradev1.Side_SIDE_SELL,
			QuantityMicros: 3_000_000,
			PriceMicros:    1_498_250_000,
			TradeTime:      timestamppb.New(time.Now().Add(-time.Minute)),
			Tags:           []string{"go"},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("create trade: %w", err)
	}
	listed, err := trades.ListTrades(ctx, &tradev1.ListTradesRequest{PageSize: 50})
	if err != nil {
		return nil, fmt.Errorf("list trades: %w", err)
	}
	ids := make([]string, 0, len(listed.GetTrades()))
	for _, trade := range listed.GetTrades() {
		ids = append(ids, trade.GetId())
	}

	quotesConn := dial(quotesTarget, token)
	defer quotesConn.Close()
	quotes := marketdatav1.NewMarketDataServiceClient(quotesConn)
	streamCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := quotes.SubscribeQuotes(streamCtx, &marketdatav1.SubscribeQuotesRequest{Instruments: []*commonv1.Instrument{infy}})
	if err != nil {
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	for {
		message, err := stream.Recv()
		if err != nil {
			return nil, fmt.Errorf("quote stream: %w", err)
		}
		batch := message.GetBatch()
		// The first message is a snapshot; wait for a live tick after it.
		if batch == nil || batch.GetSnapshot() || len(batch.GetQuotes()) == 0 {
			continue
		}
		tick := batch.GetQuotes()[0]
		return &result{
			UserID:         login.GetUser().GetId(),
			Username:       username,
			TradeID:        created.GetTrade().GetId(),
			ListedTradeIDs: ids,
			Quote: quoteTick{
				Symbol:          tick.GetInstrument().GetSymbol(),
				LastPriceMicros: tick.GetLastPriceMicros(),
				Sequence:        tick.GetSequence(),
				Snapshot:        batch.GetSnapshot(),
			},
		}, nil
	}
}

func main() {
	target := flag.String("target", "", "one address for every service: the gateway (e.g. 127.0.0.1:8080)")
	authTarget := flag.String("auth", "", "the auth service's address (overrides -target)")
	tradeTarget := flag.String("trade", "", "the trade service's address (overrides -target)")
	quotesTarget := flag.String("marketdata", "", "the market-data service's address (overrides -target)")
	username := flag.String("username", "go_"+newUUID()[:8], "username to register")
	password := flag.String("password", "Correct-Horse-42", "password")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	pick := func(specific string) string {
		if specific != "" {
			return specific
		}
		return *target
	}
	if pick(*authTarget) == "" || pick(*tradeTarget) == "" || pick(*quotesTarget) == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	res, err := run(ctx, pick(*authTarget), pick(*tradeTarget), pick(*quotesTarget), *username, *password)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			log.Fatalf("journey timed out: %v", err)
		}
		log.Fatalf("journey failed: %v", err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		log.Fatalf("print: %v", err)
	}
}
