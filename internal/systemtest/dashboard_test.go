package systemtest

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/chromium"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestDashboardInChromium deploys a module, sends traffic through a worker
// and checks, in headless Chromium, that the control plane's dashboard
// shows the route with a non-zero rate, the leader and the worker.
func TestDashboardInChromium(t *testing.T) {
	chromium.Require(t)
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.DashboardAddr = "127.0.0.1:0"
	env := testenv.Start(t, cfg)
	w := testenv.StartWorker(t, env.WorkerConfig())
	env.Upload(t, "hello", guests.Hello)
	ctx := ctxT(t)
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/hello", func(r response) bool { return r.status == 200 })
	testenv.Traffic(t, w.URL()+"/hello", 5*time.Millisecond)

	// Without a token the data is refused; the page asks for one.
	resp, err := http.Get(env.CP.DashboardURL() + "api/overview")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("overview without a token: %v %v", resp.Status, err)
	}
	resp.Body.Close()

	reader := env.Token(t, "viewer", registryv1.Role_ROLE_READER)
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	if d := os.Getenv("NANOEDGE_SCREENSHOT_DIR"); d != "" {
		shot = filepath.Join(d, "dashboard.png")
	}
	out := chromium.Run(t, 2*time.Minute, "dashboard.mjs", env.CP.DashboardURL(), reader, "*/hello", shot)
	var seen struct {
		RPS        float64  `json:"rps"`
		RateCell   string   `json:"rateCell"`
		Leaders    int      `json:"leaders"`
		Workers    int      `json:"workers"`
		Revision   string   `json:"revision"`
		AddressBar string   `json:"addressBar"`
		Errors     []string `json:"errors"`
	}
	if err := json.Unmarshal([]byte(out), &seen); err != nil {
		t.Fatalf("script output %q: %v", out, err)
	}
	t.Logf("dashboard showed %+v", seen)
	if seen.RPS <= 0 || seen.RateCell == "0.0" || seen.Leaders != 1 || seen.Workers != 1 || !strings.HasPrefix(seen.Revision, "revision ") {
		t.Fatalf("dashboard showed %+v", seen)
	}
	if strings.Contains(seen.AddressBar, reader) || len(seen.Errors) > 0 {
		t.Fatalf("token left in the address bar or script errors: %+v", seen)
	}
}
