//go:build wasmtime

package server

import (
	"context"
	"path/filepath"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wasmtimeengine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
)

func init() {
	engines["wasmtime"] = func(ctx context.Context, cfg wazeroengine.Config) (engine.Engine, error) {
		wc := wasmtimeengine.Config{MemoryLimit: cfg.MemoryLimit, PreInitialize: cfg.PreInitialize}
		if cfg.CacheDir != "" {
			wc.CacheDir = filepath.Join(cfg.CacheDir, "wasmtime")
		}
		return wasmtimeengine.New(ctx, wc)
	}
}
