package registry

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// TestRequestIDAppliesOnce: a write retried with its request id applies
// once and answers what the first try left; the same id from another
// actor, or no id, is a new write.
func TestRequestIDAppliesOnce(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := mustPut(t, s, "a", fakeWasm("a")), mustPut(t, s, "b", fakeWasm("b"))
	ci := WithRequestID(WithActor(ctx, "ci"), "req-1")
	r1, rev1, err := s.SetRoute(ci, "", "/x", a.Digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	r2, rev2, err := s.SetRoute(ci, "", "/x", b.Digest, nil) // a retry, say with a stale body
	if err != nil || rev2 != rev1 || r2.ModuleDigest != a.Digest || r2.ModRevision != r1.ModRevision {
		t.Fatalf("retry: exp the first write's route at revision %d, got %v at %d, %v", rev1, r2, rev2, err)
	}
	if _, rev, _ := s.SetRoute(WithRequestID(WithActor(ctx, "other"), "req-1"), "", "/x", b.Digest, nil); rev == rev1 {
		t.Fatal("another actor's request with the same id was taken for a retry")
	}
	if _, rev, _ := s.SetRoute(WithActor(ctx, "ci"), "", "/y", b.Digest, nil); rev == rev1 {
		t.Fatal("a write without a request id was taken for a retry")
	}
}

// TestRequestIDsExpire: ids are kept for requestTTL by the commands' own
// clock, then a write with the same id applies again.
func TestRequestIDsExpire(t *testing.T) {
	f, err := openFSM(t.TempDir()+"/state.db", 100)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	t0 := time.Unix(1_800_000_000, 0)
	flag := func(index uint64, id string, at time.Time, on bool) *applyResult {
		data, _ := proto.Marshal(&raftlogv1.Command{Actor: "ci", RequestId: id, Time: timestamppb.New(at),
			Op: &raftlogv1.Command_PutFlag{PutFlag: &raftlogv1.PutFlagCommand{Flag: &registryv1.Flag{Name: "f", Enabled: on}}}})
		return f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(*applyResult)
	}
	if r := flag(1, "r", t0, true); r.duplicate || r.err != nil {
		t.Fatalf("first: %+v", r)
	}
	if r := flag(2, "r", t0.Add(time.Minute), false); !r.duplicate || r.revision != 1 {
		t.Fatalf("within the hour: exp a duplicate of revision 1, got %+v", r)
	}
	flag(3, "other", t0.Add(2*time.Hour), true) // its apply forgets ids older than an hour
	if r := flag(4, "r", t0.Add(2*time.Hour), false); r.duplicate || r.err != nil {
		t.Fatalf("after the hour: exp a new write, got %+v", r)
	}
}

// TestRollbackIsCompareAndSet: a rollback writes only if the route is
// still what it read; a route changed in between is a conflict and stays
// as it is.
func TestRollbackIsCompareAndSet(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	a, b := mustPut(t, s, "a", fakeWasm("a")), mustPut(t, s, "b", fakeWasm("b"))
	s.SetRoute(ctx, "", "/x", a.Digest, nil)
	read, _, _ := s.SetRoute(ctx, "", "/x", b.Digest, nil)
	s.SetRoute(ctx, "", "/x", a.Digest, nil) // a change after the read
	_, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutRoute{PutRoute: &raftlogv1.PutRouteCommand{Route: read.Previous, ExpectModRevision: read.ModRevision}}})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("exp ErrConflict, got %v", err)
	}
	if r, _ := s.Route("", "/x"); r.ModuleDigest != a.Digest || r.Previous.GetModuleDigest() != b.Digest {
		t.Fatalf("the conflicting write changed the route: %v", r)
	}
}

// TestIsolatedLeaderWriteIsUncertainAndRetriesOnce: a write to a leader
// cut off from its followers is reported as of unknown outcome, not as
// refused; retried with its request id once the cluster heals, it is
// applied exactly once.
func TestIsolatedLeaderWriteIsUncertainAndRetriesOnce(t *testing.T) {
	fn := newFaultNet()
	stores := newCluster(t, 3, fn)
	old := leaderIn(t, stores)
	mod := mustPut(t, old, "m", fakeWasm("m"))
	waitConverged(t, stores)
	var rest []string
	for _, s := range stores {
		if s != old {
			rest = append(rest, s.RaftAddr())
		}
	}
	fn.partition([]string{old.RaftAddr()}, rest)
	ctx := WithRequestID(WithActor(context.Background(), "ci"), "req-isolated")
	wctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	_, _, err := old.SetRoute(wctx, "", "/once", mod.Digest, nil)
	cancel()
	if !errors.Is(err, ErrUncertain) {
		t.Fatalf("a write on a cut-off leader: exp ErrUncertain, got %v", err)
	}
	fn.heal()
	poll.Eventually(t, 20*time.Second, func() error {
		l := leaderIn(t, stores)
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		_, _, err := l.SetRoute(rctx, "", "/once", mod.Digest, nil)
		return err
	})
	waitConverged(t, stores)
	entries, err := stores[0].ListAudit(0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Action == "put_route" && strings.Contains(e.Detail, "/once") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("the write applied %d times", n)
	}
}
