package client

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// serviceConfig spreads calls over every address a client was given and
// retries calls the control plane answered Unavailable (no leader yet, a
// node shutting down) with backoff, within the call's deadline. Writes
// are safe to retry: modules are content-addressed and the other writes
// put whole objects.
const serviceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [
      {"service": "nanoedge.registry.v1.RegistryService"},
      {"service": "nanoedge.registry.v1.AccessService"},
      {"service": "nanoedge.registry.v1.ClusterService"},
      {"service": "nanoedge.registry.v1.TelemetryService"}
    ],
    "retryPolicy": {
      "maxAttempts": 5,
      "initialBackoff": "0.2s",
      "maxBackoff": "2s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// target turns "host:port" or "host1:port,host2:port,..." into a gRPC
// target and the dial options it needs: several addresses become a
// resolver of their own, so that calls go on when a node is down.
func target(addr string) (string, []grpc.DialOption, error) {
	opts := []grpc.DialOption{grpc.WithDefaultServiceConfig(serviceConfig)}
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
