package cli

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
)

// TestVarsAndSecrets: vars and secrets as an operator sets them; a
// secret's value never comes back, and a control plane without a data
// key refuses secrets, saying how to give it one.
func TestVarsAndSecrets(t *testing.T) {
	plain := startEnv(t)
	t.Setenv("NANOEDGE_TOKEN", plain.AdminToken)
	secretFile := filepath.Join(t.TempDir(), "api-key")
	const value = "sk_test_5e1f0a9b8c7d"
	os.WriteFile(secretFile, []byte(value+"\n"), 0o600)
	if code, _, errOut := run("secrets", "set", "app", "API_KEY", "--from-file", secretFile, "--controlplane", plain.CP.Addr()); code != 1 ||
		!strings.Contains(errOut, "failed precondition: no data key to seal secrets with (--secrets-key-file)") {
		t.Fatalf("secrets set without a data key: exit %d, %q", code, errOut)
	}

	key := make([]byte, 32)
	rand.Read(key)
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.API.Keyring, _ = controlplane.NewKeyring(key)
	env := testenv.Start(t, cfg)
	t.Setenv("NANOEDGE_CONTROLPLANE", env.CP.Addr())
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	if code, out, errOut := run("vars", "set", "app", "GREETING=hello", "ORIGIN=https://o.example"); code != 0 || !regexp.MustCompile(`GREETING\s+var\s+hello`).MatchString(out) {
		t.Fatalf("vars set: exit %d, %q %q", code, out, errOut)
	}
	if code, out, errOut := run("secrets", "set", "app", "API_KEY", "--from-file", secretFile); code != 0 || !strings.Contains(out, "(version 1, digest ") {
		t.Fatalf("secrets set: exit %d, %q %q", code, out, errOut)
	}
	for _, args := range [][]string{{"vars", "list", "app"}, {"secrets", "list", "app", "-o", "json"}, {"secrets", "list", "app", "-o", "yaml"}, {"audit"}} {
		code, out, errOut := run(args...)
		if code != 0 || strings.Contains(out+errOut, value) {
			t.Fatalf("%v: exit %d, or the secret shown: %q %q", args, code, out, errOut)
		}
	}
	if code, out, _ := run("vars", "unset", "app", "ORIGIN"); code != 0 || strings.Contains(out, "ORIGIN") {
		t.Fatalf("vars unset: exit %d, %q", code, out)
	}
	if code, _, errOut := run("vars", "set", "app", "NOEQUALS"); code != 2 || !strings.Contains(errOut, `"NOEQUALS": want NAME=value`) {
		t.Fatalf("vars set without =: exit %d, %q", code, errOut)
	}
	if code, out, errOut := run("secrets", "rekey"); code != 0 || !strings.Contains(out, "resealed 0 secrets") {
		t.Fatalf("secrets rekey: exit %d, %q %q", code, out, errOut)
	}
}
