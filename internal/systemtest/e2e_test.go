package systemtest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/testing/enginetest"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/digest"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// TestEndToEnd is the walking skeleton as a user drives it: upload, route,
// serve, switch the route to another module, restart the control plane.
func TestEndToEnd(t *testing.T) {
	dataDir := t.TempDir()
	env := testenv.Start(t, testenv.ControlPlaneConfig(dataDir, "127.0.0.1:0"))
	cpAddr := env.CP.Addr()
	w := testenv.StartWorker(t, env.WorkerConfig())
	c := env.Publisher
	ctx := ctxT(t)

	hello := env.Upload(t, "hello", guests.Hello)
	if !hello.Created || hello.Module.Digest == "" {
		t.Fatalf("exp a new module, got %+v", hello)
	}
	if again := env.Upload(t, "hello", guests.Hello); again.Created || again.Module.Digest != hello.Module.Digest {
		t.Fatalf("exp the same bytes to be stored once, got %+v", again)
	}
	if _, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello@" + hello.Module.Digest}); err != nil {
		t.Fatal(err)
	}
	r := waitServed(t, w.URL()+"/hello/world?x=1", func(r response) bool { return r.status == 200 })
	if r.body != "Hello from Nanoedge! You asked for /hello/world\n" {
		t.Fatalf("unexpected body %q", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
		t.Fatalf("unexpected content type %q", ct)
	}

	notFound := get(t, w.URL()+"/nowhere")
	if notFound.status != http.StatusNotFound || !strings.Contains(notFound.body, `no route for host "127.0.0.1" and path "/nowhere"`) {
		t.Fatalf("exp a clear 404, got %d %q", notFound.status, notFound.body)
	}
	if r := get(t, w.URL()+"/hellothere"); r.status != http.StatusNotFound {
		t.Fatalf("a prefix matches whole segments only: exp 404 for /hellothere, got %d", r.status)
	}

	// Switch the route to another module.
	echo := env.Upload(t, "echo", guests.Echo)
	if _, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "echo"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/hello", func(r response) bool { return r.header.Get("X-Echo-Method") == "GET" })

	// Restart the control plane on the same data dir and address.
	if err := env.CP.Close(); err != nil {
		t.Fatalf("close control plane: %v", err)
	}
	testenv.StartControlPlane(t, testenv.ControlPlaneConfig(dataDir, cpAddr))
	// Tokens, keys and routes live in the registry: the same clients work.
	routes, _, err := c.ListRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(routes) != 1 || routes[0].PathPrefix != "/hello" || routes[0].ModuleDigest != echo.Module.Digest {
		t.Fatalf("exp the route to survive the restart, got %v", routes)
	}
	// The worker resumes its watch and follows writes after the restart.
	if _, err := c.DeleteRoute(ctx, "", "/hello"); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/hello", func(r response) bool { return r.status == http.StatusNotFound })
	// A fresh worker serves what the registry holds.
	if _, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	w2 := testenv.StartWorker(t, env.WorkerConfig())
	waitServed(t, w2.URL()+"/anything", func(r response) bool { return r.status == 200 && strings.HasPrefix(r.body, "Hello") })
}

// TestGuestSDKPassesRequestsThrough checks that what a client sends reaches
// the handler unchanged and what the handler answers reaches the client.
func TestGuestSDKPassesRequestsThrough(t *testing.T) {
	env := startEnv(t)
	w := testenv.StartWorker(t, env.WorkerConfig())
	env.Upload(t, "echo", guests.Echo)
	if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/echo/", Module: "echo"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/echo/", func(r response) bool { return r.status == 200 })

	body := make([]byte, 1<<20)
	for i := range body {
		body[i] = byte(i * 7)
	}
	tests := []struct {
		method, path string
		header       http.Header
		body         []byte
		wantStatus   int
		wantHeader   http.Header
	}{
		{"GET", "/echo/a/b?q=1&q=2&empty=", http.Header{"Accept": {"text/html", "application/json"}, "X-Custom": {"one"}}, nil, 200, nil},
		{"POST", "/echo/upload", http.Header{"Content-Type": {"application/octet-stream"}}, body, 200, nil},
		{"PUT", "/echo/x?status=201&set=X-Multi:a&set=X-Multi:b&set=Cache-Control:no-store", nil, []byte("put"), 201,
			http.Header{"X-Multi": {"a", "b"}, "Cache-Control": {"no-store"}}},
		{"DELETE", "/echo/gone?status=404", nil, nil, 404, nil},
		{"PATCH", "/echo/%E2%9C%93/space%20x", nil, []byte("{}"), 200, nil},
	}
	// The guest continues the caller's trace: same trace id and flags, the
	// worker's span as parent.
	req, _ := http.NewRequest("GET", w.URL()+"/echo/trace", nil)
	req.Header.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if r, err := do(req); err != nil {
		t.Fatal(err)
	} else if tp := r.header.Get("X-Echo-H-Traceparent"); !strings.HasPrefix(tp, "00-4bf92f3577b34da6a3ce929d0e0e4736-") ||
		!strings.HasSuffix(tp, "-01") || strings.Contains(tp, "00f067aa0ba902b7") {
		t.Fatalf("guest saw traceparent %q", tp)
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, w.URL()+tt.path, bytes.NewReader(tt.body))
			for k, vs := range tt.header {
				req.Header[k] = vs
			}
			r, err := do(req)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.wantStatus {
				t.Fatalf("exp status %d, got %d: %s", tt.wantStatus, r.status, r.body)
			}
			if r.body != string(tt.body) {
				t.Fatalf("exp the %d-byte body back, got %d bytes", len(tt.body), len(r.body))
			}
			want := map[string]string{"X-Echo-Method": tt.method, "X-Echo-Uri": tt.path}
			for k, v := range want {
				if got := r.header.Get(k); got != v {
					t.Fatalf("%s: exp %q, got %q", k, v, got)
				}
			}
			for k, vs := range tt.header {
				if got := r.header.Values("X-Echo-H-" + k); strings.Join(got, "|") != strings.Join(vs, "|") {
					t.Fatalf("header %s: exp %q, got %q", k, vs, got)
				}
			}
			for k, vs := range tt.wantHeader {
				if got := r.header.Values(k); strings.Join(got, "|") != strings.Join(vs, "|") {
					t.Fatalf("response header %s: exp %q, got %q", k, vs, got)
				}
			}
		})
	}
}

// TestBadInputLeavesRegistryUnchanged sends what CI pipelines get wrong.
func TestBadInputLeavesRegistryUnchanged(t *testing.T) {
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.API.MaxModuleSize = 16 << 20
	env := testenv.Start(t, cfg)
	c := env.Publisher
	ctx := ctxT(t)
	hello := env.Upload(t, "hello", guests.Hello)
	signed := client.WithSigner(env.Key)
	stranger, _ := signing.GenerateKey()
	helloWasm := guests.Build(t, guests.Hello)
	if _, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, c)

	tests := []struct {
		name string
		call func() error
		code codes.Code
		msg  string
	}{
		{"not wasm", func() error { _, err := c.Upload(ctx, "shell", []byte("#!/bin/sh\nrm -rf /\n"), signed); return err },
			codes.InvalidArgument, "no wasm header"},
		{"wasm without the ABI", func() error { _, err := c.Upload(ctx, "empty", []byte("\x00asm\x01\x00\x00\x00"), signed); return err },
			codes.InvalidArgument, "no exported function nanoedge_abi_version"},
		{"counts past the end (a decoder bomb)", func() error {
			_, err := c.Upload(ctx, "bomb", enginetest.DecoderBombs()["count running into the next section"], signed)
			return err
		}, codes.InvalidArgument, "malformed module"},
		{"bad name", func() error { _, err := c.Upload(ctx, "Bad Name!", helloWasm, signed); return err },
			codes.InvalidArgument, "module name"},
		{"too large", func() error { _, err := c.Upload(ctx, "big", make([]byte, 17<<20), signed); return err },
			codes.ResourceExhausted, "exceeds the limit"},
		{"unsigned", func() error { _, err := c.Upload(ctx, "other", helloWasm); return err },
			codes.PermissionDenied, "module is unsigned"},
		{"unknown key", func() error { _, err := c.Upload(ctx, "other", helloWasm, client.WithSigner(stranger)); return err },
			codes.PermissionDenied, "not a trusted publisher key"},
		{"signature for another name", func() error {
			sig := signing.Sign(env.Key, "hello", digest.Of(helloWasm))
			_, err := c.Upload(ctx, "other", helloWasm, client.WithSignature(signing.KeyID(env.Key.Public().(ed25519.PublicKey)), sig))
			return err
		}, codes.PermissionDenied, "signature does not verify"},
		{"malformed signature", func() error {
			_, err := c.Upload(ctx, "other", helloWasm, client.WithSignature(signing.KeyID(env.Key.Public().(ed25519.PublicKey)), []byte("short")))
			return err
		}, codes.InvalidArgument, "signature is 5 bytes"},
		{"unknown module", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/x", Module: "nosuchmodule"})
			return err
		}, codes.NotFound, "nosuchmodule"},
		{"unknown digest", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/x", Module: "hello@sha256:00000000"})
			return err
		}, codes.NotFound, "hello@sha256:00000000"},
		{"bad path", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "nope", Module: "hello"})
			return err
		}, codes.InvalidArgument, "must start with /"},
		{"weights not adding to 100", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/w", Versions: []*registryv1.VersionSpec{{Module: "hello", Weight: 50}}})
			return err
		}, codes.InvalidArgument, "add up to 50, want 100"},
		{"bad sticky key", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/w", Module: "hello", StickyKey: "moon"})
			return err
		}, codes.InvalidArgument, "sticky key"},
		{"bad rule pattern", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/w", Module: "hello", Rules: []*registryv1.RuleSpec{
				{Kind: registryv1.MatchKind_MATCH_KIND_HEADER, Name: "X", Pattern: "(", Module: "hello"}}})
			return err
		}, codes.InvalidArgument, "rule 1"},
		{"CORS credentials for any origin", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/c", Module: "hello", Options: &registryv1.RouteOptions{
				Cors: &registryv1.CorsPolicy{AllowOrigins: []string{"*"}, AllowCredentials: true}}})
			return err
		}, codes.InvalidArgument, "credentials cannot be allowed"},
		{"CORS origin with a path", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/c", Module: "hello", Options: &registryv1.RouteOptions{
				Cors: &registryv1.CorsPolicy{AllowOrigins: []string{"https://app.example/login"}}}})
			return err
		}, codes.InvalidArgument, "CORS origin"},
		{"CORS header that is no token", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/c", Module: "hello", Options: &registryv1.RouteOptions{
				Cors: &registryv1.CorsPolicy{AllowOrigins: []string{"https://a.example"}, AllowHeaders: []string{"X Bad"}}}})
			return err
		}, codes.InvalidArgument, "not a method or header name"},
		{"flag rule without the flag", func() error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/f", Module: "hello", Rules: []*registryv1.RuleSpec{
				{Kind: registryv1.MatchKind_MATCH_KIND_FLAG, Name: "ghost", Module: "hello"}}})
			return err
		}, codes.NotFound, `flag "ghost"`},
		{"bad flag name", func() error { _, _, err := c.SetFlag(ctx, "Not OK", true, ""); return err },
			codes.InvalidArgument, "flag name"},
		{"delete missing flag", func() error { _, err := c.DeleteFlag(ctx, "ghost"); return err },
			codes.NotFound, "ghost"},
		{"delete missing route", func() error { _, err := c.DeleteRoute(ctx, "", "/missing"); return err },
			codes.NotFound, "/missing"},
		{"fetch missing module", func() error { _, _, err := c.FetchModule(ctx, "sha256:"+strings.Repeat("0", 64)); return err },
			codes.NotFound, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if status.Code(err) != tt.code || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("exp %v mentioning %q, got %v", tt.code, tt.msg, err)
			}
			if after := snapshot(t, c); after != before {
				t.Fatalf("registry changed:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	if m, err := c.GetModule(ctx, "hello"); err != nil || m.Digest != hello.Module.Digest {
		t.Fatalf("exp hello intact, got %v, %v", m, err)
	}
}

// snapshot renders what the registry holds, for before/after comparison.
func snapshot(t *testing.T, c *client.Client) string {
	t.Helper()
	ctx := context.Background()
	mods, rev, err := c.ListModules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	routes, _, err := c.ListRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("rev=" + itoa(rev))
	for _, m := range mods {
		b.WriteString(" " + m.Name + "@" + m.Digest)
	}
	for _, r := range routes {
		b.WriteString(" " + r.Host + r.PathPrefix + "->" + r.ModuleDigest)
	}
	return b.String()
}
