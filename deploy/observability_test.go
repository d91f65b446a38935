package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// promtool finds promtool (Debian's prometheus package, which make test
// installs); without it the test fails, or skips under -short.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if testing.Short() {
			t.Skip("promtool missing")
		}
		t.Fatal("promtool missing: run make test-deps (Debian package prometheus)")
	}
	return p
}

// TestAlertRules: the rules load, and promtool's unit tests (fires on the
// series that should fire it, silent on healthy ones) pass.
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = "prometheus"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	// Every alert the issue of an on-call operator needs, and each tested.
	rules, _ := os.ReadFile("prometheus/alerts.yaml")
	tests, _ := os.ReadFile("prometheus/alerts_test.yaml")
	for _, name := range []string{"NanoedgeNoLeader", "NanoedgeWorkerStreamBroken", "NanoedgeVersionErrorRate", "NanoedgeRolloutRolledBack", "NanoedgeCertificateExpiresSoon"} {
		if !strings.Contains(string(rules), "alert: "+name+"\n") || !strings.Contains(string(tests), "alertname: "+name+"\n") {
			t.Errorf("alert %s missing from the rules or their tests", name)
		}
	}
}

type dashboard struct {
	Title      string `json:"title"`
	UID        string `json:"uid"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Annotations struct {
		List []struct {
			Expr string `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// TestGrafanaDashboard: the dashboard imports (JSON, unique ids, panels on
// the 24-column grid without overlap, every query on the chosen data
// source) and every query is PromQL that promtool accepts.
func TestGrafanaDashboard(t *testing.T) {
	b, err := os.ReadFile("grafana/nanoedge.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if d.Title == "" || d.UID == "" || len(d.Panels) < 20 {
		t.Fatalf("dashboard %q (uid %q) with %d panels", d.Title, d.UID, len(d.Panels))
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] || !vars["route"] {
		t.Fatalf("variables %v: want datasource and route", vars)
	}
	ids := map[int]string{}
	cells := map[[2]int]string{}
	var exprs []string
	rows := 0
	for _, p := range d.Panels {
		if other, dup := ids[p.ID]; dup {
			t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
		}
		ids[p.ID] = p.Title
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q off the grid: %+v", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, taken := cells[[2]int{x, y}]; taken {
					t.Fatalf("panels %q and %q overlap at %d,%d", other, p.Title, x, y)
				}
				cells[[2]int{x, y}] = p.Title
			}
		}
		if p.Type == "row" {
			rows++
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: want queries on ${datasource}", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	if rows != 4 {
		t.Errorf("%d rows; want fleet, routes and versions, rollouts, control plane", rows)
	}
	for _, a := range d.Annotations.List {
		exprs = append(exprs, a.Expr)
	}
	checkPromQL(t, exprs)
}

// checkPromQL has promtool parse each query, as recording rules with the
// dashboard's variables filled in.
func checkPromQL(t *testing.T, exprs []string) {
	t.Helper()
	fill := strings.NewReplacer("$__rate_interval", "5m", "$route", ".*")
	type rule struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var rules []rule
	for i, e := range exprs {
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: fill.Replace(e)})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool(t), "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("the dashboard's queries: %v\n%s", err, out)
	}
}
