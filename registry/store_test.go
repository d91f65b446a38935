package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

func testConfig(dir string) Config {
	cfg := DefaultConfig(dir)
	cfg.RaftAddr = "127.0.0.1:0"
	cfg.HeartbeatTimeout = 50 * time.Millisecond
	cfg.ElectionTimeout = 50 * time.Millisecond
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	return cfg
}

func mustOpenStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitLeader(ctx); err != nil {
		t.Fatalf("wait leader: %v", err)
	}
	return s
}

// fakeWasm is any byte string: the registry stores bytes, it does not judge them.
func fakeWasm(s string) []byte { return []byte("\x00asm\x01\x00\x00\x00" + s) }

func mustPut(t *testing.T, s *Store, name string, wasm []byte) *registryv1.Module {
	t.Helper()
	m, _, _, err := s.PutModule(context.Background(), name, wasm, nil)
	if err != nil {
		t.Fatalf("put module %s: %v", name, err)
	}
	return m
}

func TestPutModuleIsContentAddressed(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	m1, created, rev1, err := s.PutModule(ctx, "hello", fakeWasm("a"), nil)
	if err != nil || !created {
		t.Fatalf("first put: created=%v err=%v", created, err)
	}
	if m1.Digest != digest.Of(fakeWasm("a")) || m1.CreateRevision != rev1 || m1.Size != int64(len(fakeWasm("a"))) {
		t.Fatalf("unexpected module %v at rev %d", m1, rev1)
	}
	m2, created, _, err := s.PutModule(ctx, "hello", fakeWasm("a"), nil)
	if err != nil || created || m2.Digest != m1.Digest {
		t.Fatalf("second put of same bytes: created=%v err=%v module=%v", created, err, m2)
	}
	if got := s.Revision(); got != rev1 {
		t.Fatalf("exp revision unchanged at %d, got %d", rev1, got)
	}
	_, wasm, err := s.ModuleBytes(m1.Digest)
	if err != nil || string(wasm) != string(fakeWasm("a")) {
		t.Fatalf("module bytes: %q %v", wasm, err)
	}
}

func TestResolveModule(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	old := mustPut(t, s, "hello", fakeWasm("v1"))
	newer := mustPut(t, s, "hello", fakeWasm("v2"))
	other := mustPut(t, s, "other", fakeWasm("o"))
	hex := func(m *registryv1.Module) string { return m.Digest[len(digest.Prefix):] }

	tests := []struct {
		ref     string
		want    *registryv1.Module
		wantErr error
	}{
		{"hello", newer, nil},
		{"hello@" + old.Digest, old, nil},
		{"hello@" + hex(old)[:12], old, nil},
		{old.Digest, old, nil},
		{digest.Prefix + hex(other)[:8], other, nil},
		{"other", other, nil},
		{"missing", nil, ErrNotFound},
		{"other@" + old.Digest, nil, ErrNotFound},
		{"hello@abc", nil, ErrInvalid},
		{"hello@zzzzzzzzzz", nil, ErrInvalid},
		{"Bad Name", nil, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := s.ResolveModule(tt.ref)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("exp error %v, got %v", tt.wantErr, err)
			}
			if tt.want != nil && got.Digest != tt.want.Digest {
				t.Fatalf("exp %s, got %s", tt.want.Digest, got.Digest)
			}
		})
	}
}

func TestBadWritesChangeNothing(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.MaxModuleSize = 64
	s := mustOpenStore(t, cfg)
	ctx := context.Background()
	m := mustPut(t, s, "hello", fakeWasm("x"))
	if _, _, err := s.SetRoute(ctx, "", "/hello", "hello", nil); err != nil {
		t.Fatal(err)
	}
	before := snapshotState(t, s)

	tests := []struct {
		name    string
		write   func() error
		wantErr error
	}{
		{"route to unknown module", func() error { _, _, err := s.SetRoute(ctx, "", "/x", "nope", nil); return err }, ErrNotFound},
		{"route to unknown digest", func() error { _, _, err := s.SetRoute(ctx, "", "/x", "sha256:"+m.Digest[7:15]+"0", nil); return err }, ErrNotFound},
		{"route without slash", func() error { _, _, err := s.SetRoute(ctx, "", "x", "hello", nil); return err }, ErrInvalid},
		{"route bad host", func() error { _, _, err := s.SetRoute(ctx, "a b", "/x", "hello", nil); return err }, ErrInvalid},
		{"delete unknown route", func() error { _, err := s.DeleteRoute(ctx, "", "/nope"); return err }, ErrNotFound},
		{"module too large", func() error { _, _, _, err := s.PutModule(ctx, "big", make([]byte, 65), nil); return err }, ErrTooLarge},
		{"module bad name", func() error { _, _, _, err := s.PutModule(ctx, "../etc", fakeWasm("y"), nil); return err }, ErrInvalid},
		{"undecodable command", func() error { _, err := s.applyRaw(ctx, []byte{0xff, 0xff}); return err }, ErrInvalid},
		{"digest mismatch in log", func() error {
			cmd := &raftlogv1.Command{Op: &raftlogv1.Command_PutModule{PutModule: &raftlogv1.PutModuleCommand{
				Module: &registryv1.Module{Name: "evil", Digest: m.Digest}, Wasm: fakeWasm("other bytes")}}}
			_, err := s.apply(ctx, cmd)
			return err
		}, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); !errors.Is(err, tt.wantErr) {
				t.Fatalf("exp %v, got %v", tt.wantErr, err)
			}
			if after := snapshotState(t, s); after != before {
				t.Fatalf("state changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
}

// snapshotState renders modules, routes and revision as a comparable string.
func snapshotState(t *testing.T, s *Store) string {
	t.Helper()
	mods, rev, err := s.ListModules()
	if err != nil {
		t.Fatal(err)
	}
	routes, _, err := s.ListRoutes()
	if err != nil {
		t.Fatal(err)
	}
	var out string
	for _, m := range mods {
		out += m.Name + "=" + m.Digest + ";"
	}
	for _, r := range routes {
		b, _ := proto.Marshal(r)
		out += string(b) + ";"
	}
	return out + "rev=" + time.Duration(rev).String()
}

func TestRestartKeepsState(t *testing.T) {
	cfg := testConfig(t.TempDir())
	s := mustOpenStore(t, cfg)
	ctx := context.Background()
	m := mustPut(t, s, "hello", fakeWasm("x"))
	r, rev, err := s.SetRoute(ctx, "example.com", "/api/", "hello", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.CreateRevision != rev || r.ModRevision != rev {
		t.Fatalf("exp create=mod=%d, got %v", rev, r)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s2 := mustOpenStore(t, cfg)
	routes, rev2, err := s2.ListRoutes()
	if err != nil {
		t.Fatal(err)
	}
	if rev2 != rev || len(routes) != 1 || routes[0].ModuleDigest != m.Digest || routes[0].Host != "example.com" {
		t.Fatalf("after restart: rev %d (exp %d), routes %v", rev2, rev, routes)
	}
	// Writes continue with higher revisions, and create_revision survives an update.
	m2 := mustPut(t, s2, "hello", fakeWasm("y"))
	r2, rev3, err := s2.SetRoute(ctx, "example.com", "/api/", "hello@"+m2.Digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rev3 <= rev || r2.CreateRevision != rev || r2.ModRevision != rev3 {
		t.Fatalf("exp create %d and mod %d > %d, got %v", rev, rev3, rev, r2)
	}
}

func TestSnapshotRestoresIntoFreshNode(t *testing.T) {
	cfg := testConfig(t.TempDir())
	s := mustOpenStore(t, cfg)
	mustPut(t, s, "hello", fakeWasm("x"))
	if _, _, err := s.SetRoute(context.Background(), "", "/", "hello", nil); err != nil {
		t.Fatal(err)
	}
	want := snapshotState(t, s)
	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	s.Close()

	// Lose the state database: the node must rebuild it from the snapshot.
	if err := removeFile(cfg.DataDir, "state.db"); err != nil {
		t.Fatal(err)
	}
	s2 := mustOpenStore(t, cfg)
	if got := snapshotState(t, s2); got != want {
		t.Fatalf("exp %s, got %s", want, got)
	}
}

// TestLargeModuleIsChunked: a module larger than one entry's budget is
// staged in several entries of at most 1 MiB, then assembled intact.
func TestLargeModuleIsChunked(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	wasm := make([]byte, 3<<20+123)
	for i := range wasm {
		wasm[i] = byte(i * 31)
	}
	m, created, _, err := s.PutModule(context.Background(), "big", wasm, nil)
	if err != nil || !created || m.Size != int64(len(wasm)) {
		t.Fatalf("put: %v created=%v %v", m, created, err)
	}
	_, got, err := s.ModuleBytes(m.Digest)
	if err != nil || !bytes.Equal(got, wasm) {
		t.Fatalf("exp the module back intact: %v", err)
	}
	first, _ := s.logStore.FirstIndex()
	last, _ := s.logStore.LastIndex()
	entries := 0
	for i := first; i <= last; i++ {
		var l raft.Log
		if err := s.logStore.GetLog(i, &l); err != nil {
			continue
		}
		if len(l.Data) > 1<<20 {
			t.Fatalf("log entry %d holds %d bytes", i, len(l.Data))
		}
		entries++
	}
	if entries < 8 {
		t.Fatalf("exp the module spread over several entries, found %d entries", entries)
	}
	_ = s.fsm.view(func(tx *bolt.Tx) error {
		if k, _ := tx.Bucket(bucketStaging).Cursor().First(); k != nil {
			t.Fatalf("staging not emptied after assembly")
		}
		return nil
	})
}

// TestWriteWaitsNoLongerThanItsContext holds the state machine so a
// proposed write cannot apply: the caller gets ErrTimeout at its deadline
// instead of waiting on Raft, and the write still applies afterwards.
func TestWriteWaitsNoLongerThanItsContext(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	// bbolt has one writer at a time: while this transaction is open the
	// state machine blocks applying the next entry.
	tx, err := s.fsm.db.Begin(true)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() { once.Do(func() { tx.Rollback() }) }
	t.Cleanup(release)
	stop := time.AfterFunc(10*time.Second, release) // so a regression fails rather than hangs
	defer stop.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.PutNode(ctx, "n9", "10.0.0.9:7000")
	waited := time.Since(start)
	stop.Stop()
	release()
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exp ErrTimeout wrapping the deadline, got %v", err)
	}
	if waited > 2*time.Second {
		t.Fatalf("write returned %v after its 200ms deadline", waited)
	}

	// The entry was proposed before the deadline; it applies once it can.
	poll.Eventually(t, 5*time.Second, func() error {
		addr, err := s.NodeAddr("n9")
		if err == nil && addr != "10.0.0.9:7000" {
			err = fmt.Errorf("node address %q", addr)
		}
		return err
	})
	if err := s.PutNode(context.Background(), "n10", "10.0.0.10:7000"); err != nil {
		t.Fatalf("write after the held one: %v", err)
	}
}

// SetRoute points host+pathPrefix at the module moduleRef resolves to:
// PutRoute with one module, as most tests want it.
func (s *Store) SetRoute(ctx context.Context, host, pathPrefix, moduleRef string, opts *registryv1.RouteOptions) (*registryv1.Route, int64, error) {
	return s.PutRoute(ctx, &registryv1.SetRouteRequest{Host: host, PathPrefix: pathPrefix, Module: moduleRef, Options: opts})
}
