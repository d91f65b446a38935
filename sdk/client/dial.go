package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// serviceConfig spreads calls over every address a client was given.
const serviceConfig = `{"loadBalancingConfig": [{"round_robin": {}}]}`

// Retries of calls answered Unavailable: a leader election in progress, a
// node shutting down or unreachable. Writes are safe to retry: modules are
// content-addressed and the other writes put whole objects.
const (
	maxAttempts    = 5
	initialBackoff = 200 * time.Millisecond
	maxBackoff     = 2 * time.Second
)

// retryUnary retries a unary call answered Unavailable, with backoff,
// within the call's deadline. A failed TLS handshake is Unavailable too,
// but no retry mends a wrong certificate: it is returned at once.
func retryUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	backoff := initialBackoff
	for attempt := 1; ; attempt++ {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err == nil || attempt == maxAttempts || !transient(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func transient(err error) bool {
	s := status.Convert(err)
	if s.Code() != codes.Unavailable {
		return false
	}
	msg := s.Message()
	return !strings.Contains(msg, "handshake") && !strings.Contains(msg, "certificate")
}

// target turns "host:port" or "host1:port,host2:port,..." into a gRPC
// target and the dial options it needs: several addresses become a
// resolver of their own, so that calls go on when a node is down.
func target(addr string) (string, []grpc.DialOption, error) {
	opts := []grpc.DialOption{grpc.WithDefaultServiceConfig(serviceConfig), grpc.WithChainUnaryInterceptor(retryUnary)}
	addrs := strings.Split(addr, ",")
	if len(addrs) == 1 {
		return addr, opts, nil
	}
	state := resolver.State{}
	for _, a := range addrs {
		a = strings.TrimSpace(a)
		if _, _, err := net.SplitHostPort(a); err != nil {
			return "", nil, fmt.Errorf("client: address %q: %w", a, err)
		}
		state.Addresses = append(state.Addresses, resolver.Address{Addr: a})
	}
	b := make([]byte, 6)
	rand.Read(b)
	r := manual.NewBuilderWithScheme("nanoedge-" + hex.EncodeToString(b))
	r.InitialState(state)
	host, _, _ := net.SplitHostPort(strings.TrimSpace(addrs[0]))
	return r.Scheme() + ":///" + host, append(opts, grpc.WithResolvers(r)), nil
}
