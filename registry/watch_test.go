package registry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/history"
)

func removeFile(dir, name string) error { return os.Remove(filepath.Join(dir, name)) }

// applyRaw appends arbitrary bytes to the log, as a buggy or hostile leader might.
func (s *Store) applyRaw(ctx context.Context, data []byte) (*applyResult, error) {
	f := s.raft.Apply(data, time.Second)
	if err := f.Error(); err != nil {
		return nil, err
	}
	res := f.Response().(*applyResult)
	return res, res.err
}

// collect watches from start until it has n events or the timeout passes.
func collect(t *testing.T, s *Store, start int64, n int) []*registryv1.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []*registryv1.Event
	errDone := errors.New("done")
	err := s.Watch(ctx, start, func(evs []*registryv1.Event, _ int64) error {
		got = append(got, evs...)
		if len(got) >= n {
			return errDone
		}
		return nil
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("watch from %d: got %d of %d events: %v", start, len(got), n, err)
	}
	return got
}

func TestWatchReplaysAndFollowsInOrder(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	m := mustPut(t, s, "hello", fakeWasm("x"))
	first := m.CreateRevision

	// A live watcher started now must see writes made after it starts.
	live := make(chan []*registryv1.Event, 1)
	start := s.Revision() + 1
	go func() { live <- collect(t, s, start, 3) }()
	for i := range 3 {
		if _, _, err := s.SetRoute(ctx, "", fmt.Sprintf("/r%d", i), "hello", nil); err != nil {
			t.Fatal(err)
		}
	}
	liveEvents := <-live

	all := collect(t, s, first, 4)
	if all[0].GetModule().GetDigest() != m.Digest {
		t.Fatalf("exp module event first, got %v", all[0])
	}
	for i, e := range all[1:] {
		if e.GetRoute().GetPathPrefix() != fmt.Sprintf("/r%d", i) || e.Type != registryv1.EventType_EVENT_TYPE_PUT {
			t.Fatalf("event %d: %v", i, e)
		}
		if e.Revision <= all[i].Revision {
			t.Fatalf("revisions not increasing: %d then %d", all[i].Revision, e.Revision)
		}
	}
	for i, e := range liveEvents {
		if e.Revision != all[i+1].Revision {
			t.Fatalf("live watcher event %d at rev %d, replay has %d", i, e.Revision, all[i+1].Revision)
		}
	}
	// Resuming from the middle delivers exactly the rest.
	rest := collect(t, s, all[2].Revision, 2)
	if rest[0].Revision != all[2].Revision || rest[1].Revision != all[3].Revision {
		t.Fatalf("resume: %v", rest)
	}
}

func TestWatchFromZeroSkipsHistory(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	m := mustPut(t, s, "hello", fakeWasm("x"))
	got := make(chan *registryv1.Event, 1)
	go func() { got <- collect(t, s, 0, 1)[0] }()
	// The watcher picks "now" when it starts; keep writing until it sees one.
	for i := 0; ; i++ {
		if _, _, err := s.SetRoute(ctx, "", fmt.Sprintf("/p%d", i), "hello", nil); err != nil {
			t.Fatal(err)
		}
		select {
		case e := <-got:
			if e.Revision <= m.CreateRevision || e.GetRoute() == nil {
				t.Fatalf("watch from 0 delivered history: %v", e)
			}
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func TestWatchCompacted(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.HistoryLimit = 3
	s := mustOpenStore(t, cfg)
	ctx := context.Background()
	m := mustPut(t, s, "hello", fakeWasm("x"))
	var revs []int64
	for i := range 5 {
		_, rev, err := s.SetRoute(ctx, "", fmt.Sprintf("/r%d", i), "hello", nil)
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	err := s.Watch(ctx, m.CreateRevision, func([]*registryv1.Event, int64) error { return nil })
	var ce *history.CompactedError
	if !errors.As(err, &ce) || !errors.Is(err, history.ErrCompacted) {
		t.Fatalf("exp CompactedError, got %v", err)
	}
	if ce.CompactRevision != revs[1] {
		t.Fatalf("exp compact revision %d, got %d", revs[1], ce.CompactRevision)
	}
	// The retained tail is still served.
	got := collect(t, s, ce.CompactRevision+1, 3)
	if got[0].Revision != revs[2] || got[2].Revision != revs[4] {
		t.Fatalf("exp revisions %v, got %d..%d", revs[2:], got[0].Revision, got[2].Revision)
	}
}

func TestWatchEndsOnClose(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(context.Background(), 0, func([]*registryv1.Event, int64) error { return nil })
	}()
	s.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("exp ErrClosed, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not end when the store closed")
	}
}
