package controlplane_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/digest"
	"github.com/nanoedge/nanoedge/server"
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
	wasm := guests.Build(t, guests.Hello)
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

// TestResumeNeedsAKeptUpload: an upload claiming to resume bytes the node
// does not hold is refused, saying so, and nothing is stored.
func TestResumeNeedsAKeptUpload(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	conn, err := grpc.NewClient(env.CP.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+env.AdminToken)
	wasm := guests.Build(t, guests.Hello)
	stream, err := registryv1.NewRegistryServiceClient(conn).UploadModule(ctx)
	if err != nil {
		t.Fatal(err)
	}
	md := &registryv1.UploadModuleMetadata{Name: "hello", Size: int64(len(wasm)), Digest: digest.Of(wasm), Offset: 1000}
	stream.Send(&registryv1.UploadModuleRequest{Msg: &registryv1.UploadModuleRequest_Metadata{Metadata: md}})
	stream.Send(&registryv1.UploadModuleRequest{Msg: &registryv1.UploadModuleRequest_Chunk{Chunk: wasm[1000:]}})
	_, err = stream.CloseAndRecv()
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "cannot resume at byte 1000") {
		t.Fatalf("exp FailedPrecondition saying it cannot resume, got %v", err)
	}
	if mods, _, err := env.Publisher.ListModules(context.Background()); err != nil || len(mods) != 0 {
		t.Fatalf("exp nothing stored, got %v, %v", mods, err)
	}
}
