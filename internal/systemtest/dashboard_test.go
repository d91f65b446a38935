package systemtest

import (
	"encoding/json"
	"image"
	"image/color"
	"image/png"
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
// shows the route with a non-zero rate, the leader and the worker, and,
// during a rollout, the route's history charted canary against baseline
// beside its split, rules and flags. A screenshot of the chart shows both
// lines drawn.
func TestDashboardInChromium(t *testing.T) {
	chromium.Require(t)
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.DashboardAddr = "127.0.0.1:0"
	env := testenv.Start(t, cfg)
	w := testenv.StartWorker(t, env.WorkerConfig())
	env.Upload(t, "hello", guests.Hello)
	env.Upload(t, "echo", guests.Echo)
	env.Upload(t, "page", guests.Page)
	ctx := ctxT(t)
	if _, _, err := env.Publisher.SetFlag(ctx, "beta", false, "the new page"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello",
		Rules: []*registryv1.RuleSpec{{Kind: registryv1.MatchKind_MATCH_KIND_FLAG, Name: "beta", Module: "page"}}}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/hello", func(r response) bool { return r.status == 200 })
	// A rollout held at its first step: a third of requests to echo.
	if _, err := env.Publisher.StartRollout(ctx, &registryv1.StartRolloutRequest{
		PathPrefix: "/hello", Module: "echo", Steps: []uint32{33, 100}, IntervalMs: time.Hour.Milliseconds(), MaxErrorRate: 0.5,
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.Publisher.PauseRollout(ctx, "", "/hello"); err != nil {
		t.Fatal(err)
	}
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
	chartShot := strings.TrimSuffix(shot, ".png") + "-chart.png"
	out := chromium.Run(t, 2*time.Minute, "dashboard.mjs", env.CP.DashboardURL(), reader, "*/hello", shot, chartShot)
	var seen struct {
		RPS         float64  `json:"rps"`
		RateCell    string   `json:"rateCell"`
		Leaders     int      `json:"leaders"`
		Workers     int      `json:"workers"`
		Revision    string   `json:"revision"`
		AddressBar  string   `json:"addressBar"`
		ChartPoints int      `json:"chartPoints"`
		ChartLines  int      `json:"chartLines"`
		Legend      []string `json:"legend"`
		Rules       []string `json:"rules"`
		Facts       string   `json:"facts"`
		Flags       []string `json:"flags"`
		Errors      []string `json:"errors"`
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
	legend := strings.Join(seen.Legend, "\n")
	if seen.ChartLines < 2 || seen.ChartPoints < 2 || !strings.Contains(legend, "(canary)") || !strings.Contains(legend, "(baseline)") ||
		!strings.Contains(legend, "page@") || strings.Contains(seen.Legend[len(seen.Legend)-1], "baseline") || !strings.Contains(seen.Facts, "67% hello@") || !strings.Contains(seen.Facts, "33% echo@") ||
		len(seen.Rules) != 1 || !strings.HasPrefix(seen.Rules[0], "flag beta on → page@") ||
		len(seen.Flags) != 1 || !strings.Contains(seen.Flags[0], "beta") || !strings.Contains(seen.Flags[0], "*/hello") {
		t.Fatalf("the route's history, split, rules or flags are missing: %+v", seen)
	}
	// The chart as drawn: the baseline's and the canary's colours are
	// on the screen, as lines, not just in the markup.
	img := decodePNG(t, chartShot)
	for name, c := range map[string]color.RGBA{"baseline": {0x09, 0x69, 0xda, 0xff}, "canary": {0xcf, 0x22, 0x2e, 0xff}} {
		if n := countColor(img, c); n < 40 {
			t.Fatalf("the chart shows %d pixels of the %s line's colour; want a drawn line", n, name)
		}
	}
}

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// countColor counts the pixels within a small distance of c.
func countColor(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			d := absDiff(r>>8, uint32(c.R)) + absDiff(g>>8, uint32(c.G)) + absDiff(bl>>8, uint32(c.B))
			if d < 24 {
				n++
			}
		}
	}
	return n
}

func absDiff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}
