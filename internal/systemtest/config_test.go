package systemtest

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/internal/cli"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

func dataKey(t *testing.T) []byte {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

// TestConfigReachesHandlers: variables and secrets set on a module name
// reach its handlers' environment, change without a redeploy, and a
// secret's value is never readable back: not through the API or the CLI
// (any role but a worker's), not in the audit trail, the logs, the Raft
// log, the state database, a backup or the worker's saved state.
func TestConfigReachesHandlers(t *testing.T) {
	var logs logLines
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.Registry.Logger, cfg.API.Logger = logger, logger
	var err error
	if cfg.API.Keyring, err = controlplane.NewKeyring(dataKey(t)); err != nil {
		t.Fatal(err)
	}
	env := testenv.Start(t, cfg)
	wcfg := env.WorkerConfig()
	wcfg.Worker.Logger = logger
	stateDir := t.TempDir()
	wcfg.Worker.StateDir = stateDir
	workers := []string{testenv.StartWorker(t, wcfg).URL()}
	// The second worker starts instances from a snapshot taken before any
	// configuration: the guest SDK reads the environment again.
	wcfg2 := env.WorkerConfig()
	wcfg2.Engine.PreInitialize = true
	workers = append(workers, testenv.StartWorker(t, wcfg2).URL())
	env.Upload(t, "echo", guests.Echo)
	ctx := ctxT(t)
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/e/", Module: "echo"}); err != nil {
		t.Fatal(err)
	}
	for _, w := range workers {
		waitServed(t, w+"/e/x", func(r response) bool { return r.status == 200 })
	}

	const first, second = "sk_live_first_4f1c9a7e2b", "sk_live_second_8d3e6b0a5c"
	set := func(vars map[string]string, secrets map[string]string) int64 {
		t.Helper()
		ch := client.ConfigChange{SetVars: vars, SetSecrets: map[string][]byte{}}
		for k, v := range secrets {
			ch.SetSecrets[k] = []byte(v)
		}
		c, rev, err := env.Publisher.SetConfig(ctx, "echo", ch)
		if err != nil {
			t.Fatal(err)
		}
		for name, sec := range c.GetSecrets() {
			if sec.Value != nil || sec.Sealed != nil {
				t.Fatalf("SetConfig answered secret %s's value or sealed bytes", name)
			}
		}
		return rev
	}
	// served waits until every worker answers with the environment want.
	served := func(want map[string]string, rev int64) time.Duration {
		t.Helper()
		start := time.Now()
		q := "/e/x?"
		for k := range want {
			q += "env=" + k + "&"
		}
		for _, w := range workers {
			poll.Eventually(t, 30*time.Second, func() error {
				r := get(t, w+q)
				for k, v := range want {
					if got := r.header.Get("X-Echo-Env-" + k); got != v {
						return fmt.Errorf("%s: %s = %q, want %q", w, k, got, v)
					}
				}
				if got := r.header.Get("X-Nanoedge-Config"); got != strconv.FormatInt(rev, 10) {
					return fmt.Errorf("%s: X-Nanoedge-Config %q, want %d", w, got, rev)
				}
				return nil
			})
		}
		return time.Since(start)
	}
	rev := set(map[string]string{"GREETING": "hello", "ORIGIN": "https://origin.example"}, map[string]string{"API_KEY": first})
	served(map[string]string{"GREETING": "hello", "API_KEY": first, "ORIGIN": "https://origin.example"}, rev)

	// A change reaches running handlers, no redeploy: new instances start
	// with it, old ones are retired.
	rev = set(map[string]string{"GREETING": "bonjour"}, map[string]string{"API_KEY": second})
	took := served(map[string]string{"GREETING": "bonjour", "API_KEY": second}, rev)
	t.Logf("a configuration change reached both workers' handlers in %v", took)
	if _, rev, err = env.Publisher.SetConfig(ctx, "echo", client.ConfigChange{DeleteVars: []string{"ORIGIN"}}); err != nil {
		t.Fatal(err)
	}
	served(map[string]string{"ORIGIN": "-", "GREETING": "bonjour"}, rev)

	// Never readable back, but by a worker.
	got, err := env.Admin.GetConfig(ctx, "echo")
	if err != nil || got.Secrets["API_KEY"].GetVersion() != 2 || got.Secrets["API_KEY"].Digest == "" || got.Secrets["API_KEY"].Value != nil || got.Secrets["API_KEY"].Sealed != nil {
		t.Fatalf("GetConfig as admin: %v, %v", got, err)
	}
	for name, c := range map[string]*client.Client{"admin": env.Admin, "publisher": env.Publisher} {
		cfgs, _, err := c.ListConfigs(ctx)
		if err != nil || len(cfgs) != 1 || cfgs[0].Secrets["API_KEY"].Value != nil || cfgs[0].Secrets["API_KEY"].Sealed != nil {
			t.Fatalf("ListConfigs as %s gives the secret away: %v, %v", name, cfgs, err)
		}
	}
	worker := testenv.NewClient(t, env.CP.Addr(), env.WorkerToken)
	if cfgs, _, err := worker.ListConfigs(ctx); err != nil || string(cfgs[0].Secrets["API_KEY"].Value) != second {
		t.Fatalf("ListConfigs as a worker: %v, %v", cfgs, err)
	}
	var out, errOut bytes.Buffer
	if code := cli.MainContext(ctx, []string{"secrets", "list", "echo", "-o", "json", "--controlplane", env.CP.Addr(), "--token", env.AdminToken}, &out, &errOut); code != 0 {
		t.Fatalf("secrets list: %d %s", code, errOut.String())
	}
	audit, err := env.Admin.ListAudit(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var auditText strings.Builder
	for _, a := range audit {
		fmt.Fprintln(&auditText, a.Action, a.Detail)
	}
	if !strings.Contains(auditText.String(), "set secret API_KEY (version 2)") {
		t.Fatalf("the audit trail does not record the secret's change:\n%s", auditText.String())
	}
	var backup bytes.Buffer
	if _, err := env.Admin.SaveSnapshot(ctx, &backup); err != nil {
		t.Fatal(err)
	}
	places := map[string][]byte{"cli": out.Bytes(), "audit": []byte(auditText.String()), "logs": []byte(logs.String()), "backup": backup.Bytes()}
	for _, dir := range []string{env.DataDir, stateDir} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				places[p] = b
			}
			return nil
		})
	}
	if len(places) < 8 {
		t.Fatalf("only %d places searched", len(places))
	}
	for where, b := range places {
		for _, s := range []string{first, second} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("a secret's value is in %s", where)
			}
		}
	}
	if !bytes.Contains(places[filepath.Join(env.DataDir, "raft", "raft.db")], []byte("GREETING")) {
		t.Error("the Raft log does not hold the configuration at all: the search above proves nothing")
	}

	// Bounds and roles: a clear error, nothing stored, workers serving.
	many := map[string]string{}
	for i := range 65 {
		many[fmt.Sprintf("V%d", i)] = "x"
	}
	reader := testenv.NewClient(t, env.CP.Addr(), env.Token(t, "viewer", registryv1.Role_ROLE_READER))
	for _, c := range []struct {
		name string
		c    *client.Client
		ch   client.ConfigChange
		code codes.Code
	}{
		{"a value over 4 KiB", env.Publisher, client.ConfigChange{SetVars: map[string]string{"BIG": strings.Repeat("x", 5000)}}, codes.InvalidArgument},
		{"a secret over 4 KiB", env.Publisher, client.ConfigChange{SetSecrets: map[string][]byte{"BIG": bytes.Repeat([]byte("x"), 5000)}}, codes.InvalidArgument},
		{"a name no environment takes", env.Publisher, client.ConfigChange{SetVars: map[string]string{"1X=": "x"}}, codes.InvalidArgument},
		{"65 variables", env.Publisher, client.ConfigChange{SetVars: many}, codes.InvalidArgument},
		{"a var named like a secret", env.Publisher, client.ConfigChange{SetVars: map[string]string{"API_KEY": "x"}}, codes.InvalidArgument},
		{"a reader's token", reader, client.ConfigChange{SetVars: map[string]string{"X": "y"}}, codes.PermissionDenied},
	} {
		if _, _, err := c.c.SetConfig(ctx, "echo", c.ch); status.Code(err) != c.code {
			t.Errorf("%s: %v, want %s", c.name, err, c.code)
		}
	}
	if after, _ := env.Admin.GetConfig(ctx, "echo"); after.ModRevision != rev {
		t.Fatalf("a refused change changed the configuration: revision %d, was %d", after.ModRevision, rev)
	}
	served(map[string]string{"GREETING": "bonjour", "API_KEY": second}, rev)
}

// TestSecretsRekey: after the data key changes, secrets sealed by the
// old one still open while both are configured, 'rekey' reseals them,
// and then the old key can go.
func TestSecretsRekey(t *testing.T) {
	oldKey, newKey := dataKey(t), dataKey(t)
	dir := t.TempDir()
	cfg := testenv.ControlPlaneConfig(dir, "127.0.0.1:0")
	cfg.API.Keyring, _ = controlplane.NewKeyring(oldKey)
	env := testenv.Start(t, cfg)
	ctx := ctxT(t)
	if _, _, err := env.Publisher.SetConfig(ctx, "app", client.ConfigChange{SetSecrets: map[string][]byte{"TOKEN": []byte("t0k3n-value")}}); err != nil {
		t.Fatal(err)
	}
	restart := func(current []byte, older ...[]byte) *client.Client {
		t.Helper()
		env.CP.Close()
		c := testenv.ControlPlaneConfig(dir, "127.0.0.1:0")
		c.API.Keyring, _ = controlplane.NewKeyring(current, older...)
		env.CP = testenv.StartControlPlane(t, c)
		poll.Eventually(t, 10*time.Second, func() error { return env.CP.Store.WaitLeader(ctx) })
		return testenv.NewClient(t, env.CP.Addr(), env.WorkerToken)
	}
	worker := restart(newKey, oldKey)
	admin := testenv.NewClient(t, env.CP.Addr(), env.AdminToken)
	if cfgs, _, err := worker.ListConfigs(ctx); err != nil || string(cfgs[0].Secrets["TOKEN"].Value) != "t0k3n-value" {
		t.Fatalf("with the old key kept: %v, %v", cfgs, err)
	}
	resp, err := admin.RekeySecrets(ctx)
	if err != nil || resp.Resealed != 1 {
		t.Fatalf("rekey: %v, %v", resp, err)
	}
	if c, _ := admin.GetConfig(ctx, "app"); c.Secrets["TOKEN"].KeyId != resp.KeyId || c.Secrets["TOKEN"].Version != 1 {
		t.Fatalf("after rekey: %v (want key %s, version 1 kept)", c, resp.KeyId)
	}
	if again, err := admin.RekeySecrets(ctx); err != nil || again.Resealed != 0 {
		t.Fatalf("a second rekey: %v, %v", again, err)
	}
	worker = restart(newKey)
	if cfgs, _, err := worker.ListConfigs(ctx); err != nil || string(cfgs[0].Secrets["TOKEN"].Value) != "t0k3n-value" {
		t.Fatalf("with the new key alone after the rekey: %v, %v", cfgs, err)
	}
}
