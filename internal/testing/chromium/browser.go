package chromium

import (
	"bufio"
	"bytes"
	"context"
	"io"
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
	tb.Fatalf("browser test: %v missing; run `make test-deps` (Debian chromium and npm ci in internal/testing/chromium)", missing)
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

// Session is a script running in the background, spoken to by lines.
type Session struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  *bufio.Scanner
	stderr *bytes.Buffer
}

// Start runs a script of this directory with node, for a conversation:
// Next reads its stdout line by line, Send writes to its stdin. It is
// killed at cleanup.
func Start(tb testing.TB, script string, args ...string) *Session {
	tb.Helper()
	Require(tb)
	cmd := exec.Command("node", append([]string{script}, args...)...)
	cmd.Dir = Dir()
	s := &Session{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = s.stderr
	var err error
	if s.stdin, err = cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	s.lines = bufio.NewScanner(out)
	s.lines.Buffer(make([]byte, 1<<20), 16<<20)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return s
}

// Next returns the script's next line of output; the test fails with the
// script's stderr if it ended instead.
func (s *Session) Next(tb testing.TB) string {
	tb.Helper()
	if !s.lines.Scan() {
		s.cmd.Wait()
		tb.Fatalf("the browser script ended: %v\nstderr:\n%s", s.lines.Err(), s.stderr.String())
	}
	return s.lines.Text()
}

// Send writes a line to the script's stdin.
func (s *Session) Send(tb testing.TB, line string) {
	tb.Helper()
	if _, err := io.WriteString(s.stdin, line+"\n"); err != nil {
		tb.Fatal(err)
	}
}
