//go:build wasmer

package server

import (
	"context"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wasmerengine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
)

func init() {
	engines["wasmer"] = func(ctx context.Context, cfg wazeroengine.Config) (engine.Engine, error) {
		return wasmerengine.New(ctx, wasmerengine.Config{MemoryLimit: cfg.MemoryLimit})
	}
}
