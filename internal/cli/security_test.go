package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestSecretsNeverPrinted: with secrets in the environment, a flag typo
// and -h print usage, never the secrets.
func TestSecretsNeverPrinted(t *testing.T) {
	const token = "ne_0123456789abcdef_0123456789abcdef0123456789abcdef"
	const pin = "pin-secret-that-must-not-show"
	t.Setenv("NANOEDGE_TOKEN", token)
	t.Setenv("NANOEDGE_PIN_SECRET", pin)
	t.Setenv("NANOEDGE_BOOTSTRAP_TOKEN", token)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"route", "set", "--pathh", "/x"}, 2},
		{[]string{"route", "list", "-h"}, 0},
		{[]string{"worker", "--no-such-flag"}, 2},
		{[]string{"worker", "-h"}, 0},
		{[]string{"controlplane", "--no-such-flag"}, 2},
		{[]string{"dev", "-h"}, 0},
		{[]string{"tokens", "list", "--typo"}, 2},
		{[]string{"help", "worker"}, 0},
	} {
		args := c.args
		code, out, errOut := run(args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d", args, code, c.code)
		}
		if all := out + errOut; strings.Contains(all, token) || strings.Contains(all, pin) || strings.Contains(all, "0123456789abcdef0123") {
			t.Errorf("%v printed a secret:\n%s", args, all)
		}
	}
}

// TestTokenFile: --token-file (or NANOEDGE_TOKEN_FILE) authenticates like
// --token; an unreadable or empty file is an error naming the flag.
func TestTokenFile(t *testing.T) {
	env := startEnv(t)
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(env.AdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run("tokens", "list", "--controlplane", env.CP.Addr(), "--token-file", file); code != 0 || !strings.Contains(out, "admin") {
		t.Fatalf("--token-file: exit %d, %q %q", code, out, errOut)
	}
	t.Setenv("NANOEDGE_TOKEN_FILE", file)
	if code, out, errOut := run("tokens", "list", "--controlplane", env.CP.Addr()); code != 0 || !strings.Contains(out, "admin") {
		t.Fatalf("NANOEDGE_TOKEN_FILE: exit %d, %q %q", code, out, errOut)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	if code, _, errOut := run("tokens", "list", "--controlplane", env.CP.Addr(), "--token-file", empty); code != 1 || !strings.Contains(errOut, "--token-file") {
		t.Fatalf("empty token file: exit %d, %q", code, errOut)
	}
}

// TestCertsAndRaftTLS makes a CA and node certificates with 'nanoedge
// certs', starts a control plane with Raft over mutual TLS from them, and
// checks that a node refuses plain Raft beyond loopback unless told
// --insecure.
func TestCertsAndRaftTLS(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := run("certs", "ca", "--dir", dir); code != 0 || !strings.Contains(out, "ca.pem") {
		t.Fatalf("certs ca: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run("certs", "ca", "--dir", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Fatalf("a second CA over the first: %d %q", code, errOut)
	}
	if code, out, errOut := run("certs", "node", "--dir", dir, "--id", "n1", "--host", "127.0.0.1"); code != 0 || !strings.Contains(out, "n1.pem") {
		t.Fatalf("certs node: %d %q %q", code, out, errOut)
	}
	if code, _, _ := run("certs", "node", "--dir", dir); code != 2 {
		t.Fatalf("certs node without --id: exit %d, want 2", code)
	}

	// Plain Raft on every interface is refused, and the error says why.
	code, _, errOut := run("controlplane", "--data-dir", t.TempDir(), "--raft-addr", "0.0.0.0:0", "--grpc-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(errOut, "mutual TLS") || !strings.Contains(errOut, "--insecure") {
		t.Fatalf("plain raft on 0.0.0.0: exit %d, %q", code, errOut)
	}
	code, _, errOut = run("controlplane", "--data-dir", t.TempDir(), "--raft-addr", "127.0.0.1:0", "--grpc-addr", "0.0.0.0:0")
	if code != 1 || !strings.Contains(errOut, "API address") {
		t.Fatalf("plain API on 0.0.0.0: exit %d, %q", code, errOut)
	}
	// A certificate for another node is refused at start.
	code, _, errOut = run("controlplane", "--data-dir", t.TempDir(), "--node-id", "n2", "--raft-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0",
		"--raft-tls-ca", filepath.Join(dir, "ca.pem"), "--raft-tls-cert", filepath.Join(dir, "n1.pem"), "--raft-tls-key", filepath.Join(dir, "n1-key.pem"))
	if code != 2 && code != 1 || !strings.Contains(errOut, `for node "n1"`) {
		t.Fatalf("n2 with n1's certificate: exit %d, %q", code, errOut)
	}

	// With its own certificate, the node runs Raft on every interface.
	dataDir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- MainContext(ctx, []string{"controlplane", "--data-dir", dataDir, "--node-id", "n1", "--raft-addr", "0.0.0.0:0", "--grpc-addr", "127.0.0.1:0",
			"--raft-tls-ca", filepath.Join(dir, "ca.pem"), "--raft-tls-cert", filepath.Join(dir, "n1.pem"), "--raft-tls-key", filepath.Join(dir, "n1-key.pem")}, io.Discard, &stderr)
	}()
	t.Cleanup(func() { cancel(); <-done })
	poll.Eventually(t, 30*time.Second, func() error {
		if !strings.Contains(stderr.String(), "control plane ready") {
			return errString("not ready: " + stderr.String())
		}
		return nil
	})
	addr := field(stderr.String(), "grpc=")
	tok, _ := os.ReadFile(filepath.Join(dataDir, "admin.token"))
	c, err := client.New(addr, client.WithToken(strings.TrimSpace(string(tok))))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.SetFlag(context.Background(), "up", true, ""); err != nil {
		t.Fatalf("a write through the TLS node: %v", err)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// field returns the value after key in a log line ("grpc=127.0.0.1:1234").
func field(log, key string) string {
	i := strings.Index(log, key)
	if i < 0 {
		return ""
	}
	return strings.Fields(log[i+len(key):])[0]
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestClusterMembersShowEachNodesRevision: members lists the revision
// each node itself has applied, asked of that node.
func TestClusterMembersShowEachNodesRevision(t *testing.T) {
	env := startEnv(t)
	code, out, errOut := run("cluster", "members", "--controlplane", env.CP.Addr(), "--token", env.AdminToken, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var v struct {
		Nodes map[string]nodeHealth `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if h := v.Nodes[env.CP.Store.NodeID()]; !h.Answered || h.AppliedRevision < 1 || h.Health != "ok" || h.LastContactMS != 0 {
		t.Fatalf("exp the node's applied revision and health, got %+v", v.Nodes)
	}
	code, out, _ = run("cluster", "members", "--controlplane", env.CP.Addr(), "--token", env.AdminToken)
	if code != 0 || !strings.Contains(out, "APPLIED") || !strings.Contains(out, "HEALTH") || !regexp.MustCompile(`leader\s+\d+\s+ok`).MatchString(out) {
		t.Fatalf("text: %d %q", code, out)
	}
}

// TestStrayVariablesWarned: a NANOEDGE_ variable no command reads is
// named on stderr, with the nearest one meant; the command still runs.
func TestStrayVariablesWarned(t *testing.T) {
	t.Setenv("NANOEDGE_TOKNE", "x")
	t.Setenv("NANOEDGE_HTTP_ADDR", ":8080") // a worker's flag: not stray for route list
	code, out, errOut := run("version")
	if code != 0 || !strings.HasPrefix(out, "nanoedge ") {
		t.Fatalf("version: exit %d %q", code, out)
	}
	if !strings.Contains(errOut, "$NANOEDGE_TOKNE names no flag of any command; ignored (did you mean $NANOEDGE_TOKEN?)") || strings.Contains(errOut, "HTTP_ADDR") {
		t.Fatalf("stderr: %q", errOut)
	}
}
