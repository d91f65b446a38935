package systemtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// BenchmarkWorkerRestart: a worker restarted with N routed Go modules
// (NANOEDGE_BENCH_MODULES, default 100: the hello module with a custom
// section telling each apart, so each compiles on its own) and its disk
// compilation cache: the time from start until every route answers. The
// first start, which compiles them all, is not timed.
// NANOEDGE_BENCH_PREINIT=1 pre-initializes the modules.
func BenchmarkWorkerRestart(b *testing.B) {
	n := 100
	if v, err := strconv.Atoi(os.Getenv("NANOEDGE_BENCH_MODULES")); err == nil && v > 0 {
		n = v
	}
	env := testenv.Start(b, testenv.ControlPlaneConfig(b.TempDir(), "127.0.0.1:0"))
	hello := guests.Build(b, guests.Hello)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	for i := range n {
		name := fmt.Sprintf("m%03d", i)
		if _, err := env.Publisher.Upload(ctx, name, withCustomSection(hello, name), client.WithSigner(env.Key)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/" + name + "/", Module: name}); err != nil {
			b.Fatal(err)
		}
	}
	wcfg := env.WorkerConfig()
	wcfg.Engine.CacheDir = b.TempDir()
	wcfg.Engine.PreInitialize = os.Getenv("NANOEDGE_BENCH_PREINIT") == "1"
	wcfg.Worker.Prewarm = false
	serveAll := func(within time.Duration) time.Duration {
		start := time.Now()
		w := testenv.StartWorker(b, wcfg)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				url := fmt.Sprintf("%s/m%03d/", w.URL(), i)
				poll.Eventually(b, within, func() error {
					if r := get(b, url); r.status != 200 {
						return fmt.Errorf("GET %s: %d %q", url, r.status, r.body)
					}
					return nil
				})
			}()
		}
		wg.Wait()
		took := time.Since(start)
		w.Close()
		return took
	}
	b.Logf("first start, compiling %d modules: %v", n, serveAll(30*time.Minute).Round(time.Millisecond))
	var total time.Duration
	for b.Loop() {
		total += serveAll(loadTimeout)
	}
	b.ReportMetric(total.Seconds()/float64(b.N), "s/restart")
}

// withCustomSection is wasm with a custom section named name appended:
// the same code under another digest.
func withCustomSection(wasm []byte, name string) []byte {
	payload := append(append([]byte{byte(len(name))}, name...), "variant"...)
	out := append([]byte(nil), wasm...)
	out = append(out, 0, byte(len(payload)))
	return append(out, payload...)
}
