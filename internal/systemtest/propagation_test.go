package systemtest

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/server"
)

// TestRoutePropagation measures how long a route change takes to be live
// on every one of 20 workers watching one control plane.
func TestRoutePropagation(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 20 workers")
	}
	env := startEnv(t)
	env.Upload(t, "hello", guests.Hello)
	env.Upload(t, "echo", guests.Echo)
	ctx := ctxT(t)
	for path, mod := range map[string]string{"/p/": "hello", "/warm/": "echo"} {
		if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: path, Module: mod}); err != nil {
			t.Fatal(err)
		}
	}
	// One worker first fills the shared compilation cache, so the other 19
	// load from it instead of compiling the same modules at once.
	workers := make([]*server.Worker, 20)
	for i := range workers {
		workers[i] = testenv.StartWorker(t, env.WorkerConfig())
		if i == 0 || i == len(workers)-1 {
			for _, w := range workers[:i+1] { // every worker has both modules compiled
				waitServed(t, w.URL()+"/p/", func(r response) bool { return r.status == 200 })
				waitServed(t, w.URL()+"/warm/", func(r response) bool { return r.status == 200 })
			}
		}
	}

	// live waits until every worker serves revision rev, adding how long
	// each took since start to all.
	var all []time.Duration
	var mu sync.Mutex
	live := func(start time.Time, rev int64) {
		var wg sync.WaitGroup
		for _, w := range workers {
			wg.Add(1)
			go func(w *server.Worker) {
				defer wg.Done()
				poll.Eventually(t, 10*time.Second, func() error {
					if w.Revision() < rev {
						return fmt.Errorf("worker at %d, want %d", w.Revision(), rev)
					}
					return nil
				})
				mu.Lock()
				all = append(all, time.Since(start))
				mu.Unlock()
			}(w)
		}
		wg.Wait()
	}
	for round := 0; round < 5; round++ {
		mod := []string{"echo", "hello"}[round%2]
		start := time.Now()
		_, rev, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/p/", Module: mod})
		if err != nil {
			t.Fatal(err)
		}
		live(start, rev)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	p50, p99 := all[len(all)/2], all[len(all)*99/100]
	t.Logf("route change live on 20 workers: p50 %v, p99 %v (%d samples)", p50.Round(time.Millisecond), p99.Round(time.Millisecond), len(all))
	if p99 > 2*time.Second {
		t.Fatalf("p99 propagation %v", p99)
	}

	// A store write: live when every worker has published it to the state
	// its handlers read.
	all = nil
	for round := 0; round < 5; round++ {
		start := time.Now()
		resp, err := env.Publisher.WriteEntries(ctx, "edge", []*registryv1.KVEntry{{Key: "/k", Value: []byte(strconv.Itoa(round))}}, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		live(start, resp.Revision)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	p50, p99 = all[len(all)/2], all[len(all)*99/100]
	t.Logf("store write live on 20 workers: p50 %v, p99 %v (%d samples)", p50.Round(time.Millisecond), p99.Round(time.Millisecond), len(all))
	if p99 > 2*time.Second {
		t.Fatalf("p99 store propagation %v", p99)
	}

	// A variable: live when every worker gives new instances of the
	// module the new environment.
	all = nil
	for round := 0; round < 5; round++ {
		start := time.Now()
		_, rev, err := env.Publisher.SetConfig(ctx, "echo", client.ConfigChange{SetVars: map[string]string{"ROUND": strconv.Itoa(round)}})
		if err != nil {
			t.Fatal(err)
		}
		live(start, rev)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	p50, p99 = all[len(all)/2], all[len(all)*99/100]
	t.Logf("configuration change live on 20 workers: p50 %v, p99 %v (%d samples)", p50.Round(time.Millisecond), p99.Round(time.Millisecond), len(all))
	if p99 > 2*time.Second {
		t.Fatalf("p99 configuration propagation %v", p99)
	}
	for _, w := range workers[:2] {
		if got := get(t, w.URL()+"/warm/x?env=ROUND").header.Get("X-Echo-Env-ROUND"); got != "4" {
			t.Fatalf("%s: ROUND reads %q after the last change, want 4", w.URL(), got)
		}
	}
}
