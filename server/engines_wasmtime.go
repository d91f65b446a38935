//go:build wasmtime

package server

import (
	"context"
	"path/filepath"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wasmtimeengine"
)

func init() {
	engines["wasmtime"] = func(ctx context.Context, o engine.Options) (engine.Engine, error) {
		wc := wasmtimeengine.Config{MemoryLimit: o.MemoryLimit, PreInitialize: o.PreInitialize}
		if o.CacheDir != "" {
			wc.CacheDir = filepath.Join(o.CacheDir, "wasmtime")
		}
		return wasmtimeengine.New(ctx, wc)
	}
}
