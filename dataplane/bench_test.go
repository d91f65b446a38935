package dataplane_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
	"github.com/nanoedge/nanoedge/examples/hello/greet"
	"github.com/nanoedge/nanoedge/internal/testenv"
	"github.com/nanoedge/nanoedge/internal/testutil"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
	"github.com/nanoedge/nanoedge/sdk/client"
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
		b.Run(bc.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := c.Get(bc.url + "/hello")
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
		})
	}
}

// BenchmarkInstantiate measures creating and initializing one instance of
// the hello module (a Go reactor) from compiled code.
func BenchmarkInstantiate(b *testing.B) {
	ctx := context.Background()
	cfg := wazeroengine.DefaultConfig()
	cfg.CacheDir = wasmtest.CacheDir()
	eng, err := wazeroengine.New(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close(ctx)
	m, err := eng.Compile(ctx, wasmtest.Build(b, wasmtest.Hello))
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
	w := testenv.StartWorker(b, env.WorkerConfig())
	env.Upload(b, "hello", wasmtest.Hello)
	if _, _, err := env.Publisher.SetRoute(context.Background(), client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		b.Fatal(err)
	}
	testutil.Eventually(b, 3*time.Minute, func() error {
		resp, err := http.Get(w.URL() + "/hello")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET /hello: %s", resp.Status)
		}
		return nil
	})
	return w.URL()
}
