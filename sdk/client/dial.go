package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"
)

// serviceConfig spreads calls over every address a client was given.
const serviceConfig = `{"loadBalancingConfig": [{"round_robin": {}}]}`

// Calls answered Unavailable (a leader election in progress, a node
// shutting down, paused or unreachable) are retried with backoff for up
// to retryBudget, enough to ride through an election at the default Raft
// timeouts (1 s) several times over, and never past the call's deadline.
// Every try of one call carries the same request id (RequestIDHeader),
// and the registry applies a write with a given id once: a retry after an
// answer that was lost, or after "the outcome is unknown", never applies
// it twice.
const (
	retryBudget    = 20 * time.Second
	initialBackoff = 100 * time.Millisecond
	maxBackoff     = 2 * time.Second
)

// RequestIDHeader carries a call's request id, the same on each retry.
const RequestIDHeader = "nanoedge-request-id"

// keepalive pings a connection that has been quiet for 2 s, so a node that
// stopped answering (paused, cut off) is noticed in seconds, not after
// the kernel's TCP timeouts.
var keepaliveParams = keepalive.ClientParameters{Time: 2 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true}

// retryUnary gives a unary call a request id and retries it while it is
// answered Unavailable, with backoff, within retryBudget and the call's
// deadline. A failed TLS handshake is Unavailable too, but no retry
// mends a wrong certificate: it is returned at once.
func retryUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if md, _ := metadata.FromOutgoingContext(ctx); len(md.Get(RequestIDHeader)) == 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, RequestIDHeader, newRequestID())
	}
	backoff := initialBackoff
	start := time.Now()
	var unknown error // a try whose outcome is unknown: the call's answer, if no later try settles it
	for {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if OutcomeUnknown(err) {
			unknown = err
		}
		if err == nil || !transient(err) || time.Since(start)+backoff > retryBudget {
			return settled(err, unknown)
		}
		select {
		case <-ctx.Done():
			return settled(err, unknown)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// settled is the error a call ends with: err, unless an earlier try's
// outcome was unknown and no later try settled it, since the write may
// have been applied whatever the last try said.
func settled(err, unknown error) error {
	if err == nil || unknown == nil || OutcomeUnknown(err) || !transient(err) {
		return err
	}
	st, _ := status.FromError(unknown)
	return status.ErrorProto(&spb.Status{Code: st.Proto().Code, Message: st.Message() + "; the last try said: " + status.Convert(err).Message(), Details: st.Proto().Details})
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
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
	opts := []grpc.DialOption{grpc.WithDefaultServiceConfig(serviceConfig), grpc.WithChainUnaryInterceptor(retryUnary),
		grpc.WithKeepaliveParams(keepaliveParams),
		// A call carries its caller's trace (W3C traceparent): the writes
		// it makes, and the workers that apply them, join that trace. Spans
		// of its own go to the global TracerProvider, if a program set one.
		grpc.WithStatsHandler(otelgrpc.NewClientHandler(otelgrpc.WithPropagators(propagation.TraceContext{})))}
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
