package registry

import (
	"context"
	"errors"
	"testing"
)

func TestCollectGarbage(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	routed := mustPut(t, s, "app", fakeWasm("v1"))
	old := mustPut(t, s, "app", fakeWasm("v2"))
	newest := mustPut(t, s, "app", fakeWasm("v3"))
	lone := mustPut(t, s, "other", fakeWasm("o"))
	if _, _, err := s.SetRoute(ctx, "", "/", routed.Digest, nil); err != nil {
		t.Fatal(err)
	}
	dry, _, err := s.CollectGarbage(ctx, true)
	if err != nil || len(dry) != 1 || dry[0].Digest != old.Digest {
		t.Fatalf("dry run: exp only %s, got %v, %v", old.Digest, dry, err)
	}
	if _, err := s.ResolveModule(old.Digest); err != nil {
		t.Fatal("a dry run deleted something")
	}
	deleted, rev, err := s.CollectGarbage(ctx, false)
	if err != nil || len(deleted) != 1 || deleted[0].Digest != old.Digest {
		t.Fatalf("exp only %s deleted, got %v, %v", old.Digest, deleted, err)
	}
	if _, err := s.ResolveModule(old.Digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("exp the old module gone, got %v", err)
	}
	for _, m := range []string{routed.Digest, newest.Digest, lone.Digest} {
		if _, _, err := s.ModuleBytes(m); err != nil {
			t.Fatalf("exp %s kept: %v", m, err)
		}
	}
	if again, rev2, _ := s.CollectGarbage(ctx, false); len(again) != 0 || rev2 != rev {
		t.Fatalf("exp a second collection to find nothing and write nothing, got %v at %d (was %d)", again, rev2, rev)
	}
}

func TestQuota(t *testing.T) {
	cfg := testConfig(t.TempDir())
	cfg.Quota = 3 << 20
	s := mustOpenStore(t, cfg)
	ctx := context.Background()
	big := func(b byte) []byte { return append(fakeWasm(string(b)), make([]byte, 1<<20)...) }
	mustPut(t, s, "a", big('1'))
	mustPut(t, s, "a", big('2'))
	rev := s.Revision()
	if _, _, _, err := s.PutModule(ctx, "a", big('3'), nil); !errors.Is(err, ErrQuotaExceeded) {
		t.Fatalf("exp ErrQuotaExceeded, got %v", err)
	}
	if s.Revision() != rev {
		t.Fatal("a refused upload wrote something")
	}
	// Reads and other writes keep working at quota; collecting frees room.
	if _, _, err := s.SetRoute(ctx, "", "/", "a", nil); err != nil {
		t.Fatalf("route at quota: %v", err)
	}
	mustPut(t, s, "a", big('2')) // stored already: no new bytes
	if _, _, err := s.CollectGarbage(ctx, false); err != nil {
		t.Fatal(err)
	}
	mustPut(t, s, "a", big('3'))
}
