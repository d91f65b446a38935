package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func entries(kv ...string) []*registryv1.KVEntry {
	var out []*registryv1.KVEntry
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &registryv1.KVEntry{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return out
}

// TestKVWrites: a write puts and deletes keys in one revision, counts
// what it did, and a dry run says the same and stores nothing.
func TestKVWrites(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	res, err := s.WriteKV(ctx, KVWrite{Store: "redirects", Put: entries("/a", "https://a.example", "/b", "https://b.example")}, false)
	if err != nil || res.Added != 2 || res.Store.Keys != 2 || res.Store.Bytes != int64(2+17+2+17) || res.Revision == 0 {
		t.Fatalf("first write: %+v, %v", res, err)
	}
	before := s.Revision()
	change := KVWrite{Store: "redirects", Put: entries("/b", "https://new.example", "/c", "x"), Delete: []string{"/a", "/zz"}}
	dry, err := s.WriteKV(ctx, change, true)
	if err != nil || dry.Revision != 0 || dry.Deleted != 1 || dry.Updated != 1 || dry.Added != 1 || dry.Store.Keys != 2 {
		t.Fatalf("dry run: %+v, %v", dry, err)
	}
	if s.Revision() != before {
		t.Fatal("a dry run wrote")
	}
	res, err = s.WriteKV(ctx, change, false)
	if err != nil || res.Deleted != 1 || res.Updated != 1 || res.Added != 1 || res.Revision != before+1 {
		t.Fatalf("second write: %+v, %v", res, err)
	}
	if e, _, err := s.GetKV("redirects", "/b"); err != nil || string(e.Value) != "https://new.example" {
		t.Fatalf("get /b: %v, %v", e, err)
	}
	if _, _, err := s.GetKV("redirects", "/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("exp /a deleted, got %v", err)
	}
	// A write that changes nothing makes no revision.
	if res, err := s.WriteKV(ctx, KVWrite{Store: "redirects", Put: entries("/c", "x")}, false); err != nil || res.Revision != 0 || res.Unchanged != 1 {
		t.Fatalf("unchanged write: %+v, %v", res, err)
	}
	if got, _ := s.ListAudit(0, 100); !strings.Contains(fmt.Sprint(got), "redirects: 1 added, 1 updated, 1 deleted") {
		t.Fatalf("exp the write audited, got %v", got)
	}
}

// TestKVBoundsChangeNothing: a write past any bound fails naming it, and
// leaves the store as it was.
func TestKVBoundsChangeNothing(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	if _, err := s.WriteKV(ctx, KVWrite{Store: "t", Put: entries("k", "v")}, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		w       KVWrite
		mention string
	}{
		{"bad store name", KVWrite{Store: "Bad Name", Put: entries("k", "v")}, "store"},
		{"empty key", KVWrite{Store: "t", Put: entries("", "v")}, "key"},
		{"key not UTF-8", KVWrite{Store: "t", Put: entries("\xff", "v")}, "UTF-8"},
		{"key too long", KVWrite{Store: "t", Put: entries(strings.Repeat("k", 513), "v")}, "key is 513 bytes"},
		{"value too large", KVWrite{Store: "t", Put: entries("big", strings.Repeat("v", 128<<10+1))}, "value is 131073 bytes"},
		{"too many entries", KVWrite{Store: "t", Delete: make([]string, 100_001)}, "entries in one write"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Revision()
			_, err := s.WriteKV(ctx, tt.w, false)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("exp ErrInvalid mentioning %q, got %v", tt.mention, err)
			}
			if s.Revision() != before {
				t.Fatal("a refused write made a revision")
			}
		})
	}
	// Past the bounds at apply too, should a command reach the log.
	_, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutKv{PutKv: &raftlogv1.PutKVCommand{Store: "t", Put: entries("a", "1", "a", "2")}}})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("exp a command naming a key twice refused, got %v", err)
	}
	if m, err := s.KVStore("t"); err != nil || m.Keys != 1 {
		t.Fatalf("exp the store unchanged, got %v, %v", m, err)
	}
}

// TestKVLargeWriteIsSplit: a write larger than one Raft entry applies as
// several revisions, each within the entry budget, and all of it lands;
// the history stays under its byte bound.
func TestKVLargeWriteIsSplit(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	var puts []*registryv1.KVEntry
	for i := range 3000 {
		puts = append(puts, &registryv1.KVEntry{Key: fmt.Sprintf("key-%05d", i), Value: bytes.Repeat([]byte{byte(i)}, 1000)})
	}
	before := s.Revision()
	res, err := s.WriteKV(WithRequestID(ctx, "import-1"), KVWrite{Store: "big", Put: puts}, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Revision-before < 7 || res.Store.Keys != 3000 {
		t.Fatalf("exp at least 7 revisions and 3000 keys, got %d revisions, %+v", res.Revision-before, res.Store)
	}
	// Retried with its request id, it applies nothing again.
	if again, err := s.WriteKV(WithRequestID(ctx, "import-1"), KVWrite{Store: "big", Put: puts}, false); err != nil || again.Revision != 0 || again.Unchanged != 3000 {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	var got int
	for after := ""; ; {
		page, next, _, err := s.ListKV("big", after, 1000, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			if !bytes.Equal(e.Value, puts[got].Value) || e.Key != puts[got].Key {
				t.Fatalf("entry %d: got %q", got, e.Key)
			}
			got++
		}
		if after = next; next == "" {
			break
		}
	}
	if got != 3000 {
		t.Fatalf("listed %d entries, exp 3000", got)
	}
	var events int
	err = s.Watch(ctxWithCancelAfter(t), before+1, func(evs []*registryv1.Event, rev int64) error {
		for _, e := range evs {
			events += len(e.GetKv().GetPut())
		}
		if events >= 3000 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("watch: %v (saw %d puts)", err, events)
	}
}

var errStop = errors.New("stop")

func ctxWithCancelAfter(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestKVStoreLinksAndDeletion: a module links only stores that exist; a
// deleted store takes its keys with it, and survives neither a restart
// nor a snapshot.
func TestKVStoreLinksAndDeletion(t *testing.T) {
	cfg := testConfig(t.TempDir())
	s := mustOpenStore(t, cfg)
	ctx := context.Background()
	if _, _, err := s.PutConfig(ctx, ConfigChange{ModuleName: "shortener", LinkStores: []string{"links"}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("exp linking a missing store refused, got %v", err)
	}
	if _, err := s.WriteKV(ctx, KVWrite{Store: "links", Put: entries("a", "1")}, false); err != nil {
		t.Fatal(err)
	}
	c, _, err := s.PutConfig(ctx, ConfigChange{ModuleName: "shortener", LinkStores: []string{"links"}})
	if err != nil || len(c.Stores) != 1 || c.Stores[0] != "links" {
		t.Fatalf("link: %v, %v", c, err)
	}
	if _, err := s.DeleteKVStore(ctx, "links"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteKVStore(ctx, "links"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("exp deleting twice to fail, got %v", err)
	}
	if _, err := s.WriteKV(ctx, KVWrite{Store: "kept", Put: entries("k", "v")}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := removeFile(cfg.DataDir, "state.db"); err != nil {
		t.Fatal(err)
	}
	s = mustOpenStore(t, cfg)
	stores, _, err := s.ListKVStores()
	if err != nil || len(stores) != 1 || stores[0].Name != "kept" {
		t.Fatalf("after restore from snapshot: %v, %v", stores, err)
	}
	if _, _, err := s.GetKV("links", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("exp the deleted store gone, got %v", err)
	}
	if e, _, err := s.GetKV("kept", "k"); err != nil || string(e.Value) != "v" {
		t.Fatalf("exp kept/k, got %v, %v", e, err)
	}
}
