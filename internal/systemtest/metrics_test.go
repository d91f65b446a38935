package systemtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

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
	get(t, w.URL()+"/m/loop") // the route's deadline
	// Polls before the route applied were unrouted too.
	unrouted := metricValue(t, w.MetricsURL(), "nanoedge_worker_unrouted_requests_total")
	get(t, w.URL()+"/nowhere") // no route
	if n := metricValue(t, w.MetricsURL(), "nanoedge_worker_unrouted_requests_total"); n != unrouted+1 {
		t.Fatalf("unrouted requests went from %v to %v on one request", unrouted, n)
	}
	scrape := get(t, w.MetricsURL()).body
	for _, want := range []string{
		`nanoedge_worker_requests_total{code="200",route="/m/",version="misbehave@sha256:`,
		`nanoedge_worker_requests_total{code="500",route="/m/"`,
		`nanoedge_worker_guest_failures_total{kind="trap",route="/m/"`,
		`nanoedge_worker_request_duration_seconds_bucket{route="/m/"`,
		`nanoedge_worker_limit_hits_total{kind="deadline"} 1`,
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
	// A refused upload and a refused report, as the dashboard charts them.
	if _, err := env.Publisher.Upload(ctxT(t), "junk", []byte("not wasm"), client.WithSigner(env.Key)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("junk upload: %v", err)
	}
	worker := testenv.NewClient(t, env.CP.Addr(), env.WorkerToken)
	if err := worker.Report(ctxT(t), &registryv1.WorkerReport{}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("empty report: %v", err)
	}
	cpScrape := get(t, env.CP.MetricsURL()).body
	for _, want := range []string{
		"nanoedge_registry_revision ", "nanoedge_raft_leader 1", "nanoedge_fleet_workers ", "nanoedge_raft_term ",
		"nanoedge_raft_commit_index ", "nanoedge_raft_applied_index ", "nanoedge_raft_log_entries ", "nanoedge_raft_last_contact_seconds 0",
		`nanoedge_registry_objects{kind="routes"} 1`, "nanoedge_registry_db_bytes ", "nanoedge_upload_bytes_total ",
		"nanoedge_upload_duration_seconds_count 2", "nanoedge_watch_streams 1",
		`nanoedge_uploads_refused_total{code="InvalidArgument"} 1`, `nanoedge_telemetry_refused_total{reason="invalid"} 1`,
		`grpc_server_handled_total{grpc_code="OK",grpc_method="SetRoute",grpc_service="nanoedge.registry.v1.RegistryService",grpc_type="unary"} 1`,
		`grpc_server_handling_seconds_bucket{grpc_method="UploadModule"`,
	} {
		if !strings.Contains(cpScrape, want) {
			t.Fatalf("control plane metrics lack %q:\n%s", want, cpScrape)
		}
	}
	// What operators import names only metrics the processes serve. Those
	// that appear only after an event are checked where it happens.
	afterEvents := map[string]string{
		"nanoedge_rollout_step_percent":                     "TestRolloutRollsBackABadCanary",
		"nanoedge_rollout_state":                            "TestRolloutRollsBackABadCanary",
		"nanoedge_rollout_decisions_total":                  "TestRolloutRollsBackABadCanary",
		"nanoedge_tls_certificate_expiry_timestamp_seconds": "TestTLSAndMutualTLS",
	}
	for _, name := range importedMetrics(t) {
		if afterEvents[name] == "" && !strings.Contains(scrape+cpScrape, "# TYPE "+name+" ") {
			t.Errorf("deploy/ queries %s, which neither process serves", name)
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

// importedMetrics lists the metric names the Grafana dashboard and the
// alert rules query (histogram series by their family's name).
func importedMetrics(t *testing.T) []string {
	t.Helper()
	var text []byte
	for _, f := range []string{"../../deploy/grafana/nanoedge.json", "../../deploy/prometheus/alerts.yaml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text = append(text, b...)
	}
	seen := map[string]bool{}
	var names []string
	for _, m := range regexp.MustCompile(`\b(?:nanoedge|grpc_server)_[a-z_]+\b`).FindAllString(string(text), -1) {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(m, suffix); ok && strings.HasSuffix(base, "_seconds") {
				m = base
			}
		}
		if !seen[m] {
			seen[m] = true
			names = append(names, m)
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %v in deploy/", names)
	}
	return names
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
