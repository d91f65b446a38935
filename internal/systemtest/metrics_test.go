package systemtest

import (
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestPrometheusMetrics scrapes a worker and a control plane after traffic.
func TestPrometheusMetrics(t *testing.T) {
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.MetricsAddr = "127.0.0.1:0"
	env := testenv.Start(t, cfg)
	wcfg := env.WorkerConfig()
	wcfg.MetricsAddr = "127.0.0.1:0"
	w := testenv.StartWorker(t, wcfg)
	env.Upload(t, "misbehave", guests.Misbehave)
	if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/m/", Module: "misbehave"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/m/ok", func(r response) bool { return r.status == 200 })
	get(t, w.URL()+"/m/exit")
	scrape := get(t, w.MetricsURL()).body
	for _, want := range []string{
		`nanoedge_worker_requests_total{code="200",route="/m/",version="misbehave@sha256:`,
		`nanoedge_worker_requests_total{code="500",route="/m/"`,
		`nanoedge_worker_guest_failures_total{kind="trap",route="/m/"`,
		`nanoedge_worker_request_duration_seconds_bucket{route="/m/"`,
		"nanoedge_worker_applied_revision ",
		"go_goroutines ",
	} {
		if !strings.Contains(scrape, want) {
			t.Fatalf("worker metrics lack %q:\n%s", want, scrape)
		}
	}
	cpScrape := get(t, env.CP.MetricsURL()).body
	for _, want := range []string{"nanoedge_registry_revision ", "nanoedge_raft_leader 1", "nanoedge_fleet_workers "} {
		if !strings.Contains(cpScrape, want) {
			t.Fatalf("control plane metrics lack %q:\n%s", want, cpScrape)
		}
	}
}
