// A trader's first session with the TypeScript SDK over gRPC (HTTP/2) from Node.js: register, log in,
// record a trade, list it back and wait for a live quote tick. Prints one JSON line with what it saw.
//
//   npm run journey -- http://127.0.0.1:8080 [username] [password]
//
// The same code runs against the gateway or a single service's address (each call is routed by its
// service name); in a browser, swap createGrpcTransport for @connectrpc/connect-web's transports.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { type Interceptor, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { randomUUID } from "node:crypto";

import { auth, common, marketdata, trade } from "../src/index.js";

interface Addresses {
  auth: string;
  trade: string;
  marketdata: string;
}

interface Result {
  userId: string;
  username: string;
  tradeId: string;
  listedTradeIds: string[];
  quote: { symbol: string; lastPriceMicros: string; sequence: string; snapshot: boolean };
}

const TICK_TIMEOUT_MS = 20_000;

/** Add `authorization: Bearer <token>` to every call once logged in. */
function bearer(token: () => string | undefined): Interceptor {
  return (next) => async (request) => {
    const value = token();
    if (value !== undefined) {
      request.header.set("authorization", `Bearer ${value}`);
    }
    return next(request);
  };
}

async function journey(addresses: Addresses, username: string, password: string): Promise<Result> {
  let accessToken: string | undefined;
  const transport = (baseUrl: string) => createGrpcTransport({ baseUrl, interceptors: [bearer(() => accessToken)] });
  const authClient = createClient(auth.AuthService, transport(addresses.auth));
  const tradeClient = createClient(trade.TradeService, transport(addresses.trade));
  const quotesClient = createClient(marketdata.MarketDataService, transport(addresses.marketdata));

  await authClient.register({ email: `${username}@example.com`, username, password });
  const login = await authClient.login({ login: username, password });
  accessToken = login.tokens?.accessToken;
  const userId = login.user?.id ?? "";

  const created = await tradeClient.createTrade({
    requestId: randomUUID(),
    trade: create(trade.TradeSchema, {
      instrument: create(common.InstrumentSchema, { symbol: "INFY", exchange: common.Exchange.NSE }),
      side: trade.Side.BUY,
      quantityMicros: 7_000_000n,
      priceMicros: 1_512_500_000n,
      tradeTime: timestampFromDate(new Date(Date.now() - 60_000)),
      tags: ["typescript"],
    }),
  });
  const listed = await tradeClient.listTrades({ pageSize: 50 });

  // The first message is a snapshot; wait for a live tick after it.
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), TICK_TIMEOUT_MS);
  let quote: Result["quote"] | undefined;
  try {
    const stream = quotesClient.subscribeQuotes(
      { instruments: [create(common.InstrumentSchema, { symbol: "INFY", exchange: common.Exchange.NSE })] },
      { signal: abort.signal },
    );
    for await (const message of stream) {
      if (message.event.case !== "batch" || message.event.value.snapshot) {
        continue;
      }
      const tick = message.event.value.quotes[0];
      if (tick !== undefined) {
        quote = {
          symbol: tick.instrument?.symbol ?? "",
          lastPriceMicros: tick.lastPriceMicros.toString(),
          sequence: tick.sequence.toString(),
          snapshot: false,
        };
        break;
      }
    }
  } finally {
    clearTimeout(timer);
    abort.abort();
  }
  if (quote === undefined) {
    throw new Error("no quote tick arrived");
  }
  return {
    userId,
    username,
    tradeId: created.trade?.id ?? "",
    listedTradeIds: listed.trades.map((item) => item.id),
    quote,
  };
}

function usage(): never {
  console.error("usage: node journey.js BASE_URL | AUTH_URL,TRADE_URL,MARKETDATA_URL [username] [password]");
  process.exit(2);
}

const [target, name, secret] = process.argv.slice(2);
if (target === undefined) {
  usage();
}
const urls = target.split(",");
const addresses: Addresses =
  urls.length === 3
    ? { auth: urls[0]!, trade: urls[1]!, marketdata: urls[2]! }
    : { auth: target, trade: target, marketdata: target };
journey(addresses, name ?? `ts_${randomUUID().slice(0, 8)}`, secret ?? "Correct-Horse-42").then(
  (result) => console.log(JSON.stringify(result)),
  (error: unknown) => {
    console.error(`journey failed: ${String(error)}`);
    process.exit(1);
  },
);
