package controlplane_test

import (
	"context"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// TestKeyRotation: two keys are trusted at once; revoking one that signs
// a routed module is refused, naming the route, unless forced; revoked,
// it signs no uploads, no route can be pointed at its modules, and the
// other key keeps working.
func TestKeyRotation(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	ctx := context.Background()
	oldKey := env.Key
	newKey, _ := signing.GenerateKey()
	if _, err := env.Admin.AddKey(ctx, "ci-2027", newKey.Public().(ed25519.PublicKey)); err != nil {
		t.Fatal(err)
	}
	hello := env.Upload(t, "hello", guests.Hello).Module // signed by the old key
	if hello.Provenance.KeyId != signing.KeyID(oldKey.Public().(ed25519.PublicKey)) || hello.Provenance.Uploader != "ci" {
		t.Fatalf("exp provenance naming the key and uploader, got %v", hello.Provenance)
	}
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	echo := guests.Build(t, guests.Echo)
	if _, err := env.Publisher.Upload(ctx, "echo", echo, client.WithSigner(newKey)); err != nil {
		t.Fatalf("the second key must work alongside the first: %v", err)
	}

	_, err := env.Admin.RevokeKey(ctx, hello.Provenance.KeyId, false)
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "/hello") {
		t.Fatalf("revoking a key that signs a routed module: exp FailedPrecondition naming /hello, got %v", err)
	}
	if keys, _, _ := env.Admin.ListKeys(ctx); keys[0].Revoked || keys[1].Revoked {
		t.Fatalf("a refused revocation revoked: %v", keys)
	}
	audit, _ := env.Admin.ListAudit(ctx, 0, 1000)
	resp, err := env.Admin.RevokeKey(ctx, hello.Provenance.KeyId, true)
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
	// The route is kept (workers answer 503 for it), and cannot be pointed
	// at the revoked key's module again, nor can a rollout or a rule.
	routes, _, err := env.Publisher.ListRoutes(ctx)
	if err != nil || len(routes) != 1 || routes[0].ModuleDigest != hello.Digest {
		t.Fatalf("exp the route kept, got %v, %v", routes, err)
	}
	for _, r := range []client.Route{
		{PathPrefix: "/again", Module: "hello"},
		{PathPrefix: "/rule", Module: "echo", Rules: []*registryv1.RuleSpec{{Kind: registryv1.MatchKind_MATCH_KIND_HEADER, Name: "X-Beta", Module: "hello"}}},
		{PathPrefix: "/split", Versions: []*registryv1.VersionSpec{{Module: "echo", Weight: 90}, {Module: "hello", Weight: 10}}},
	} {
		if _, _, err := env.Publisher.SetRoute(ctx, r); status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "revoked") {
			t.Fatalf("route %s to a revoked key's module: exp FailedPrecondition, got %v", r.PathPrefix, err)
		}
	}
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/echo", Module: "echo"}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Publisher.StartRollout(ctx, &registryv1.StartRolloutRequest{PathPrefix: "/echo", Module: "hello", Steps: []uint32{50, 100}, IntervalMs: 1000}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("roll out a revoked key's module: exp FailedPrecondition, got %v", err)
	}
	after, _ := env.Admin.ListAudit(ctx, 0, 1000)
	var forced bool
	for _, a := range after[len(audit):] {
		forced = forced || a.Action == "revoke_key" && strings.Contains(a.Detail, "forced") && strings.Contains(a.Detail, "/hello")
	}
	if !forced {
		t.Fatalf("exp the forced revocation audited with its routes, got %v", after[len(audit):])
	}
}

// TestRequestIDHeaderAgrees: the SDK sends the header the server reads.
func TestRequestIDHeaderAgrees(t *testing.T) {
	if controlplane.RequestIDHeader != client.RequestIDHeader {
		t.Fatalf("server reads %q, SDK sends %q", controlplane.RequestIDHeader, client.RequestIDHeader)
	}
}

// TestQuietWatchGetsProgress: a watch on which nothing changes gets a
// response with no events, at the node's revision, every WatchProgress.
func TestQuietWatchGetsProgress(t *testing.T) {
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.API.WatchProgress = 100 * time.Millisecond
	env := testenv.Start(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	n := 0
	for resp := range env.Admin.Watch(ctx, 0) {
		if resp.Err != nil {
			t.Fatal(resp.Err)
		}
		if len(resp.Events) != 0 || resp.Revision == 0 {
			t.Fatalf("exp progress at the current revision, got %+v", resp)
		}
		if n++; n == 6 {
			cancel()
		}
	}
	if n < 6 || time.Since(start) > 1500*time.Millisecond {
		t.Fatalf("%d progress responses in %v", n, time.Since(start))
	}
}
