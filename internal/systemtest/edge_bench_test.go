package systemtest

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// storeEnv is a control plane with the echo guest on /e/, linked to the
// store "bench".
func storeEnv(b *testing.B, puts []*registryv1.KVEntry) (*testenv.Env, int64) {
	b.Helper()
	env := testenv.Start(b, testenv.ControlPlaneConfig(b.TempDir(), "127.0.0.1:0"))
	env.Upload(b, "echo", guests.Echo)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	resp, err := env.Publisher.WriteEntries(ctx, "bench", puts, nil, false)
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := env.Publisher.SetConfig(ctx, "echo", client.ConfigChange{LinkStores: []string{"bench"}}); err != nil {
		b.Fatal(err)
	}
	_, rev, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/e/", Module: "echo"})
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("store: %d keys, %d bytes", resp.Store.Keys, resp.Store.Bytes)
	return env, rev
}

// BenchmarkStoreReadInHandler: a handler reading a 100-byte value from a
// store, timed inside the handler over 10000 reads a request.
func BenchmarkStoreReadInHandler(b *testing.B) {
	env, _ := storeEnv(b, []*registryv1.KVEntry{{Key: "/k", Value: make([]byte, 100)}})
	w := testenv.StartWorker(b, env.WorkerConfig())
	waitServed(b, w.URL()+"/e/x", func(r response) bool { return r.status == 200 })
	var total float64
	for b.Loop() {
		r := get(b, w.URL()+"/e/x?kvbench=bench//k&n=10000")
		ns, err := strconv.ParseFloat(r.header.Get("X-Echo-Kv-Ns"), 64)
		if err != nil {
			b.Fatalf("no timing: %d %q %v", r.status, r.body, r.header)
		}
		total += ns
	}
	b.ReportMetric(total/float64(b.N), "ns/read")
}

// BenchmarkFreshWorkerLoadsStore: a fresh worker syncing with a registry
// that holds a 50 MiB store (400000 keys of 11 bytes, values of 120): the
// time until its handlers serve the store's last key, and the heap it
// keeps.
func BenchmarkFreshWorkerLoadsStore(b *testing.B) {
	var puts []*registryv1.KVEntry
	for i := range 400_000 {
		v := []byte(fmt.Sprintf("value-%d-", i))
		v = append(v, strings.Repeat("x", 120-len(v))...)
		puts = append(puts, &registryv1.KVEntry{Key: fmt.Sprintf("key-%07d", i), Value: v})
	}
	env, rev := storeEnv(b, puts)
	puts = nil
	var seconds, heap float64
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		start := time.Now()
		w := testenv.StartWorker(b, env.WorkerConfig())
		poll.Eventually(b, 5*time.Minute, func() error {
			if w.Revision() < rev {
				return fmt.Errorf("worker at revision %d, want %d", w.Revision(), rev)
			}
			return nil
		})
		waitServed(b, w.URL()+"/e/x?kv=bench/key-0399999", func(r response) bool {
			return strings.HasPrefix(r.header.Get("X-Echo-Kv"), "value-399999-")
		})
		seconds += time.Since(start).Seconds()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap += float64(after.HeapAlloc-before.HeapAlloc) / (1 << 20)
		w.Close()
	}
	b.ReportMetric(seconds/float64(b.N), "s/load")
	b.ReportMetric(heap/float64(b.N), "MiB-heap/worker")
}
