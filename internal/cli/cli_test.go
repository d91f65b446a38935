package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/internal/server"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
	"github.com/nanoedge/nanoedge/registry"
)

func startControlPlane(t *testing.T) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc := registry.DefaultConfig(t.TempDir())
	rc.RaftAddr, rc.Logger = "127.0.0.1:0", logger
	rc.HeartbeatTimeout, rc.ElectionTimeout = 100*time.Millisecond, 100*time.Millisecond
	api := controlplane.DefaultConfig()
	api.Logger = logger
	cp, err := server.StartControlPlane(context.Background(), server.ControlPlaneConfig{Registry: rc, API: api, GRPCAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cp.Close() })
	return cp.Addr()
}

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestPushRouteList drives the CLI as a user does after `nanoedge dev`.
func TestPushRouteList(t *testing.T) {
	addr := startControlPlane(t)
	dir := t.TempDir()
	wasmFile := filepath.Join(dir, "greeter.wasm")
	if err := os.WriteFile(wasmFile, wasmtest.Build(t, wasmtest.Hello), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run("push", "--controlplane", addr, filepath.Join(wasmtest.Root(), "examples", "hello"))
	if code != 0 || !regexp.MustCompile(`^pushed hello@sha256:[0-9a-f]{64} \(\d+ bytes, revision \d+\)\n$`).MatchString(out) {
		t.Fatalf("push dir: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	digest := strings.TrimPrefix(strings.Fields(out)[1], "hello@")
	// The same bytes from a file under another name: stored once already.
	code, out, _ = run("push", "--controlplane", addr, wasmFile)
	if code != 0 || !strings.HasPrefix(out, "already stored hello@"+digest) {
		t.Fatalf("push file: exit %d, %q", code, out)
	}
	t.Setenv("NANOEDGE_CONTROLPLANE", addr)
	code, out, errOut = run("route", "set", "--path", "/api/", "--module", "hello@"+digest[:len("sha256:")+12])
	if code != 0 || !strings.HasPrefix(out, "route /api/ -> hello@"+digest) {
		t.Fatalf("route set: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = run("route", "list")
	if code != 0 || !regexp.MustCompile(`\*\s+/api/\s+hello\s+sha256:`).MatchString(out) || !strings.Contains(out, "(1 routes at revision") {
		t.Fatalf("route list: exit %d, %q", code, out)
	}
	code, out, _ = run("status")
	if code != 0 || !strings.Contains(out, "(1 modules at revision") || !strings.Contains(out, "/api/") {
		t.Fatalf("status: exit %d, %q", code, out)
	}
	code, out, _ = run("route", "delete", "--path", "/api/")
	if code != 0 || !strings.Contains(out, "route /api/ deleted") {
		t.Fatalf("route delete: exit %d, %q", code, out)
	}
}

func TestErrorsAreClear(t *testing.T) {
	addr := startControlPlane(t)
	notWasm := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notWasm, []byte("hello"), 0o600)
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{}, 2, "Usage: nanoedge <command>"},
		{[]string{"push", "--controlplane", addr}, 2, "Usage: nanoedge push"},
		{[]string{"push", "--controlplane", addr, notWasm}, 1, "InvalidArgument"},
		{[]string{"push", "--controlplane", addr, "/no/such/file.wasm"}, 1, "no such file"},
		{[]string{"route", "set", "--controlplane", addr, "--path", "/x", "--module", "ghost"}, 1, "NotFound"},
		{[]string{"route", "frob"}, 2, `unknown subcommand "frob"`},
		{[]string{"modules", "--controlplane", addr, "extra"}, 2, "unexpected arguments extra"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, _, stderr := run(tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exp exit %d mentioning %q, got %d: %s", tt.code, tt.stderr, code, stderr)
			}
		})
	}
}
