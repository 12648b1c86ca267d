// Command trademesh-example registers (or logs in) a user against a trademesh mesh and prints who it is.
//
//	go run ./cmd/trademesh-example -target 127.0.0.1:50051 -login demo_trader -password 'Correct-Horse-42'
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	authv1 "github.com/trademesh/trademesh/clients/go/gen/trademesh/auth/v1"
)

func main() {
	target := flag.String("target", "127.0.0.1:50051", "gRPC address of the auth service or the gateway")
	login := flag.String("login", "demo_trader", "username to register or log in as")
	password := flag.String("password", "Correct-Horse-42", "password")
	flag.Parse()

	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatalf("connect: %v", err)
	}
	defer conn.Close()
	auth := authv1.NewAuthServiceClient(conn)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	tokens, err := loginOrRegister(ctx, auth, *login, *password)
	if err != nil {
		log.Fatalf("login: %v", err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tokens.GetAccessToken())
	me, err := auth.GetMe(authed, &authv1.GetMeRequest{})
	if err != nil {
		log.Fatalf("GetMe: %v", err)
	}
	fmt.Printf("logged in as %s (%s), user id %s\n", me.GetUser().GetUsername(), me.GetUser().GetEmail(), me.GetUser().GetId())
}

func loginOrRegister(ctx context.Context, auth authv1.AuthServiceClient, login, password string) (*authv1.TokenPair, error) {
	loggedIn, err := auth.Login(ctx, &authv1.LoginRequest{Login: login, Password: password})
	if err == nil {
		return loggedIn.GetTokens(), nil
	}
	if status.Code(err) != codes.Unauthenticated {
		return nil, err
	}
	registered, err := auth.Register(ctx, &authv1.RegisterRequest{
		Email: login + "@example.com", Username: login, Password: password,
	})
	if err != nil {
		return nil, err
	}
	return registered.GetTokens(), nil
}
