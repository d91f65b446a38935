package dataplane_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// flaky cuts a worker's watch on demand, as a network partition would, and
// counts the compaction errors the worker runs into.
type flaky struct {
	*client.Client
	down      atomic.Bool
	compacted atomic.Int32
}

func (f *flaky) Watch(ctx context.Context, start int64) <-chan client.WatchResponse {
	out := make(chan client.WatchResponse)
	go func() {
		defer close(out)
		send := func(r client.WatchResponse) {
			select {
			case out <- r:
			case <-ctx.Done():
			}
		}
		if f.down.Load() {
			send(client.WatchResponse{Err: errors.New("flaky: network down")})
			return
		}
		wctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() { // cut an open stream when the network goes down
			for !f.down.Load() && wctx.Err() == nil {
				time.Sleep(5 * time.Millisecond)
			}
			cancel()
		}()
		for r := range f.Client.Watch(wctx, start) {
			if errors.Is(r.Err, client.ErrCompacted) {
				f.compacted.Add(1)
			}
			send(r)
		}
		if ctx.Err() == nil {
			send(client.WatchResponse{Err: errors.New("flaky: network down")})
		}
	}()
	return out
}

// TestWorkerResyncsAfterCompaction: while a worker is cut off, more changes
// happen than the registry keeps history for; on reconnecting the worker is
// told its revision was compacted, lists again, and ends up serving exactly
// the registry's routes.
func TestWorkerResyncsAfterCompaction(t *testing.T) {
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.Registry.HistoryLimit = 5
	env := testenv.Start(t, cfg)
	ctx := context.Background()
	env.Upload(t, "hello", guests.Hello)
	pub := env.Publisher
	for i := 0; i < 3; i++ {
		if _, _, err := pub.SetRoute(ctx, client.Route{PathPrefix: fmt.Sprintf("/old/%d", i), Module: "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	reg := &flaky{Client: testenv.NewClient(t, env.CP.Addr(), env.WorkerToken)}
	w, url := startWorker(t, reg)
	waitBody(t, url+"/old/2", "Hello")

	reg.down.Store(true)
	for i := 0; i < 3; i++ {
		if _, err := pub.DeleteRoute(ctx, "", fmt.Sprintf("/old/%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 10; i++ {
		if _, _, err := pub.SetRoute(ctx, client.Route{PathPrefix: fmt.Sprintf("/new/%d", i), Module: "hello"}); err != nil {
			t.Fatal(err)
		}
	}
	reg.down.Store(false)

	routes, rev, err := pub.ListRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range routes {
		want = append(want, r.PathPrefix)
	}
	poll.Eventually(t, time.Minute, func() error {
		st := w.Status()
		var got []string
		for _, r := range st.Routes {
			got = append(got, r.PathPrefix)
		}
		sort.Strings(got)
		if st.Revision < rev || strings.Join(got, " ") != strings.Join(want, " ") {
			return fmt.Errorf("worker at %d serves %v, registry at %d has %v", st.Revision, got, rev, want)
		}
		return nil
	})
	if reg.compacted.Load() == 0 {
		t.Fatal("the worker never hit a compacted revision; the test did not exercise resync")
	}
	waitBody(t, url+"/new/9", "Hello")
}

// lagging fails a worker's first fetches of each module with NotFound, as
// a node that has not yet applied an upload would.
type lagging struct {
	*client.Client
	misses atomic.Int32
}

func (l *lagging) FetchModule(ctx context.Context, digest string) (*registryv1.Module, []byte, error) {
	if l.misses.Add(1) <= 2 {
		return nil, nil, fmt.Errorf("lagging: module %s not found", digest)
	}
	return l.Client.FetchModule(ctx, digest)
}

// TestWorkerRetriesRoutesThatDidNotLoad: a route whose module cannot be
// fetched at first is served once the fetch works, with no further change
// in the registry to prompt the worker.
func TestWorkerRetriesRoutesThatDidNotLoad(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	ctx := context.Background()
	env.Upload(t, "hello", guests.Hello)
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/late", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	reg := &lagging{Client: testenv.NewClient(t, env.CP.Addr(), env.WorkerToken)}
	start := time.Now()
	_, url := startWorker(t, reg)
	waitBody(t, url+"/late", "Hello")
	// Two failed tries, 2 s then 4 s apart, and a compile from the cache.
	if d := time.Since(start); d > 40*time.Second {
		t.Fatalf("the route was served %v after the worker started; retries are too slow", d)
	}
	if reg.misses.Load() < 3 {
		t.Fatalf("the worker fetched %d times; the test did not exercise a failed load", reg.misses.Load())
	}
}

// TestWorkerNotReadyWhileItCannotFollow: a worker cut off from the
// registry for longer than StaleAfter keeps serving what it has, but its
// /.nanoedge/healthz answers 503 with the cause, and 200 again once it
// follows.
func TestWorkerNotReadyWhileItCannotFollow(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	env.Upload(t, "hello", guests.Hello)
	if _, _, err := env.Publisher.SetRoute(context.Background(), client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	reg := &flaky{Client: testenv.NewClient(t, env.CP.Addr(), env.WorkerToken)}
	_, url := startWorkerWith(t, reg, func(c *dataplane.Config) { c.StaleAfter = 300 * time.Millisecond })
	waitBody(t, url+"/hello", "Hello")
	health := func() (int, string) {
		resp, err := http.Get(url + "/.nanoedge/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := health(); code != 200 {
		t.Fatalf("a synced worker: %d %q", code, body)
	}
	reg.down.Store(true)
	poll.Eventually(t, 10*time.Second, func() error {
		if code, body := health(); code != 503 || !strings.Contains(body, "cannot follow the registry") || !strings.Contains(body, "network down") {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
	waitBody(t, url+"/hello", "Hello") // what it has, it still serves
	reg.down.Store(false)
	poll.Eventually(t, 10*time.Second, func() error {
		if code, body := health(); code != 200 {
			return fmt.Errorf("%d %q", code, body)
		}
		return nil
	})
}

// silent hands a worker watches that never say anything, as a paused
// node's would, and counts them.
type silent struct {
	*client.Client
	watches atomic.Int32
}

func (s *silent) Watch(ctx context.Context, start int64) <-chan client.WatchResponse {
	s.watches.Add(1)
	out := make(chan client.WatchResponse)
	go func() { <-ctx.Done(); close(out) }()
	return out
}

// TestWorkerLeavesAStalledWatch: a watch on which nothing arrives for
// StallAfter (not even a quiet node's progress) is given up and opened
// again, as on another node; meanwhile the worker keeps serving.
func TestWorkerLeavesAStalledWatch(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	env.Upload(t, "hello", guests.Hello)
	if _, _, err := env.Publisher.SetRoute(context.Background(), client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	reg := &silent{Client: testenv.NewClient(t, env.CP.Addr(), env.WorkerToken)}
	w, url := startWorkerWith(t, reg, func(c *dataplane.Config) { c.StallAfter = 200 * time.Millisecond })
	waitBody(t, url+"/hello", "Hello")
	poll.Eventually(t, 10*time.Second, func() error {
		if n := reg.watches.Load(); n < 3 {
			return fmt.Errorf("%d watches opened", n)
		}
		return nil
	})
	if _, why, stale := w.Stale(); !stale || !strings.Contains(why.Error(), "stalled") {
		t.Fatalf("exp the worker to say its watch stalled, got %v %v", why, stale)
	}
	if err := w.Ready(); err != nil {
		t.Fatalf("a stalled registry is unreachable, not a failure: the worker should keep taking traffic: %v", err)
	}
	waitBody(t, url+"/hello", "Hello")
}

// TestWorkerServesSavedStateInAnOutage: a worker restarted while no
// control plane answers serves the routes and modules it saved, verified
// again, and says it is stale; one with nothing saved answers 503, not
// 404. When the registry answers, the saved state is replaced.
func TestWorkerServesSavedStateInAnOutage(t *testing.T) {
	dataDir := t.TempDir()
	cfg := testenv.ControlPlaneConfig(dataDir, "127.0.0.1:0")
	env := testenv.Start(t, cfg)
	addr := env.CP.Addr()
	env.Upload(t, "hello", guests.Hello)
	if _, _, err := env.Publisher.SetRoute(context.Background(), client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	stateDir := t.TempDir()
	withState := func(c *dataplane.Config) { c.StateDir, c.StallAfter = stateDir, time.Second }
	first, url := startWorkerWith(t, testenv.NewClient(t, addr, env.WorkerToken), withState)
	waitBody(t, url+"/hello", "Hello")
	poll.Eventually(t, 5*time.Second, func() error { // saved within a second of applying
		_, err := os.Stat(filepath.Join(stateDir, "state.json"))
		return err
	})
	_ = first
	env.CP.Close() // the control plane goes away

	w, url := startWorkerWith(t, testenv.NewClient(t, addr, env.WorkerToken), withState)
	waitBody(t, url+"/hello", "Hello")
	resp, err := http.Get(url + "/.nanoedge/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "stale since") {
		t.Fatalf("healthz of a worker serving its saved state: %d %q", resp.StatusCode, body)
	}
	if st := w.Status(); st.StaleSince == nil {
		t.Fatalf("status does not say the worker is stale: %+v", st)
	}

	_, empty := startWorkerWith(t, testenv.NewClient(t, addr, env.WorkerToken), func(c *dataplane.Config) { c.StateDir = t.TempDir() })
	if r, err := http.Get(empty + "/hello"); err != nil || r.StatusCode != 503 {
		t.Fatalf("a worker with nothing to serve: exp 503, got %v %v", r.StatusCode, err)
	}

	// A saved module whose bytes were changed on disk is not run.
	var tampered int
	filepath.WalkDir(filepath.Join(stateDir, "modules"), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			os.WriteFile(p, []byte("\x00asm\x01\x00\x00\x00"), 0o600)
			tampered++
		}
		return nil
	})
	if tampered == 0 {
		t.Fatal("no module was saved")
	}
	_, url3 := startWorkerWith(t, testenv.NewClient(t, addr, env.WorkerToken), withState)
	if r, err := http.Get(url3 + "/hello"); err == nil && r.StatusCode == 200 {
		t.Fatal("a worker ran a module whose saved bytes were tampered with")
	}
}
