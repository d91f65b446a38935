package browser

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Dir is the directory holding the scripts and their node_modules.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(file)
}

// Chromium is the browser the scripts launch.
func Chromium() string {
	if p := os.Getenv("NANOEDGE_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// Require fails the test, or skips it under -short, when Node.js,
// playwright-core or Chromium is missing.
func Require(tb testing.TB) {
	tb.Helper()
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node")
	}
	if _, err := os.Stat(filepath.Join(Dir(), "node_modules", "playwright-core")); err != nil {
		missing = append(missing, "playwright-core")
	}
	if _, err := os.Stat(Chromium()); err != nil {
		missing = append(missing, Chromium())
	}
	if len(missing) == 0 {
		return
	}
	if testing.Short() {
		tb.Skipf("browser test: %v missing", missing)
	}
	tb.Fatalf("browser test: %v missing; run `make browser-deps` (Debian chromium and npm ci in internal/browser)", missing)
}

// Run runs a script of this directory with node and returns its stdout;
// the test fails with the script's output if it exits non-zero.
func Run(tb testing.TB, timeout time.Duration, script string, args ...string) string {
	tb.Helper()
	Require(tb)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{script}, args...)...)
	cmd.Dir = Dir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("node %s: %v\nstdout:\n%s\nstderr:\n%s", script, err, stdout.String(), stderr.String())
	}
	return stdout.String()
}
