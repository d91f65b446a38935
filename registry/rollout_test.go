package registry

import (
	"context"
	"errors"
	"testing"
)

func TestRollbackRoute(t *testing.T) {
	s := mustOpenStore(t, testConfig(t.TempDir()))
	ctx := context.Background()
	v1 := mustPut(t, s, "app", fakeWasm("1"))
	v2 := mustPut(t, s, "app", fakeWasm("2"))
	if _, _, err := s.RollbackRoute(ctx, "", "/"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rollback of a missing route: exp ErrNotFound, got %v", err)
	}
	if _, _, err := s.SetRoute(ctx, "", "/", v1.Digest, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RollbackRoute(ctx, "", "/"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rollback of a route with no history: exp ErrNotFound, got %v", err)
	}
	if _, _, err := s.SetRoute(ctx, "", "/", v2.Digest, nil); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.RollbackRoute(ctx, "", "/")
	if err != nil || r.ModuleDigest != v1.Digest || r.Previous.GetModuleDigest() != v2.Digest {
		t.Fatalf("exp back on v1 with v2 as previous, got %v, %v", r, err)
	}
	if r, _, _ := s.RollbackRoute(ctx, "", "/"); r.ModuleDigest != v2.Digest {
		t.Fatalf("rolling back twice must return to v2, got %s", r.ModuleDigest)
	}
}
