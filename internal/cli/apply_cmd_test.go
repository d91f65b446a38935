package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/signing"
	"github.com/nanoedge/nanoedge/server"
)

// clientEnv starts a control plane and a worker, and points the
// commands run here at it as a publisher would be (token, signing key);
// it returns them and a directory to work in.
func clientEnv(t *testing.T) (*testenv.Env, *server.Worker, string) {
	t.Helper()
	env := startEnv(t)
	w := testenv.StartWorker(t, env.WorkerConfig())
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "publisher.key")
	if err := os.WriteFile(keyFile, signing.MarshalPrivateKey(env.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NANOEDGE_CONTROLPLANE", env.CP.Addr())
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	t.Setenv("NANOEDGE_KEY", keyFile)
	return env, w, dir
}

// TestNewApplyDiff is the loop a team runs: scaffold a handler with
// 'new', push and route it with 'apply', see nothing left to do on a
// second apply, change the file, 'diff' it, apply again, prune.
func TestNewApplyDiff(t *testing.T) {
	env, w, dir := clientEnv(t)
	env.Upload(t, "echo", guests.Echo)

	app := filepath.Join(dir, "greeter")
	code, out, errOut := run("new", "go", app, "--sdk", guests.Root())
	if code != 0 || !strings.Contains(out, "created "+app+" (go)") {
		t.Fatalf("new go: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := run("new", "go", app); code != 1 || !strings.Contains(errOut, "is not empty") {
		t.Fatalf("new into a full directory: exit %d %q", code, errOut)
	}
	if code, _, errOut := run("new", "rust", filepath.Join(dir, "x")); code != 2 || !strings.Contains(errOut, `unknown template "rust"; want c, go`) {
		t.Fatalf("new with an unknown template: exit %d %q", code, errOut)
	}
	config := filepath.Join(app, "nanoedge.yaml")
	if code, out, errOut := run("diff", "-f", config); code != 1 || !strings.Contains(out, "^ module greeter: sha256:") || !strings.Contains(out, "+ route */greeter/: greeter@sha256:") {
		t.Fatalf("diff before the first apply: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut = run("apply", "-f", config)
	if code != 0 || !strings.Contains(out, "applied 2 changes") {
		t.Fatalf("apply: exit %d, %q %q", code, out, errOut)
	}
	served := func(path, want string) {
		t.Helper()
		// Under the race detector, compiling a Go module takes a while.
		poll.Eventually(t, 2*time.Minute, func() error {
			resp, err := http.Get(w.URL() + path)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("X-Nanoedge-Version")+" "+string(b), want) {
				return fmt.Errorf("GET %s: %d %s %q", path, resp.StatusCode, resp.Header.Get("X-Nanoedge-Version"), b)
			}
			return nil
		})
	}
	served("/greeter/x", "Hello from greeter! You asked for /greeter/x")
	// Idempotent: a second apply changes nothing and says so; diff agrees.
	if code, out, _ := run("apply", "-f", config); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("second apply: exit %d, %q", code, out)
	}
	if code, out, _ := run("diff", "-f", config); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("diff after apply: exit %d, %q", code, out)
	}

	// The file grows a flag, a rule following it, a split route and options.
	os.WriteFile(config, []byte(`routes:
  - path: /greeter/
    module: greeter
    build: .
    timeout: 2s
    access_log: true
    rules:
      - kind: flag
        name: beta
        module: echo
  - path: /split/
    versions:
      - module: greeter
        weight: 90
      - module: echo
        weight: 10
    sticky: cookie:uid
    cors:
      origins: [https://app.example]
      max_age: 10m
    outbound:
      allow: [https://api.example.com]
      max_calls: 5
flags:
  - name: beta
    enabled: true
    description: the new greeting
`), 0o644)
	code, out, _ = run("diff", "-f", config, "-o", "json")
	if code != 1 || !strings.Contains(out, `"action": "create"`) || !strings.Contains(out, `"kind": "flag"`) {
		t.Fatalf("diff -o json: exit %d, %q", code, out)
	}
	code, out, errOut = run("apply", "-f", config)
	if code != 0 || !strings.Contains(out, "+ flag beta: on") || !strings.Contains(out, "~ route */greeter/") || !strings.Contains(out, "+ route */split/") {
		t.Fatalf("apply of the grown file: exit %d, %q %q", code, out, errOut)
	}
	served("/greeter/y", "echo@sha256:") // the flag is on: the rule sends /greeter/ to echo
	if code, out, _ := run("apply", "-f", config); code != 0 || !strings.Contains(out, "no changes") {
		t.Fatalf("apply of the grown file, again: exit %d, %q", code, out)
	}
	code, out, _ = run("route", "list")
	if code != 0 || !strings.Contains(out, "90% greeter@") || !strings.Contains(out, "flag beta on => echo@") || !strings.Contains(out, "timeout 2000 ms") ||
		!strings.Contains(out, "outbound https://api.example.com") {
		t.Fatalf("route list after apply: %q", out)
	}

	// What the file no longer lists stays, unless pruned.
	os.WriteFile(config, []byte("routes:\n  - path: /greeter/\n    module: greeter\n    build: .\n"), 0o644)
	code, out, _ = run("apply", "-f", config)
	if code != 0 || strings.Contains(out, "- route */split/") {
		t.Fatalf("apply without --prune: exit %d, %q", code, out)
	}
	code, out, errOut = run("apply", "-f", config, "--prune")
	if code != 0 || !strings.Contains(out, "- route */split/") || !strings.Contains(out, "- flag beta") {
		t.Fatalf("apply --prune: exit %d, %q %q", code, out, errOut)
	}

	// A bad file is refused before anything is called, naming the problem.
	for _, c := range []struct{ file, want string }{
		{"routes:\n  - path: /a/\n    modul: x\n", `unknown field "modul"`},
		{"routes:\n  - path: /a/\n", "give either module or versions"},
		{"routes:\n  - path: /a/\n    module: x\n  - path: /a/\n    module: y\n", "listed twice"},
		{"routes:\n  - path: /a/\n    module: x\n    timeout: soon\n", "invalid duration"},
		{"routes:\n  - path: /a/\n    module: x\n    outbound:\n      allow: [api.example.com]\n", "bad origin pattern"},
		{"routes:\n  - path: /a/\n    module: x\n    rules:\n      - kind: smell\n        module: y\n", "want kind header, cookie, query, ua or flag"},
	} {
		bad := filepath.Join(dir, "bad.yaml")
		os.WriteFile(bad, []byte(c.file), 0o644)
		if code, _, errOut := run("apply", "-f", bad); code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("apply of %q: exit %d, %q; want %q", c.file, code, errOut, c.want)
		}
	}
	if code, _, errOut := run("apply"); code != 2 || !strings.Contains(errOut, "-f/--file is required") {
		t.Errorf("apply without a file: exit %d %q", code, errOut)
	}
}

// TestNewCHandler: the C template builds with its Makefile and serves
// once applied.
func TestNewCHandler(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		t.Fatal("clang missing: run make test-deps")
	}
	_, w, dir := clientEnv(t)
	app := filepath.Join(dir, "cgreet")
	if code, out, errOut := run("new", "c", app); code != 0 || !strings.Contains(out, "make -C "+app) {
		t.Fatalf("new c: exit %d, %q %q", code, out, errOut)
	}
	if out, err := exec.Command("make", "-C", app).CombinedOutput(); err != nil {
		t.Fatalf("make: %v\n%s", err, out)
	}
	if code, out, errOut := run("apply", "-f", filepath.Join(app, "nanoedge.yaml")); code != 0 || !strings.Contains(out, "applied 2 changes") {
		t.Fatalf("apply: exit %d, %q %q", code, out, errOut)
	}
	poll.Eventually(t, 20*time.Second, func() error {
		resp, err := http.Get(w.URL() + "/cgreet/hi")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(b) != "Hello from cgreet (C)! You asked for /cgreet/hi\n" {
			return fmt.Errorf("GET /cgreet/hi: %d %q", resp.StatusCode, b)
		}
		return nil
	})
}

// TestSchemaMatchesTheConfig: docs/nanoedge.schema.json names exactly the
// fields readEdgeConfig reads, object by object, and forbids others; the
// templates' files read cleanly.
func TestSchemaMatchesTheConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(guests.Root(), "docs", "nanoedge.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatalf("schema: %v", err)
	}
	defs := schema["$defs"].(map[string]any)
	// obj returns a schema object's properties, following $ref and items.
	var obj func(s map[string]any) map[string]any
	obj = func(s map[string]any) map[string]any {
		if ref, ok := s["$ref"].(string); ok {
			return obj(defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any))
		}
		if items, ok := s["items"].(map[string]any); ok {
			return obj(items)
		}
		if s["additionalProperties"] != false {
			t.Errorf("a schema object allows unknown fields: %v", s)
		}
		return s["properties"].(map[string]any)
	}
	var check func(where string, typ reflect.Type, props map[string]any)
	check = func(where string, typ reflect.Type, props map[string]any) {
		fields := map[string]reflect.Type{}
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			fields[name] = typ.Field(i).Type
		}
		for name, ft := range fields {
			p, ok := props[name].(map[string]any)
			if !ok {
				t.Errorf("%s.%s: not in the schema", where, name)
				continue
			}
			for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				check(where+"."+name, ft, obj(p))
			}
		}
		for name := range props {
			if _, ok := fields[name]; !ok {
				t.Errorf("%s.%s: in the schema, not read", where, name)
			}
		}
	}
	check("nanoedge.yaml", reflect.TypeOf(edgeConfig{}), schema["properties"].(map[string]any))

	for _, tmpl := range templateNames() {
		dir := t.TempDir()
		src, _ := templates.ReadFile("templates/" + tmpl + "/nanoedge.yaml.tmpl")
		text := strings.ReplaceAll(string(src), "{{.Name}}", "x")
		if err := os.WriteFile(filepath.Join(dir, "nanoedge.yaml"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readEdgeConfig(filepath.Join(dir, "nanoedge.yaml")); err != nil {
			t.Errorf("template %s's nanoedge.yaml: %v", tmpl, err)
		}
	}
}
