package dataplane_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testenv"
	"github.com/nanoedge/nanoedge/internal/testutil"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
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

func (f *flaky) Watch(ctx context.Context, start int64, fn func([]*registryv1.Event, int64) error) error {
	if f.down.Load() {
		return errors.New("flaky: network down")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { // cut an open stream when the network goes down
		for !f.down.Load() && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	err := f.Client.Watch(ctx, start, fn)
	if errors.Is(err, client.ErrCompacted) {
		f.compacted.Add(1)
	}
	return err
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
	env.Upload(t, "hello", wasmtest.Hello)
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
	testutil.Eventually(t, time.Minute, func() error {
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
