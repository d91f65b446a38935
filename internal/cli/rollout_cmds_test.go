package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
)

// splitOf renders a route's split as "name=weight ..." (one module: "name=100").
func splitOf(t *testing.T, env *testenv.Env, path string) string {
	t.Helper()
	routes, _, err := env.Admin.ListRoutes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range routes {
		if r.PathPrefix != path {
			continue
		}
		if len(r.Versions) == 0 {
			return r.ModuleName + "=100"
		}
		var parts []string
		for _, v := range r.Versions {
			parts = append(parts, fmt.Sprintf("%s=%d", v.ModuleName, v.Weight))
		}
		return strings.Join(parts, " ")
	}
	t.Fatalf("no route %s", path)
	return ""
}

// TestRolloutStartAndRollback: what a rollout starts from and what a
// rollback restores after it. A rollout of a split route keeps the split's
// proportions (or starts above the canary's share); an aborted rollout
// leaves the route as before it, and 'route rollback' then undoes the
// operator's change before the rollout, never a rollout's step; after a
// successful rollout it returns to the route from before the rollout.
func TestRolloutStartAndRollback(t *testing.T) {
	env := startEnv(t)
	for name, src := range map[string]string{"hello": guests.Hello, "echo": guests.Echo, "page": guests.Page} {
		env.Upload(t, name, src)
	}
	t.Setenv("NANOEDGE_CONTROLPLANE", env.CP.Addr())
	t.Setenv("NANOEDGE_TOKEN", env.AdminToken)
	must := func(args ...string) string {
		t.Helper()
		code, out, errOut := run(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	hold := []string{"--steps", "10,100", "--interval", "1h"}

	// An abort, then a rollback: back past the rollout to hello.
	must("route", "set", "--path", "/app/", "--module", "hello")
	must("route", "set", "--path", "/app/", "--module", "page")
	if out := must(append([]string{"rollout", "start", "--path", "/app/", "--module", "echo"}, hold...)...); !strings.Contains(out, "started at 10% (from page@sha256:") {
		t.Fatalf("rollout start: %q", out)
	}
	if got := splitOf(t, env, "/app/"); got != "echo=10 page=90" {
		t.Fatalf("first step: %s", got)
	}
	if out := must("rollout", "abort", "--path", "/app/"); !strings.Contains(out, "aborted; back on page@") {
		t.Fatalf("abort: %q", out)
	}
	if got := splitOf(t, env, "/app/"); got != "page=100" {
		t.Fatalf("after the abort: %s", got)
	}
	if out := must("route", "rollback", "--path", "/app/"); !strings.Contains(out, "rolled back to hello@sha256:") {
		t.Fatalf("rollback after the abort: %q", out)
	}
	if got := splitOf(t, env, "/app/"); got != "hello=100" {
		t.Fatalf("after the rollback: %s, want hello as before the rollout's predecessor", got)
	}

	// A split route: the rollout keeps its proportions, the abort restores it exactly.
	must("route", "set", "--path", "/split/", "--version", "hello=90", "--version", "page=10")
	must("rollout", "start", "--path", "/split/", "--module", "echo", "--steps", "1,50,100", "--interval", "1h")
	if got := splitOf(t, env, "/split/"); got != "echo=1 hello=89 page=10" {
		t.Fatalf("split rollout's first step: %s", got)
	}
	must("rollout", "abort", "--path", "/split/")
	if got := splitOf(t, env, "/split/"); got != "hello=90 page=10" {
		t.Fatalf("split after the abort: %s", got)
	}

	// The canary already has 10%: the rollout starts at the first step above it.
	must("route", "set", "--path", "/canary/", "--version", "hello=90", "--version", "echo=10")
	if out := must("rollout", "start", "--path", "/canary/", "--module", "echo", "--interval", "1h"); !strings.Contains(out, "started at 25%") {
		t.Fatalf("rollout of a canary already at 10%%: %q", out)
	}
	if got := splitOf(t, env, "/canary/"); got != "echo=25 hello=75" {
		t.Fatalf("canary's first step: %s", got)
	}
	must("rollout", "abort", "--path", "/canary/")
	// Following an aborted rollout fails, naming why it ended.
	if code, _, errOut := run("rollout", "status", "--path", "/canary/", "--watch"); code != 1 || !strings.Contains(errOut, "aborted: aborted by admin") {
		t.Fatalf("status --watch of an aborted rollout: exit %d, %q", code, errOut)
	}

	// A rollout that succeeds: rollback returns to the route before it.
	wcfg := env.WorkerConfig()
	wcfg.Worker.ReportInterval = 100 * time.Millisecond
	testenv.StartWorker(t, wcfg)
	must("route", "set", "--path", "/ok/", "--module", "hello")
	must("rollout", "start", "--path", "/ok/", "--module", "echo", "--steps", "50,100", "--interval", "200ms")
	// --watch follows it to its end, step by step.
	if out := must("rollout", "status", "--path", "/ok/", "--watch", "--call-timeout", "30s"); !strings.Contains(out, "rollout of */ok/ to echo@") ||
		!strings.Contains(out, "rollout succeeded: all steps passed") {
		t.Fatalf("status --watch: %q", out)
	}
	if got := splitOf(t, env, "/ok/"); got != "echo=100" {
		t.Fatalf("after success: %s", got)
	}
	must("route", "rollback", "--path", "/ok/")
	if got := splitOf(t, env, "/ok/"); got != "hello=100" {
		t.Fatalf("rollback after a successful rollout: %s, want the route from before it", got)
	}
}
