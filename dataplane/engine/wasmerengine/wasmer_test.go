//go:build wasmer

package wasmerengine

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/testing/enginetest"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
)

// TestEngineSuite holds the wasmer engine to what every engine must do.
func TestEngineSuite(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) engine.Engine {
		cfg := DefaultConfig()
		cfg.MemoryLimit = enginetest.MemoryLimit
		e, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

func BenchmarkEngine(b *testing.B) {
	e, err := New(context.Background(), DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	enginetest.Bench(b, e)
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

// TestExitsDoNotCrash: guests that exit, many times over, with finalizers
// run in between. wasmer-go 1.0.4 frees a trap returned by a host
// function twice (once in wasmer, once from a Go finalizer), so the shim
// must never return one.
func TestExitsDoNotCrash(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.MemoryLimit = enginetest.MemoryLimit
	e, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.Compile(ctx, guests.Build(t, guests.Misbehave))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(ctx)
	for i := 0; i < 30; i++ {
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := enginetest.Call(ctx, inst, "GET", "/exit", nil); !errors.Is(err, engine.ErrTrap) || !strings.Contains(err.Error(), "exit code 3") {
			t.Fatalf("exp a trap for exit code 3, got %v", err)
		}
		inst.Close(ctx)
		runtime.GC()
	}
	runtime.GC()
	runtime.GC()
}
