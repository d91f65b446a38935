//go:build wasmtime

package wasmtimeengine

import (
	"context"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/enginetest"
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
	var engines [2]engine.Engine
	for i := range engines {
		cfg := DefaultConfig()
		cfg.noDeadlines = i == 1
		e, err := New(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { e.Close(context.Background()) })
		engines[i] = e
	}
	enginetest.BenchDeadlineCost(b, engines[0], engines[1])
}
