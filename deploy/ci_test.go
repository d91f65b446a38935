package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// workflow is the part of the GitHub Actions syntax deploy.yaml uses;
// decoding is strict, so anything else is an error.
type workflow struct {
	Name string         `json:"name"`
	On   map[string]any `json:"on"`
	Jobs map[string]struct {
		RunsOn string            `json:"runs-on"`
		Env    map[string]string `json:"env"`
		Steps  []struct {
			Name string            `json:"name"`
			Uses string            `json:"uses"`
			With map[string]string `json:"with"`
			Run  string            `json:"run"`
			If   string            `json:"if"`
			Env  map[string]string `json:"env"`
		} `json:"steps"`
	} `json:"jobs"`
}

var expr = regexp.MustCompile(`\$\{\{\s*([a-z]+)\.([A-Za-z_]+)\s*\}\}`)

// TestCIWorkflowDeploys runs the shell steps of deploy/ci/deploy.yaml, as
// GitHub Actions would, against a control plane and a worker on loopback:
// the first run creates the route, the second rolls a new module out and
// waits for it to succeed.
func TestCIWorkflowDeploys(t *testing.T) {
	b, err := os.ReadFile("ci/deploy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.UnmarshalStrict(b, &wf); err != nil {
		t.Fatalf("deploy.yaml: %v", err)
	}
	job, ok := wf.Jobs["deploy"]
	if !ok || len(job.Steps) == 0 {
		t.Fatal("deploy.yaml has no deploy job")
	}

	// What the runner provides: the nanoedge binary the install step would
	// put on PATH, a temp dir, the secrets and variables.
	bin := buildNanoedge(t)
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	w := testenv.StartWorker(t, env.WorkerConfig())
	runnerTemp := t.TempDir()
	values := map[string]string{
		"secrets.NANOEDGE_TOKEN":         env.Token(t, "github-actions", registryv1.Role_ROLE_PUBLISHER),
		"secrets.NANOEDGE_PUBLISHER_KEY": string(signing.MarshalPrivateKey(env.Key)),
		"vars.NANOEDGE_CONTROLPLANE":     env.CP.Addr(),
		"runner.temp":                    runnerTemp,
	}

	runWorkflow := func(handlerDir string) map[string]any {
		t.Helper()
		jobEnv := map[string]string{}
		for k, v := range job.Env {
			jobEnv[k] = v
		}
		abs, err := filepath.Abs(handlerDir)
		if err != nil {
			t.Fatal(err)
		}
		config := filepath.Join(t.TempDir(), "nanoedge.yaml")
		os.WriteFile(config, []byte(fmt.Sprintf(`routes:
  - path: /shop/
    module: shop
    build: %s
    rollout: {steps: [10, 50, 100], interval: 300ms, max_error_rate: 1%%}
`, abs)), 0o644)
		jobEnv["EDGE_CONFIG"] = config
		for _, st := range job.Steps {
			if st.Run == "" {
				continue // actions: checkout and setup-go have nothing to do here
			}
			if strings.Contains(st.Run, "go install") {
				if !strings.Contains(st.Run, "github.com/nanoedge/nanoedge/cmd/nanoedge") {
					t.Fatalf("step %q does not install the nanoedge command", st.Name)
				}
				continue // the test built it from this tree
			}
			cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", st.Run)
			cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"RUNNER_TEMP="+runnerTemp, "GITHUB_SHA=0123456789abcdef")
			for k, v := range jobEnv {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			for k, v := range st.Env {
				v = expr.ReplaceAllStringFunc(v, func(m string) string {
					parts := expr.FindStringSubmatch(m)
					val, ok := values[parts[1]+"."+parts[2]]
					if !ok {
						t.Fatalf("step %q: the test provides no value for %s", st.Name, m)
					}
					return val
				})
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("step %q: %v\n%s", st.Name, err, out)
			}
		}
		if _, err := os.Stat(filepath.Join(runnerTemp, "publisher.key")); !os.IsNotExist(err) {
			t.Fatal("the workflow left the publisher key on the runner")
		}
		var res map[string]any
		b, err := os.ReadFile(filepath.Join(runnerTemp, "deploy.json"))
		if err != nil || json.Unmarshal(b, &res) != nil {
			t.Fatalf("deploy.json: %v %q", err, b)
		}
		return res
	}
	served := func(want string) {
		t.Helper()
		poll.Eventually(t, 3*time.Minute, func() error {
			resp, err := http.Get(w.URL() + "/shop/cart")
			if err != nil {
				return err
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if v := resp.Header.Get("X-Nanoedge-Version"); resp.StatusCode != 200 || !strings.HasPrefix(v, "shop@"+want) {
				return fmt.Errorf("GET /shop/cart: %d from %s", resp.StatusCode, v)
			}
			return nil
		})
	}

	actions := func(res map[string]any) string {
		var out []string
		for _, ch := range res["changes"].([]any) {
			c := ch.(map[string]any)
			out = append(out, c["action"].(string)+" "+c["kind"].(string))
		}
		return strings.Join(out, ", ")
	}
	first := runWorkflow("../examples/hello")
	if got := actions(first); got != "push module, create route" || first["rollouts"] != nil {
		t.Fatalf("first deploy: %s, %v", got, first)
	}
	routes, _, err := env.Admin.ListRoutes(context.Background())
	if err != nil || len(routes) != 1 {
		t.Fatalf("routes: %v %v", routes, err)
	}
	mod, err := env.Admin.GetModule(context.Background(), routes[0].ModuleDigest)
	if err != nil || mod.GetProvenance().GetSource() != "git:0123456789abcdef" {
		t.Fatalf("the pushed module's provenance: %v %v", mod, err)
	}
	served(mod.Digest[:19])

	second := runWorkflow("../internal/testing/guests/echo")
	ros, _ := second["rollouts"].([]any)
	if got := actions(second); got != "push module, rollout route" || len(ros) != 1 {
		t.Fatalf("second deploy: %s, %v", got, second)
	}
	ro := ros[0].(map[string]any)
	if ro["state"] != "ROLLOUT_STATE_SUCCEEDED" || fmt.Sprint(ro["steps"]) != "[10 50 100]" {
		t.Fatalf("second deploy's rollout: %v", ro)
	}
	served(ro["module_digest"].(string)[:19])
}
