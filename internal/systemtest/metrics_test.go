package systemtest

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
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
	if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/m/", Module: "misbehave", Options: &registryv1.RouteOptions{TimeoutMs: 300}}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/m/ok", func(r response) bool { return r.status == 200 })
	get(t, w.URL()+"/m/exit")
	get(t, w.URL()+"/m/loop")  // the route's deadline
	get(t, w.URL()+"/nowhere") // no route
	scrape := get(t, w.MetricsURL()).body
	for _, want := range []string{
		`nanoedge_worker_requests_total{code="200",route="/m/",version="misbehave@sha256:`,
		`nanoedge_worker_requests_total{code="500",route="/m/"`,
		`nanoedge_worker_guest_failures_total{kind="trap",route="/m/"`,
		`nanoedge_worker_request_duration_seconds_bucket{route="/m/"`,
		`nanoedge_worker_limit_hits_total{kind="deadline"} 1`,
		"nanoedge_worker_unrouted_requests_total 1",
		"nanoedge_worker_requests_in_flight 0",
		"nanoedge_worker_compile_seconds_count ",
		`nanoedge_worker_instances{module="misbehave@sha256:`,
		"nanoedge_worker_registry_connected 1",
		"nanoedge_worker_revision_lag 0",
		"nanoedge_worker_stale_seconds 0",
		"nanoedge_worker_module_load_failures_total 0",
		"nanoedge_worker_applied_revision ",
		"go_goroutines ",
	} {
		if !strings.Contains(scrape, want) {
			t.Fatalf("worker metrics lack %q:\n%s", want, scrape)
		}
	}
	cpScrape := get(t, env.CP.MetricsURL()).body
	for _, want := range []string{
		"nanoedge_registry_revision ", "nanoedge_raft_leader 1", "nanoedge_fleet_workers ", "nanoedge_raft_term ",
		"nanoedge_raft_commit_index ", "nanoedge_raft_applied_index ", "nanoedge_raft_log_entries ", "nanoedge_raft_last_contact_seconds 0",
		`nanoedge_registry_objects{kind="routes"} 1`, "nanoedge_registry_db_bytes ", "nanoedge_upload_bytes_total ",
		"nanoedge_upload_duration_seconds_count 1", "nanoedge_watch_streams 1",
		`grpc_server_handled_total{grpc_code="OK",grpc_method="SetRoute",grpc_service="nanoedge.registry.v1.RegistryService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_bucket{grpc_method="UploadModule"`,
	} {
		if !strings.Contains(cpScrape, want) {
			t.Fatalf("control plane metrics lack %q:\n%s", want, cpScrape)
		}
	}
	promtool := promtoolPath(t)
	for name, text := range map[string]string{"worker": scrape, "control plane": cpScrape} {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = strings.NewReader(text)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool check metrics, %s: %v\n%s", name, err, out)
		}
	}
}

// promtoolPath finds promtool (Debian's prometheus package, which make
// test installs); without it the test fails, or skips under -short.
func promtoolPath(t *testing.T) string {
	p, err := exec.LookPath("promtool")
	if err != nil {
		if testing.Short() {
			t.Skip("promtool missing")
		}
		t.Fatal("promtool missing: run make test-deps (Debian package prometheus)")
	}
	return p
}

// TestHealthFollowsTheLeader: a node's gRPC health is SERVING while it
// knows a leader it hears from, and NOT_SERVING once the other two nodes
// of its cluster are gone.
func TestHealthFollowsTheLeader(t *testing.T) {
	env, nodes := startCluster(t, 3)
	survivor := nodes[2]
	c := testenv.NewClient(t, survivor.cp.Addr(), env.AdminToken)
	health := func() healthpb.HealthCheckResponse_ServingStatus {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		st, _ := c.Health(ctx)
		return st
	}
	poll.Eventually(t, 10*time.Second, func() error {
		if st := health(); st != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health %v", st)
		}
		return nil
	})
	for _, nd := range nodes[:2] {
		nd.cp.Close()
		nd.cp = nil
	}
	poll.Eventually(t, 20*time.Second, func() error {
		if st := health(); st != healthpb.HealthCheckResponse_NOT_SERVING {
			return fmt.Errorf("health %v with no quorum", st)
		}
		return nil
	})
}
