package controlplane_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/testenv"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// TestKeyRotation: two keys are trusted at once; revoking one stops its new
// uploads, reports the routes it still serves, and leaves the other working.
func TestKeyRotation(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	ctx := context.Background()
	oldKey := env.Key
	newKey, _ := signing.GenerateKey()
	if _, err := env.Admin.AddKey(ctx, "ci-2027", newKey.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	hello := env.Upload(t, "hello", wasmtest.Hello).Module // signed by the old key
	if hello.Provenance.KeyId != signing.KeyID(oldKey.Public().(ed25519.PublicKey)) || hello.Provenance.Uploader != "ci" {
		t.Fatalf("exp provenance naming the key and uploader, got %v", hello.Provenance)
	}
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	echo := wasmtest.Build(t, wasmtest.Echo)
	if _, err := env.Publisher.Upload(ctx, "echo", echo, client.WithSigner(newKey)); err != nil {
		t.Fatalf("the second key must work alongside the first: %v", err)
	}

	resp, err := env.Admin.RevokeKey(ctx, hello.Provenance.KeyId)
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Key.Revoked || len(resp.AffectedRoutes) != 1 || resp.AffectedRoutes[0].PathPrefix != "/hello" {
		t.Fatalf("exp the revoked key's routed module reported, got %v", resp)
	}
	_, err = env.Publisher.Upload(ctx, "echo2", echo, client.WithSigner(oldKey))
	if status.Code(err) != codes.PermissionDenied {
		t.Fatalf("upload with a revoked key: exp PermissionDenied, got %v", err)
	}
	if _, err := env.Publisher.Upload(ctx, "echo2", append(echo[:len(echo):len(echo)], 0, 0, 0, 0), client.WithSigner(newKey)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("exp the new key to get as far as validation, got %v", err)
	}
	if _, err := env.Admin.AddKey(ctx, "again", oldKey.Public().(ed25519.PublicKey)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("re-adding a revoked key: exp InvalidArgument, got %v", err)
	}
	// The routed module keeps serving: its route and module are untouched.
	routes, _, err := env.Publisher.ListRoutes(ctx)
	if err != nil || len(routes) != 1 || routes[0].ModuleDigest != hello.Digest {
		t.Fatalf("exp the route kept, got %v, %v", routes, err)
	}
}
