//go:build wasmer

package wasmerengine

import (
	"context"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/enginetest"
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
