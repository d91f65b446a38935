package controlplane_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/server"
	"github.com/nanoedge/nanoedge/internal/testenv"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestUploadLimits checks the caps that keep a hostile uploader from
// burning the control plane's time, and that nothing is stored after them.
func TestUploadLimits(t *testing.T) {
	tests := []struct {
		name   string
		adjust func(cfg *server.ControlPlaneConfig)
		code   codes.Code
		msg    string
	}{
		{"too many chunks", func(c *server.ControlPlaneConfig) { c.API.MaxUploadChunks = 4 }, codes.ResourceExhausted, "exceeds 4 chunks"},
		{"validation too slow", func(c *server.ControlPlaneConfig) { c.API.ValidateTimeout = time.Microsecond }, codes.InvalidArgument, "validation did not finish"},
	}
	wasm := wasmtest.Build(t, wasmtest.Hello)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
			tt.adjust(&cfg)
			env := testenv.Start(t, cfg)
			ctx := context.Background()
			_, err := env.Publisher.Upload(ctx, "hello", wasm, client.WithSigner(env.Key))
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("exp %v mentioning %q, got %v", tt.code, tt.msg, err)
			}
			if mods, _, err := env.Publisher.ListModules(ctx); err != nil || len(mods) != 0 {
				t.Fatalf("exp nothing stored, got %v, %v", mods, err)
			}
		})
	}
}
