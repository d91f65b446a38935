package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

func startEnv(t *testing.T) *testenv.Env {
	t.Helper()
	return testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
}

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestPushRouteList drives the CLI as a user does after `nanoedge dev`.
func TestPushRouteList(t *testing.T) {
	env := startEnv(t)
	addr := env.CP.Addr()
	dir := t.TempDir()
	wasmFile := filepath.Join(dir, "greeter.wasm")
	if err := os.WriteFile(wasmFile, guests.Build(t, guests.Hello), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "publisher.key")
	if err := os.WriteFile(keyFile, signing.MarshalPrivateKey(env.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NANOEDGE_TOKEN", env.Token(t, "ci", registryv1.Role_ROLE_PUBLISHER))
	code, out, errOut := run("push", "--controlplane", addr, "--key", keyFile, "--source", "git:abc123", filepath.Join(guests.Root(), "examples", "hello"))
	if code != 0 || !regexp.MustCompile(`^pushed hello@sha256:[0-9a-f]{64} \(\d+ bytes, revision \d+\)\n$`).MatchString(out) {
		t.Fatalf("push dir: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	digest := strings.TrimPrefix(strings.Fields(out)[1], "hello@")
	// The same bytes from a file under another name: stored once already.
	code, out, _ = run("push", "--controlplane", addr, "--key", keyFile, "--name", "hello", wasmFile)
	if code != 0 || !strings.HasPrefix(out, "already stored hello@"+digest) {
		t.Fatalf("push file: exit %d, %q", code, out)
	}
	t.Setenv("NANOEDGE_CONTROLPLANE", addr)
	code, out, errOut = run("route", "set", "--path", "/api/", "--module", "hello@"+digest[:len("sha256:")+12])
	if code != 0 || !strings.HasPrefix(out, "route */api/ -> hello@"+digest) {
		t.Fatalf("route set: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = run("route", "list")
	if code != 0 || !regexp.MustCompile(`\*/api/\s+hello@sha256:[0-9a-f]{12}\s+-\s+-\s+\d+`).MatchString(out) || !strings.Contains(out, "(1 routes at revision") {
		t.Fatalf("route list: exit %d, %q", code, out)
	}
	code, out, _ = run("status")
	if code != 0 || !strings.Contains(out, "(1 modules at revision") || !strings.Contains(out, "/api/") || !strings.Contains(out, "git:abc123") {
		t.Fatalf("status: exit %d, %q", code, out)
	}
	if code, _, errOut := run("route", "set", "--path", "/api/", "--module", "hello", "--allow-outbound", "https://api.example.com/v1"); code != 2 ||
		!strings.Contains(errOut, `--allow-outbound: outbound: bad origin pattern "https://api.example.com/v1"`) {
		t.Fatalf("route set with a path as an origin: exit %d, %q", code, errOut)
	}
	if code, out, errOut := run("route", "set", "--path", "/api/", "--module", "hello", "--strict", "--timeout", "2s",
		"--allow-outbound", "https://api.example.com", "--allow-outbound", "https://*.cdn.example.com", "--outbound-max-calls", "4",
		"--cors-origin", "https://app.example", "--cors-method", "PUT", "--cors-max-age", "10m", "--access-log", "--trace"); code != 0 {
		t.Fatalf("route set with options: %d %q %q", code, out, errOut)
	}
	routes, _, err := env.Publisher.ListRoutes(context.Background())
	if err != nil || len(routes) != 1 {
		t.Fatalf("routes: %v %v", routes, err)
	}
	if o := routes[0].Options; !o.StrictIsolation || o.TimeoutMs != 2000 || !o.AccessLog || !o.Trace ||
		o.Cors.GetAllowOrigins()[0] != "https://app.example" || o.Cors.GetAllowMethods()[0] != "PUT" || o.Cors.GetMaxAgeSeconds() != 600 ||
		strings.Join(o.Outbound.GetAllow(), " ") != "https://api.example.com https://*.cdn.example.com" || o.Outbound.GetMaxCalls() != 4 {
		t.Fatalf("route options %v", o)
	}
	code, out, _ = run("route", "rollback", "--path", "/api/")
	if code != 0 || !strings.Contains(out, "route */api/ rolled back to hello@") {
		t.Fatalf("route rollback: exit %d, %q", code, out)
	}
	code, out, errOut = run("flags", "set", "beta", "on", "--description", "the new look")
	if code != 0 || !regexp.MustCompile(`^flag beta on \(revision \d+\)\n$`).MatchString(out) {
		t.Fatalf("flags set: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = run("route", "set", "--path", "/api/", "--module", "hello", "--rule", "flag:beta=>hello")
	if code != 0 || !strings.Contains(out, "rule  flag beta on => hello@sha256:") {
		t.Fatalf("route set with a flag rule: exit %d, %q %q", code, out, errOut)
	}
	code, out, _ = run("flags", "list")
	if code != 0 || !regexp.MustCompile(`beta\s+on\s+\d+\s+the new look`).MatchString(out) {
		t.Fatalf("flags list: exit %d, %q", code, out)
	}
	if code, _, errOut = run("flags", "delete", "beta"); code != 1 || !strings.Contains(errOut, "nanoedge flags delete: failed precondition: ") {
		t.Fatalf("flags delete while a route follows it: exit %d, %q", code, errOut)
	}
	code, out, _ = run("route", "delete", "--path", "/api/")
	if code != 0 || !strings.Contains(out, "route */api/ deleted") {
		t.Fatalf("route delete: exit %d, %q", code, out)
	}
	if code, out, errOut = run("flags", "delete", "beta"); code != 0 || !strings.HasPrefix(out, "flag beta deleted") {
		t.Fatalf("flags delete: exit %d, %q %q", code, out, errOut)
	}
	// The only module is the newest of its name: garbage collection keeps it.
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	code, out, _ = run("modules", "gc", "--dry-run")
	if code != 0 || !strings.Contains(out, "would delete 0 modules") {
		t.Fatalf("modules gc: exit %d, %q", code, out)
	}
}

func TestErrorsAreClear(t *testing.T) {
	env := startEnv(t)
	addr := env.CP.Addr()
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	notWasm := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(notWasm, []byte("hello"), 0o600)
	tests := []struct {
		args   []string
		code   int
		stderr string
	}{
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"rute"}, 2, `did you mean "route"?`},
		{[]string{"version", "extra"}, 2, "unexpected arguments extra"},
		{[]string{"push", "--controlplane", addr}, 2, "nanoedge push: missing the module: a Go package directory or a .wasm file\nRun 'nanoedge push --help' for usage."},
		{[]string{"push", "--controlplane", addr, notWasm}, 1, "nanoedge push: permission denied: module is unsigned"},
		{[]string{"push", "--controlplane", addr, "/no/such/file.wasm"}, 1, "no such file"},
		{[]string{"route", "set", "--controlplane", addr, "--path", "/x", "--module", "ghost"}, 1, "nanoedge route set: not found: module \"ghost\""},
		{[]string{"route", "frob"}, 2, `unknown command "frob" for "nanoedge route"; want one of delete, list, rollback, set`},
		{[]string{"route", "delete", "--controlplane", addr}, 2, "--path is required"},
		{[]string{"route", "delete", "--controlplane", addr, "--path", "/nope/"}, 1, "nanoedge route delete: not found: route /nope/"},
		{[]string{"route", "set", "--controlplane", addr, "--pathh", "/x"}, 2, "unknown flag: --pathh; did you mean --path?"},
		{[]string{"modules", "--controlplane", addr, "extra"}, 2, `unknown command "extra" for "nanoedge modules"`},
		{[]string{"flags", "set", "--controlplane", addr, "beta", "maybe"}, 2, `flag state "maybe": want on or off`},
		{[]string{"controlplane", "--log-format", "yaml"}, 2, `--log-format "yaml": want text or json`},
		{[]string{"worker", "--log-level", "loud"}, 2, `--log-level "loud"`},
		{[]string{"worker", "--max-requests-per-instance", "-1"}, 2, "--max-requests-per-instance must not be negative"},
		{[]string{"dev", "--recycle-memory-mb", "0"}, 2, "--recycle-memory-mb must be positive"},
		{[]string{"flags", "set", "--controlplane", addr, "Bad Name", "on"}, 1, "nanoedge flags set: invalid argument: flag name \"Bad Name\""},
		{[]string{"route", "list", "--controlplane", addr, "--token", "ne_0000000000000000_00000000000000000000000000000000"}, 1, "pass a token: --token-file FILE"},
		{[]string{"route", "list", "--controlplane", "127.0.0.1:1", "--call-timeout", "1s"}, 1, "is a control plane serving there?"},
		{[]string{"route", "set", "--controlplane", addr, "--path", "/x", "--module", "m", "--rule", "flag:beta~x=>m"}, 1, "flag:NAME=>MODULE"},
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

// TestKeysSignTokensAudit walks a publisher's and an operator's first day.
func TestKeysSignTokensAudit(t *testing.T) {
	env := startEnv(t)
	dir := t.TempDir()
	t.Setenv("NANOEDGE_CONTROLPLANE", env.CP.Addr())
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	keyFile := filepath.Join(dir, "ci.key")
	code, out, _ := run("keys", "generate", "--out", keyFile)
	if code != 0 || !strings.Contains(out, "public key: ed25519:") {
		t.Fatalf("keys generate: %d %q", code, out)
	}
	pub := strings.TrimSpace(out[strings.Index(out, "public key: ")+len("public key: "):])
	if code, out, errOut := run("keys", "add", "--name", "ci2", "--public-key", pub); code != 0 || !strings.Contains(out, "trusted ed25519:") {
		t.Fatalf("keys add: %d %q %q", code, out, errOut)
	}
	wasmFile := filepath.Join(dir, "app.wasm")
	os.WriteFile(wasmFile, guests.Build(t, guests.Echo), 0o600)
	if code, out, errOut := run("sign", "--key", keyFile, wasmFile); code != 0 || !strings.HasPrefix(out, "signed app@sha256:") {
		t.Fatalf("sign: %d %q %q", code, out, errOut)
	}
	// push picks up app.wasm.sig; no key needed at push time.
	if code, out, errOut := run("push", wasmFile); code != 0 || !strings.HasPrefix(out, "pushed app@") {
		t.Fatalf("push signed file: %d %q %q", code, out, errOut)
	}
	// A signature bound to another name is refused.
	if code, _, errOut := run("push", "--name", "renamed", wasmFile); code != 1 || !strings.Contains(errOut, "signature does not verify") {
		t.Fatalf("push under another name: %d %q", code, errOut)
	}
	code, secret, _ := run("tokens", "create", "--name", "viewer", "--role", "reader")
	if code != 0 || !strings.HasPrefix(secret, "ne_") {
		t.Fatalf("tokens create: %d %q", code, secret)
	}
	if code, _, errOut := run("push", "--token", strings.TrimSpace(secret), wasmFile); code != 1 || !strings.Contains(errOut, "permission denied") || !strings.Contains(errOut, "tokens create --role") {
		t.Fatalf("reader push: exp PermissionDenied, got %d %q", code, errOut)
	}
	if code, out, _ := run("modules", "--token", strings.TrimSpace(secret)); code != 0 || !strings.Contains(out, "app") {
		t.Fatalf("reader list: %d %q", code, out)
	}
	code, out, _ = run("keys", "list")
	if code != 0 || !strings.Contains(out, "ci2") {
		t.Fatalf("keys list: %d %q", code, out)
	}
	var id string
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[1] == "ci2" {
			id = f[0]
		}
	}
	if code, out, errOut := run("keys", "revoke", id); code != 0 || !strings.Contains(out, "revoked "+id) {
		t.Fatalf("keys revoke: %d %q %q", code, out, errOut)
	}
	if code, _, errOut := run("push", "--name", "app", wasmFile+".again"); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("exp a missing file error, got %d %q", code, errOut)
	}
	os.WriteFile(wasmFile, append(guests.Build(t, guests.Echo), 0, 0), 0o600) // new bytes
	run("sign", "--key", keyFile, wasmFile)
	if code, _, errOut := run("push", wasmFile); code != 1 || !strings.Contains(errOut, "was revoked") {
		t.Fatalf("push with a revoked key: %d %q", code, errOut)
	}
	code, out, _ = run("audit")
	for _, want := range []string{"create_token", "add_key", "put_module", "revoke_key", "admin"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("audit: exp %q in %q", want, out)
		}
	}
}

// TestEveryCommandHasHelp parses each command's flags: a clash between
// flag sets would panic here rather than in an operator's hands.
func TestVersion(t *testing.T) {
	code, out, _ := run("version")
	if code != 0 || !regexp.MustCompile(`^nanoedge \S+ \(go[\d.]+\S*, \w+/\w+, engines: wazero`).MatchString(out) {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

// TestEveryCommandHasHelp: every command, group or not, prints its help
// and exits 0 for -h, --help and 'help <command>'; a group alone prints
// its help too.
func TestEveryCommandHasHelp(t *testing.T) {
	var paths [][]string
	var walk func(c *cobra.Command, path []string)
	walk = func(c *cobra.Command, path []string) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" {
				continue
			}
			p := append(append([]string(nil), path...), sub.Name())
			paths = append(paths, p)
			walk(sub, p)
		}
	}
	walk((&env{}).root(), nil)
	if len(paths) < 40 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, p := range paths {
		t.Run(strings.Join(p, " "), func(t *testing.T) {
			for _, args := range [][]string{append(append([]string(nil), p...), "-h"), append(append([]string(nil), p...), "--help"), append([]string{"help"}, p...)} {
				code, out, errOut := run(args...)
				if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "nanoedge "+strings.Join(p, " ")) {
					t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
				}
			}
		})
	}
	for _, g := range []string{"route", "keys", "tokens", "cluster", "rollout", "certs"} {
		if code, out, _ := run(g); code != 0 || !strings.Contains(out, "Available Commands:") {
			t.Errorf("%s alone: exit %d, %q", g, code, out)
		}
	}
	if code, out, _ := run("--version"); code != 0 || !strings.HasPrefix(out, "nanoedge ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
}

// TestCompletion: the completion scripts come out for each shell, and
// completing a command line offers commands and flags.
func TestCompletion(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_nanoedge", "zsh": "#compdef nanoedge", "fish": "complete -c nanoedge"} {
		if code, out, errOut := run("completion", shell); code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, %d bytes, %q", shell, code, len(out), errOut)
		}
	}
	if code, out, _ := run("__complete", "rou"); code != 0 || !strings.Contains(out, "route") {
		t.Errorf("completing 'rou': %d %q", code, out)
	}
	if code, out, _ := run("__complete", "route", "set", "--mod"); code != 0 || !strings.Contains(out, "--module") {
		t.Errorf("completing 'route set --mod': %d %q", code, out)
	}
}

// TestTopShowsLiveTraffic: while traffic flows through a worker, `top`
// shows the route's version with a non-zero rate and its error rate.
func TestTopShowsLiveTraffic(t *testing.T) {
	env := startEnv(t)
	w := testenv.StartWorker(t, env.WorkerConfig())
	ctx := context.Background()
	mod := env.Upload(t, "hello", guests.Hello).Module
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	testenv.Traffic(t, w.URL()+"/hello", 5*time.Millisecond)
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	row := regexp.MustCompile(`\*/hello\s+hello@` + mod.Digest[7:19] + `\s+(\d+\.\d)\s+0\.00%\s+<=\d+ms\s+0\s+0\s+0\.0\s+0\s+1`)
	poll.Eventually(t, 15*time.Second, func() error {
		code, out, errOut := run("top", "--once", "--window", "5s", "--controlplane", env.CP.Addr())
		if code != 0 {
			return fmt.Errorf("exit %d: %s", code, errOut)
		}
		m := row.FindStringSubmatch(out)
		if m == nil || m[1] == "0.0" {
			return fmt.Errorf("no live row for /hello yet:\n%s", out)
		}
		t.Logf("top:\n%s", out)
		return nil
	})
	// The fleet view: the worker's build, its instances and their memory,
	// and its responses by status class.
	get := func(path string) {
		if resp, err := http.Get(w.URL() + path); err == nil {
			resp.Body.Close()
		}
	}
	get("/nowhere") // 404: no route, not counted against a version
	ws, err := env.Admin.Workers(ctx)
	if err != nil || len(ws) != 1 {
		t.Fatalf("workers: %v %v", ws, err)
	}
	rep := ws[0].Report
	if rep.Version == "" || len(rep.Modules) != 1 || rep.Modules[0].Instances < 1 || rep.Modules[0].MemoryBytes <= 0 ||
		rep.Modules[0].ModuleDigest != mod.Digest || len(rep.Versions) != 1 || rep.Versions[0].Successes == 0 ||
		rep.Versions[0].Successes+rep.Versions[0].ClientErrors+rep.Versions[0].ServerErrors+rep.Versions[0].Redirects != rep.Versions[0].Requests {
		t.Fatalf("worker report %v", rep)
	}
	code, out, errOut := run("status", "--controlplane", env.CP.Addr())
	t.Logf("status:\n%s", out)
	if code != 0 || !regexp.MustCompile(`\S+\s+(devel|v)\S*\s+\d+s\s+\d+\s+1\s+[1-9]\d*\s+[1-9][\d.]* MiB\s+[1-9]`).MatchString(out) {
		t.Fatalf("status: exit %d\n%s%s", code, out, errOut)
	}
}

// TestOutputJSON: with --output json, client commands print one JSON
// document scripts can read, with the field names of the API.
func TestOutputJSON(t *testing.T) {
	env := startEnv(t)
	dir := t.TempDir()
	wasmFile := filepath.Join(dir, "hello.wasm")
	if err := os.WriteFile(wasmFile, guests.Build(t, guests.Hello), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "publisher.key")
	if err := os.WriteFile(keyFile, signing.MarshalPrivateKey(env.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NANOEDGE_CONTROLPLANE", env.CP.Addr())
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	t.Setenv("NANOEDGE_OUTPUT", "json")
	decode := func(args ...string) map[string]any {
		t.Helper()
		code, out, errOut := run(args...)
		var v map[string]any
		if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q", args, code, out, errOut)
		}
		return v
	}
	pushed := decode("push", "--key", keyFile, wasmFile)
	digest, _ := pushed["module"].(map[string]any)["digest"].(string)
	if !strings.HasPrefix(digest, "sha256:") || pushed["created"] != true {
		t.Fatalf("push: %v", pushed)
	}
	set := decode("route", "set", "--path", "/api/", "--module", "hello")
	if r := set["route"].(map[string]any); r["path_prefix"] != "/api/" || r["module_digest"] != digest {
		t.Fatalf("route set: %v", set)
	}
	list := decode("route", "list")
	if routes := list["routes"].([]any); len(routes) != 1 || list["revision"].(float64) < 1 {
		t.Fatalf("route list: %v", list)
	}
	flag := decode("flags", "set", "beta", "on")
	if f := flag["flag"].(map[string]any); f["name"] != "beta" || f["enabled"] != true {
		t.Fatalf("flags set: %v", flag)
	}
	status := decode("status")
	if len(status["modules"].([]any)) != 1 || len(status["routes"].([]any)) != 1 {
		t.Fatalf("status: %v", status)
	}
	tok := decode("tokens", "create", "--name", "ci", "--role", "publisher")
	if s, _ := tok["secret"].(string); !strings.HasPrefix(s, "ne_") || tok["token"].(map[string]any)["role"] != "ROLE_PUBLISHER" {
		t.Fatalf("tokens create: %v", tok)
	}
	if code, _, errOut := run("route", "list", "--output", "xml"); code != 2 || !strings.Contains(errOut, `--output "xml": want text, json or yaml`) {
		t.Fatalf("unknown output: exit %d %q", code, errOut)
	}
	// Every number is a number, whatever its width in the API.
	mods := decode("modules")["modules"].([]any)
	if _, ok := mods[0].(map[string]any)["size"].(float64); !ok {
		t.Fatalf("module size is not a number: %v", mods[0])
	}
	// YAML says the same, and -o is --output.
	code, out, _ := run("route", "list", "-o", "yaml")
	var y map[string]any
	if code != 0 || yaml.Unmarshal([]byte(out), &y) != nil || len(y["routes"].([]any)) != 1 {
		t.Fatalf("route list -o yaml: exit %d, %q", code, out)
	}
	code, out, _ = run("version", "-o", "json")
	var v map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil || v["version"] == "" || len(v["engines"].([]any)) == 0 {
		t.Fatalf("version -o json: exit %d, %q", code, out)
	}
}

// TestConfigFile: flags come from --config, then NANOEDGE_ variables, then
// the command line, each winning over the one before.
func TestConfigFile(t *testing.T) {
	env := startEnv(t)
	env.Upload(t, "hello", guests.Hello)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "nanoedge.yaml")
	write := func(s string) {
		if err := os.WriteFile(cfg, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("controlplane: %s\ntoken: %s\noutput: json\npath: /cfg/\nmodule: hello\ncors-origin:\n  - https://a.example\n  - https://b.example\ntimeout: 2s\n",
		env.CP.Addr(), env.AdminToken))
	if code, out, errOut := run("route", "set", "--config", cfg); code != 0 || !strings.Contains(out, `"path_prefix": "/cfg/"`) {
		t.Fatalf("route set from a config file: exit %d %q %q", code, out, errOut)
	}
	routes, _, err := env.Admin.ListRoutes(context.Background())
	if err != nil || len(routes) != 1 || len(routes[0].Options.GetCors().GetAllowOrigins()) != 2 || routes[0].Options.TimeoutMs != 2000 {
		t.Fatalf("route from the config file: %v %v", routes, err)
	}
	t.Setenv("NANOEDGE_CONFIG", cfg)
	if code, out, _ := run("route", "list"); code != 0 || !strings.HasPrefix(out, "{") {
		t.Fatalf("NANOEDGE_CONFIG: exit %d %q", code, out)
	}
	t.Setenv("NANOEDGE_OUTPUT", "text") // the environment beats the file
	if code, out, _ := run("route", "list"); code != 0 || !strings.Contains(out, "(1 routes at revision") {
		t.Fatalf("env over config: exit %d %q", code, out)
	}
	if code, out, _ := run("route", "list", "--output", "json"); code != 0 || !strings.HasPrefix(out, "{") { // flags beat both
		t.Fatalf("flag over env: exit %d %q", code, out)
	}
	write("controlplane: x\nhttp-addr: :8080\ntimeuot: 2s\n") // http-addr: for other commands
	if code, _, errOut := run("route", "set"); code != 2 || !strings.Contains(errOut, `"timeuot" is not a flag of nanoedge route set; did you mean "timeout"?`) {
		t.Fatalf("typo in the config file: exit %d %q", code, errOut)
	}
}
