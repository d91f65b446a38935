//go:build wasmer

package server

import (
	"context"
	"fmt"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wasmerengine"
)

func init() {
	engines["wasmer"] = func(ctx context.Context, o engine.Options) (engine.Engine, error) {
		if o.PreInitialize {
			return nil, fmt.Errorf("%w: wasmer cannot start instances from a snapshot (--pre-initialize); use wazero or wasmtime", engine.ErrUnsupported)
		}
		// wasmer keeps no disk cache: o.CacheDir goes unused.
		return wasmerengine.New(ctx, wasmerengine.Config{MemoryLimit: o.MemoryLimit})
	}
}
