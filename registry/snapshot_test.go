package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/history"
)

// routeTable renders a store's routes as "host/path=digest" lines.
func routeTable(t *testing.T, s *Store) []string {
	t.Helper()
	routes, _, err := s.ListRoutes()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range routes {
		out = append(out, r.Host+r.PathPrefix+"="+r.ModuleDigest)
	}
	slices.Sort(out)
	return out
}

func mustOpen(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// saveTo writes s's snapshot to a file and returns its path.
func saveTo(t *testing.T, s *Store) (string, SnapshotInfo) {
	t.Helper()
	f, info, err := s.SaveSnapshot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	path := filepath.Join(t.TempDir(), "backup.db")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, f); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path, info
}

// TestSnapshotRestoresIntoANewCluster: a snapshot saved from one cluster
// replaces the state of another, running, three-node cluster. The new
// cluster keeps its own members, every node ends with the snapshot's
// routes, a watcher from before the restore is told to list again, and
// revisions keep rising, across a restart too.
func TestSnapshotRestoresIntoANewCluster(t *testing.T) {
	ctx := context.Background()
	src := newCluster(t, 1, nil)[0]
	mod := mustPut(t, src, "m", fakeWasm("m"))
	for i := range 5 {
		if _, _, err := src.SetRoute(ctx, "", fmt.Sprintf("/kept/%d", i), mod.Digest, nil); err != nil {
			t.Fatal(err)
		}
	}
	path, info := saveTo(t, src)
	if info.Revision != src.Revision() || info.Routes != 5 || info.Modules != 1 {
		t.Fatalf("snapshot info %+v, want revision %d, 5 routes, 1 module", info, src.Revision())
	}
	if got, err := InspectSnapshot(path); err != nil || got.SHA256 != info.SHA256 || got.Size != info.Size {
		t.Fatalf("inspect %+v, %v; saved %+v", got, err, info)
	}

	dst := newCluster(t, 3, nil)
	leader := leaderIn(t, dst)
	other := mustPut(t, leader, "other", fakeWasm("other"))
	// Enough writes that the new cluster's revision passes the snapshot's.
	for i := range 12 {
		if _, _, err := leader.SetRoute(ctx, "", fmt.Sprintf("/lost/%d", i), other.Digest, nil); err != nil {
			t.Fatal(err)
		}
	}
	before := leader.Revision()
	membersBefore, _ := leader.Members()
	watchErr := make(chan error, 1)
	go func() {
		watchErr <- dst[1].Watch(ctx, before+1, func([]*registryv1.Event, int64) error { return nil })
	}()

	got, err := leader.RestoreSnapshot(WithActor(ctx, "ops"), mustOpen(t, path))
	if err != nil {
		t.Fatal(err)
	}
	if got.Revision <= max(before, info.Revision) {
		t.Fatalf("restored revision %d, want above both %d and %d", got.Revision, before, info.Revision)
	}
	want := routeTable(t, src)
	for _, s := range dst {
		poll.Eventually(t, 10*time.Second, func() error {
			if got := routeTable(t, s); !slices.Equal(got, want) {
				return fmt.Errorf("%s routes %v, want %v", s.NodeID(), got, want)
			}
			return nil
		})
	}
	if m, _ := leader.Members(); len(m) != len(membersBefore) || m[0].GRPCAddr != membersBefore[0].GRPCAddr {
		t.Fatalf("members after restore %v, before %v", m, membersBefore)
	}
	select {
	case err := <-watchErr:
		if !errors.Is(err, history.ErrCompacted) {
			t.Fatalf("watcher from before the restore ended with %v, want compacted", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a watcher from before the restore was never told to list again")
	}
	audit, err := leader.ListAudit(got.Revision, 1)
	if err != nil || len(audit) != 1 || audit[0].Action != "restore_snapshot" || audit[0].Actor != "ops" {
		t.Fatalf("audit at the restore: %v, %v", audit, err)
	}

	_, rev, err := leader.SetRoute(ctx, "", "/after", mod.Digest, nil)
	if err != nil || rev <= got.Revision {
		t.Fatalf("write after restore: revision %d (restore at %d), %v", rev, got.Revision, err)
	}
	waitConverged(t, dst)

	// A restarted node keeps the restored state.
	f := dst[2]
	if f == leader {
		f = dst[1]
	}
	cfg := f.cfg
	cfg.RaftAddr = f.RaftAddr()
	f.Close()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	poll.Eventually(t, 10*time.Second, func() error {
		if s.Revision() < rev {
			return fmt.Errorf("restarted node at revision %d, want %d", s.Revision(), rev)
		}
		return nil
	})
	if got := routeTable(t, s); !slices.Contains(got, "/after="+mod.Digest) || slices.Contains(got, "/lost/0="+other.Digest) {
		t.Fatalf("restarted node's routes %v", got)
	}
}

// TestRestoreRefusesBadSnapshots: a file that is not a whole state
// database is refused before anything changes.
func TestRestoreRefusesBadSnapshots(t *testing.T) {
	ctx := context.Background()
	s := newCluster(t, 1, nil)[0]
	mod := mustPut(t, s, "m", fakeWasm("m"))
	if _, _, err := s.SetRoute(ctx, "", "/a", mod.Digest, nil); err != nil {
		t.Fatal(err)
	}
	good, info := saveTo(t, s)
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	content := raw[:len(raw)-trailerSize]
	file := func(b []byte) string {
		p := filepath.Join(t.TempDir(), "bad.db")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	seal := func(b []byte) []byte {
		sum := sha256.Sum256(b)
		return append(slices.Clone(b), sum[:]...)
	}
	// tampered is the good state changed by fn, with a correct sum.
	tampered := func(fn func(tx *bolt.Tx) error) string {
		p := file(content)
		db, err := bolt.Open(p, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Update(fn); err != nil {
			t.Fatal(err)
		}
		db.Close()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return file(seal(b))
	}
	foreign := filepath.Join(t.TempDir(), "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("x")); return err })
	db.Close()
	foreignBytes, _ := os.ReadFile(foreign)
	flipped := slices.Clone(raw)
	for i := 4096 * 2; i < len(flipped); i += 97 {
		flipped[i] ^= 0xff
	}
	cases := []struct {
		name, path string
	}{
		{"empty", file(nil)},
		{"not bbolt", file([]byte("this is not a database, and it is long enough to have a sum"))},
		{"truncated", file(raw[:len(raw)/3])},
		{"flipped bytes", file(flipped)},
		{"no sum", file(content)},
		{"truncated and resealed", file(seal(content[:len(content)/3]))},
		{"another bbolt file", file(seal(foreignBytes))},
		{"module bytes swapped", tampered(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketBlobs).Put([]byte(mod.Digest), []byte("\x00asm\x01\x00\x00\x00evil"))
		})},
		{"route undecodable", tampered(func(tx *bolt.Tx) error {
			return tx.Bucket(bucketRoutes).Put(routeKey("", "/a"), []byte{0xff, 0xff, 0xff})
		})},
		{"route too long", tampered(func(tx *bolt.Tx) error {
			r := &registryv1.Route{PathPrefix: "/" + strings.Repeat("x", 5000), ModuleName: "m", ModuleDigest: mod.Digest}
			return putProto(tx.Bucket(bucketRoutes), routeKey("", r.PathPrefix), r)
		})},
	}
	before, rev := stateHash(t, s), s.Revision()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.RestoreSnapshot(ctx, mustOpen(t, c.path))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("restore of %s: %v, want ErrInvalid", c.name, err)
			}
			t.Log(err)
			if got := stateHash(t, s); got != before || s.Revision() != rev {
				t.Fatalf("a refused restore changed the state (revision %d, was %d)", s.Revision(), rev)
			}
			if left, _ := filepath.Glob(filepath.Join(s.cfg.DataDir, "snapshot-*")); len(left) > 0 {
				t.Fatalf("a refused restore left %v behind", left)
			}
		})
	}
	// The store still writes, and a good snapshot still restores.
	if _, err := s.RestoreSnapshot(ctx, mustOpen(t, good)); err != nil {
		t.Fatalf("restore of the good snapshot (%+v): %v", info, err)
	}
	if _, _, err := s.SetRoute(ctx, "", "/b", mod.Digest, nil); err != nil {
		t.Fatal(err)
	}
}
