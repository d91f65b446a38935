//go:build wasmtime

package wasmtimeengine

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/testing/enginetest"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
)

// TestEngineSuite holds the wasmtime engine to what every engine must do,
// with and without pre-initialized snapshots.
func TestEngineSuite(t *testing.T) {
	for _, pre := range []bool{false, true} {
		name := "initialize"
		if pre {
			name = "pre-initialized"
		}
		t.Run(name, func(t *testing.T) {
			enginetest.Run(t, func(t *testing.T) engine.Engine {
				cfg := DefaultConfig()
				cfg.MemoryLimit = enginetest.MemoryLimit
				cfg.PreInitialize = pre
				cfg.CacheDir = t.TempDir()
				e, err := New(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				return e
			})
		})
	}
}

func BenchmarkEngine(b *testing.B) {
	for _, pre := range []bool{false, true} {
		name := "initialize"
		if pre {
			name = "pre-initialized"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.PreInitialize = pre
			e, err := New(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { e.Close(context.Background()) })
			enginetest.Bench(b, e)
		})
	}
}

// BenchmarkDeadlineEnforcement: what stopping guests at their deadline
// costs a warm request.
func BenchmarkDeadlineEnforcement(b *testing.B) {
	enginetest.BenchDeadlineCost(b, func(enforce bool) (engine.Engine, error) {
		cfg := DefaultConfig()
		cfg.noDeadlines = !enforce
		return New(context.Background(), cfg)
	})
}

// TestCompiledCodeIsCached: compiled code, and the pre-initialized
// snapshot's, land in the cache directory; a later engine maps them
// instead of compiling, and one that finds a damaged file compiles again.
func TestCompiledCodeIsCached(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.CacheDir, cfg.PreInitialize = t.TempDir(), true
	wasm := guests.Build(t, guests.Hello)
	serve := func() {
		t.Helper()
		e, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(ctx)
		m, err := e.Compile(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close(ctx)
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		defer inst.Close(ctx)
		if resp, err := enginetest.Call(ctx, inst, "GET", "/hello", nil); err != nil || resp.Status != 200 {
			t.Fatalf("%d %v", resp.Status, err)
		}
	}
	serve()
	files, _ := filepath.Glob(filepath.Join(cfg.CacheDir, "*.cwasm"))
	if len(files) != 2 {
		t.Fatalf("exp the module's and the snapshot's compiled code, got %v", files)
	}
	var mtimes []time.Time
	for _, f := range files {
		st, _ := os.Stat(f)
		mtimes = append(mtimes, st.ModTime())
	}
	serve()
	for i, f := range files {
		if st, _ := os.Stat(f); !st.ModTime().Equal(mtimes[i]) {
			t.Fatalf("%s was written again: the cache was not used", f)
		}
	}
	for _, f := range files {
		if err := os.WriteFile(f, []byte("not compiled code"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	serve()
}

// TestSnapshotsAdviseRenewal: instances of a pre-initialized module are
// cheap to replace and the module says so (engine.Renewer); a module
// whose instances run their own initialization gives no advice.
func TestSnapshotsAdviseRenewal(t *testing.T) {
	ctx := context.Background()
	wasm := guests.Build(t, guests.Hello)
	cache := t.TempDir()
	for _, tt := range []struct {
		pre  bool
		want int
	}{{true, engine.RenewSnapshotsAfter}, {false, 0}} {
		cfg := DefaultConfig()
		cfg.CacheDir, cfg.PreInitialize = cache, tt.pre
		e, err := New(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close(ctx) })
		m, err := e.Compile(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(ctx) })
		r, ok := m.(engine.Renewer)
		if !ok {
			t.Fatal("module does not implement engine.Renewer")
		}
		if got := r.RenewAfter(); got != tt.want {
			t.Fatalf("pre-initialized %v: RenewAfter %d, exp %d", tt.pre, got, tt.want)
		}
	}
}
