package dataplane_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
	"github.com/nanoedge/nanoedge/examples/hello/greet"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/server"
)

// BenchmarkHello serves the hello handler natively with net/http and
// through a worker, over loopback HTTP with keep-alive clients, in the same
// process. Compare the ns/op of the sub-benchmarks for the worker/native ratio.
func BenchmarkHello(b *testing.B) {
	native := httptest.NewServer(http.HandlerFunc(greet.Handler))
	b.Cleanup(native.Close)
	workerURL := startHello(b)

	for _, bc := range []struct{ name, url string }{
		{"native", native.URL},
		{"worker", workerURL},
	} {
		b.Run(bc.name, func(b *testing.B) { hammer(b, bc.url+"/hello", nil) })
	}
}

// BenchmarkInstantiate measures creating and initializing one instance of
// the hello module (a Go reactor) from compiled code.
func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	cfg := wazeroengine.DefaultConfig()
	cfg.CacheDir = guests.CacheDir()
	eng, err := wazeroengine.New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(ctx)
	m, err := eng.Compile(ctx, guests.Build(b, guests.Hello))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			b.Fatal(err)
		}
		inst.Close(ctx)
	}
}

func startHello(b *testing.B) string {
	b.Helper()
	env := testenv.Start(b, testenv.ControlPlaneConfig(b.TempDir(), "127.0.0.1:0"))
	return startHelloOn(b, env, env.WorkerConfig(), client.Route{PathPrefix: "/hello", Module: "hello"})
}

// startHelloOn starts a worker serving hello on each route and waits until
// the first answers.
func startHelloOn(b *testing.B, env *testenv.Env, cfg server.WorkerConfig, routes ...client.Route) string {
	b.Helper()
	w := testenv.StartWorker(b, cfg)
	env.Upload(b, "hello", guests.Hello)
	for _, r := range routes {
		if _, _, err := env.Publisher.SetRoute(context.Background(), r); err != nil {
			b.Fatal(err)
		}
	}
	poll.Eventually(b, 3*time.Minute, func() error {
		resp, err := http.Get(w.URL() + routes[len(routes)-1].PathPrefix)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", routes[len(routes)-1].PathPrefix, resp.Status)
		}
		return nil
	})
	return w.URL()
}

// BenchmarkMiddleware measures what per-route middleware costs a request:
// the same handler on a plain route, with CORS, with an access log line
// (JSON, discarded), and with a span exported over OTLP to a collector on
// loopback.
func BenchmarkMiddleware(b *testing.B) {
	env := testenv.Start(b, testenv.ControlPlaneConfig(b.TempDir(), "127.0.0.1:0"))
	cfg := env.WorkerConfig()
	cfg.Worker.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	cfg.Tracing = server.TracingConfig{Endpoint: testenv.StartCollector(b).Addr, Insecure: true}
	url := startHelloOn(b, env, cfg,
		client.Route{PathPrefix: "/plain", Module: "hello"},
		client.Route{PathPrefix: "/cors", Module: "hello", Options: &registryv1.RouteOptions{
			Cors: &registryv1.CorsPolicy{AllowOrigins: []string{"https://app.example"}}}},
		client.Route{PathPrefix: "/logged", Module: "hello", Options: &registryv1.RouteOptions{AccessLog: true}},
		client.Route{PathPrefix: "/traced", Module: "hello", Options: &registryv1.RouteOptions{Trace: true}},
	)
	for _, path := range []string{"/plain", "/cors", "/logged", "/traced"} {
		b.Run(path[1:], func(b *testing.B) {
			hammer(b, url+path, http.Header{"Origin": {"https://app.example"}})
		})
	}
}

// hammer sends GET url with header from parallel keep-alive clients, b.N
// times in all, and fails on anything but 200.
func hammer(b *testing.B, url string, header http.Header) {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest("GET", url, nil)
			if header != nil {
				req.Header = header.Clone()
			}
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkOutboundCall measures a handler that calls a local origin and
// answers what it said (the caller guest's /fetch), against a native
// handler making the same call with net/http: what a call costs beyond
// the request, with an origin that answers at once.
func BenchmarkOutboundCall(b *testing.B) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "origin says hi") }))
	b.Cleanup(origin.Close)
	native := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	}))
	b.Cleanup(native.Close)
	env := testenv.Start(b, testenv.ControlPlaneConfig(b.TempDir(), "127.0.0.1:0"))
	cfg := env.WorkerConfig()
	cfg.Worker.OutboundPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	w := testenv.StartWorker(b, cfg)
	env.Upload(b, "caller", guests.Caller)
	if _, _, err := env.Publisher.SetRoute(context.Background(), client.Route{PathPrefix: "/", Module: "caller",
		Options: &registryv1.RouteOptions{Outbound: &registryv1.OutboundPolicy{Allow: []string{origin.URL}}}}); err != nil {
		b.Fatal(err)
	}
	path := "/fetch?url=" + url.QueryEscape(origin.URL+"/")
	poll.Eventually(b, 3*time.Minute, func() error {
		resp, err := http.Get(w.URL() + path)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return nil
	})
	for _, bc := range []struct{ name, url string }{{"native", native.URL}, {"worker", w.URL()}} {
		b.Run(bc.name, func(b *testing.B) { hammer(b, bc.url+path, nil) })
	}
}
