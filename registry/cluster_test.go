package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// faultNet connects the Raft layers of a test cluster and can cut chosen
// pairs of nodes apart. Every Raft exchange rides a connection one side
// dialed, so refusing dials and closing dialed connections across the cut
// isolates the two sides completely.
type faultNet struct {
	mu      sync.Mutex
	blocked map[[2]string]bool
	conns   map[[2]string][]net.Conn
}

func newFaultNet() *faultNet {
	return &faultNet{blocked: map[[2]string]bool{}, conns: map[[2]string][]net.Conn{}}
}

func (n *faultNet) layer(inner raft.StreamLayer) raft.StreamLayer {
	return &faultLayer{n: n, StreamLayer: inner}
}

// partition cuts every node in a from every node in b (by Raft address).
func (n *faultNet) partition(a, b []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, x := range a {
		for _, y := range b {
			for _, pair := range [][2]string{{x, y}, {y, x}} {
				n.blocked[pair] = true
				for _, c := range n.conns[pair] {
					c.Close()
				}
				delete(n.conns, pair)
			}
		}
	}
}

func (n *faultNet) heal() {
	n.mu.Lock()
	n.blocked = map[[2]string]bool{}
	n.mu.Unlock()
}

type faultLayer struct {
	raft.StreamLayer
	n *faultNet
}

func (l *faultLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	pair := [2]string{l.Addr().String(), string(addr)}
	l.n.mu.Lock()
	blocked := l.n.blocked[pair]
	l.n.mu.Unlock()
	if blocked {
		return nil, fmt.Errorf("faultnet: %s cannot reach %s", pair[0], pair[1])
	}
	c, err := l.StreamLayer.Dial(addr, timeout)
	if err != nil {
		return nil, err
	}
	// A partition may have been cut while this dial was in flight.
	l.n.mu.Lock()
	defer l.n.mu.Unlock()
	if l.n.blocked[pair] {
		c.Close()
		return nil, fmt.Errorf("faultnet: %s cannot reach %s", pair[0], pair[1])
	}
	l.n.conns[pair] = append(l.n.conns[pair], c)
	return c, nil
}

// newCluster starts n nodes on loopback, node 0 bootstrapping, the others
// added as voters.
func newCluster(t testing.TB, n int, fn *faultNet) []*Store {
	return newClusterWith(t, n, func(_ int, cfg *Config) {
		if fn != nil {
			cfg.Layer = fn.layer
		}
	})
}

// newClusterWith is newCluster with each node's configuration amended by
// tweak (node i is named n<i+1>).
func newClusterWith(t testing.TB, n int, tweak func(i int, cfg *Config)) []*Store {
	t.Helper()
	var stores []*Store
	for i := 0; i < n; i++ {
		cfg := testConfig(t.TempDir())
		cfg.NodeID = fmt.Sprintf("n%d", i+1)
		cfg.HeartbeatTimeout, cfg.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond
		cfg.Bootstrap = i == 0
		tweak(i, &cfg)
		s, err := Open(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores = append(stores, s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := stores[0].WaitLeader(ctx); err != nil {
		t.Fatal(err)
	}
	for _, s := range stores[1:] {
		if err := stores[0].AddVoter(ctx, s.NodeID(), s.RaftAddr(), ""); err != nil {
			t.Fatal(err)
		}
	}
	return stores
}

func leaderIn(t *testing.T, stores []*Store) *Store {
	t.Helper()
	var l *Store
	poll.Eventually(t, 10*time.Second, func() error {
		for _, s := range stores {
			if s.IsLeader() {
				l = s
				return nil
			}
		}
		return errors.New("no leader")
	})
	return l
}

// stateHash digests everything the state machine holds but the applied index.
func stateHash(t *testing.T, s *Store) string {
	sum := sha256.Sum256([]byte(dump(t, s.fsm)))
	return fmt.Sprintf("%x", sum[:8])
}

func waitConverged(t *testing.T, stores []*Store) {
	t.Helper()
	poll.Eventually(t, 20*time.Second, func() error {
		h := stateHash(t, stores[0])
		for _, s := range stores[1:] {
			if got := stateHash(t, s); got != h || s.Revision() != stores[0].Revision() {
				return fmt.Errorf("%s at revision %d hash %s, %s at %d hash %s", stores[0].NodeID(), stores[0].Revision(), h, s.NodeID(), s.Revision(), got)
			}
		}
		return nil
	})
}

// TestPartition isolates the leader: the minority side refuses writes and
// linearizable reads, the majority elects a leader and keeps writing, and
// after healing every node holds the same state. A watcher on a majority
// follower sees every write exactly once, in order, across the change of
// leader.
func TestPartition(t *testing.T) {
	fn := newFaultNet()
	stores := newCluster(t, 3, fn)
	old := leaderIn(t, stores)
	mod := mustPut(t, old, "m", fakeWasm("m"))
	var rest []*Store
	for _, s := range stores {
		if s != old {
			rest = append(rest, s)
		}
	}
	watcher := rest[1]
	seen := make(chan *registryv1.Event, 1000)
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go watcher.Watch(wctx, watcher.Revision()+1, func(events []*registryv1.Event, _ int64) error {
		for _, e := range events {
			seen <- e
		}
		return nil
	})

	var acked []int64
	write := func(s *Store, path string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, rev, err := s.SetRoute(ctx, "", path, mod.Digest, nil)
		if err == nil {
			acked = append(acked, rev)
		}
		return err
	}
	if err := write(old, "/before"); err != nil {
		t.Fatal(err)
	}

	fn.partition([]string{old.RaftAddr()}, []string{rest[0].RaftAddr(), rest[1].RaftAddr()})
	newLeader := leaderIn(t, rest)
	if err := write(old, "/minority"); err == nil {
		t.Fatal("the isolated old leader accepted a write")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	if err := old.LinearizableRead(ctx); err == nil {
		t.Fatal("the isolated old leader served a linearizable read")
	}
	cancel()
	for i := 0; i < 5; i++ {
		if err := write(newLeader, fmt.Sprintf("/majority/%d", i)); err != nil {
			t.Fatalf("majority write: %v", err)
		}
	}
	if err := newLeader.LinearizableRead(context.Background()); err != nil {
		t.Fatalf("majority linearizable read: %v", err)
	}

	fn.heal()
	waitConverged(t, stores)
	routes, _, _ := old.ListRoutes()
	for _, r := range routes {
		if r.PathPrefix == "/minority" {
			t.Fatal("a write refused by the minority appeared after healing")
		}
	}

	// The watcher saw each acknowledged write once, in order, nothing else.
	var got []int64
	timeout := time.After(10 * time.Second)
	for len(got) < len(acked) {
		select {
		case e := <-seen:
			if e.GetRoute() != nil {
				got = append(got, e.Revision)
			}
		case <-timeout:
			t.Fatalf("watcher saw %v, want %v", got, acked)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(acked) {
		t.Fatalf("watcher saw %v, want exactly %v", got, acked)
	}
}

// TestCatchUpBySnapshot: a node down while the others wrote more than
// TrailingLogs entries catches up through a snapshot install.
func TestCatchUpBySnapshot(t *testing.T) {
	fn := newFaultNet()
	stores := newCluster(t, 3, fn)
	leader := leaderIn(t, stores)
	var lagging *Store
	for _, s := range stores {
		if s != leader {
			lagging = s
			break
		}
	}
	// Both healthy nodes keep short logs: when the partition heals, the
	// lagging node's higher term can move leadership to either of them.
	var others []string
	var healthy []*Store
	for _, s := range stores {
		if s == lagging {
			continue
		}
		others = append(others, s.RaftAddr())
		healthy = append(healthy, s)
		cfg := s.raft.ReloadableConfig()
		cfg.TrailingLogs, cfg.SnapshotThreshold, cfg.SnapshotInterval = 10, 20, 50*time.Millisecond
		if err := s.raft.ReloadConfig(cfg); err != nil {
			t.Fatal(err)
		}
	}
	fn.partition([]string{lagging.RaftAddr()}, others)
	mod := mustPut(t, leader, "m", fakeWasm("m"))
	for i := 0; i < 60; i++ {
		if _, _, err := leader.SetRoute(context.Background(), "", fmt.Sprintf("/r/%d", i), mod.Digest, nil); err != nil {
			t.Fatal(err)
		}
	}
	// Make sure the entries the lagging node misses are gone from the
	// leader's log, so only a snapshot can bring it up to date.
	laggingLast, _ := lagging.logStore.LastIndex()
	poll.Eventually(t, 10*time.Second, func() error {
		for _, s := range healthy {
			if err := s.raft.Snapshot().Error(); err != nil && !errors.Is(err, raft.ErrNothingNewToSnapshot) {
				return err
			}
			if first, _ := s.logStore.FirstIndex(); first <= laggingLast+1 {
				return fmt.Errorf("%s still has entries from %d; lagging node is at %d", s.RaftAddr(), first, laggingLast)
			}
		}
		return nil
	})
	fn.heal()
	waitConverged(t, stores)
	if routes, _, _ := lagging.ListRoutes(); len(routes) != 60 {
		t.Fatalf("lagging node has %d routes, want 60", len(routes))
	}
	// Raft records the installed snapshot just after the FSM restore that
	// waitConverged observed.
	poll.Eventually(t, 5*time.Second, func() error {
		if idx := lagging.raft.Stats()["last_snapshot_index"]; idx == "0" {
			return errors.New("the lagging node caught up without installing a snapshot")
		}
		return nil
	})
}

// TestRecoverFromOneDataDir: every node is lost but one data dir (copied,
// as from a backup); a node started from the copy with Recover leads a
// one-node cluster holding everything, and accepts writes.
func TestRecoverFromOneDataDir(t *testing.T) {
	stores := newCluster(t, 3, nil)
	leader := leaderIn(t, stores)
	mod := mustPut(t, leader, "m", fakeWasm("m"))
	for i := 0; i < 10; i++ {
		if _, _, err := leader.SetRoute(context.Background(), "", fmt.Sprintf("/r/%d", i), mod.Digest, nil); err != nil {
			t.Fatal(err)
		}
	}
	waitConverged(t, stores)
	want := stateHash(t, stores[1])
	src := stores[1].cfg.DataDir
	for _, s := range stores {
		s.Close()
	}
	dir := t.TempDir()
	copyDir(t, src, dir)

	cfg := testConfig(dir)
	cfg.NodeID, cfg.Bootstrap, cfg.Recover = "restored", false, true
	s := mustOpenStore(t, cfg)
	if got := stateHash(t, s); got != want {
		t.Fatalf("recovered state %s, want %s", got, want)
	}
	if _, _, err := s.SetRoute(context.Background(), "", "/after", mod.Digest, nil); err != nil {
		t.Fatalf("write after recovery: %v", err)
	}
	members, _ := s.Members()
	if len(members) != 1 || members[0].ID != "restored" {
		t.Fatalf("exp a one-node cluster, got %v", members)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
