package systemtest

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/latency"
	"github.com/nanoedge/nanoedge/server"
)

// TestRolloutRollsBackABadCanary: a canary failing one request in five is
// rolled back by the controller on its own within two intervals; a healthy
// one reaches 100%. Workers' telemetry is what the controller judges.
func TestRolloutRollsBackABadCanary(t *testing.T) {
	env, w, mods := rolloutEnv(t)
	ctx := ctxT(t)
	hello, echo := mods["hello"], mods["echo"]
	pub := env.Publisher

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ { // steady traffic, as a real route has
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if resp, err := http.Get(w.URL() + "/app/x"); err == nil {
					resp.Body.Close()
				}
			}
		}()
	}
	defer func() { close(stop); wg.Wait() }()

	waitRollout := func(state registryv1.RolloutState, within time.Duration) *registryv1.Rollout {
		t.Helper()
		var ro *registryv1.Rollout
		poll.Eventually(t, within, func() error {
			ros, err := pub.Rollouts(ctx)
			if err != nil {
				return err
			}
			for _, r := range ros {
				if r.PathPrefix == "/app/" {
					ro = r
				}
			}
			if ro == nil || ro.State != state {
				return fmt.Errorf("rollout is %v", ro.GetState())
			}
			return nil
		})
		return ro
	}

	const interval = 1500 * time.Millisecond
	start := time.Now()
	if _, err := pub.StartRollout(ctx, &registryv1.StartRolloutRequest{
		PathPrefix: "/app/", Module: "flaky", Steps: []uint32{20, 50, 100},
		IntervalMs: interval.Milliseconds(), MaxErrorRate: 0.05,
	}); err != nil {
		t.Fatal(err)
	}
	ro := waitRollout(registryv1.RolloutState_ROLLOUT_STATE_ROLLED_BACK, 2*interval)
	t.Logf("bad canary rolled back %v after the start: %s", time.Since(start).Round(time.Millisecond), ro.Reason)
	if !strings.Contains(ro.Reason, "error rate") || ro.Step != 0 {
		t.Fatalf("exp a rollback on the error rate at the first step, got %v", ro)
	}
	// What NanoedgeRolloutRolledBack and the dashboard's rollout row read.
	cpMetrics := get(t, env.CP.MetricsURL()).body
	for _, want := range []string{
		`nanoedge_rollout_decisions_total{decision="rolled_back"} 1`,
		`nanoedge_rollout_state{module="flaky@` + mods["flaky"].Digest[:len("sha256:")+12] + `",route="/app/",state="rolled_back"} 1`,
	} {
		if !strings.Contains(cpMetrics, want) {
			t.Fatalf("control plane metrics lack %q", want)
		}
	}
	appRoute := func() *registryv1.Route {
		routes, _, err := pub.ListRoutes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			if r.PathPrefix == "/app/" {
				return r
			}
		}
		t.Fatal("route /app/ is gone")
		return nil
	}
	if r := appRoute(); r.ModuleDigest != hello.Digest || len(r.Versions) != 0 {
		t.Fatalf("exp the route back on hello alone, got %v", r)
	}
	poll.Eventually(t, 10*time.Second, func() error {
		for i := 0; i < 20; i++ {
			if r := get(t, w.URL()+"/app/y"); !strings.HasPrefix(r.header.Get("X-Nanoedge-Version"), "hello@") {
				return errors.New("still served by " + r.header.Get("X-Nanoedge-Version"))
			}
		}
		return nil
	})

	start = time.Now()
	if _, err := pub.StartRollout(ctx, &registryv1.StartRolloutRequest{
		PathPrefix: "/app/", Module: "echo", Steps: []uint32{25, 100}, IntervalMs: 700, MaxErrorRate: 0.01,
	}); err != nil {
		t.Fatal(err)
	}
	// Paused, a rollout holds its step however long it waits.
	if _, err := pub.PauseRollout(ctx, "", "/app/"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // two intervals: long enough to have advanced
	if ro := waitRollout(registryv1.RolloutState_ROLLOUT_STATE_PAUSED, time.Second); ro.Step != 0 {
		t.Fatalf("a paused rollout advanced to step %d", ro.Step)
	}
	want := `nanoedge_rollout_step_percent{module="echo@` + echo.Digest[:len("sha256:")+12] + `",route="/app/"} 25`
	if m := get(t, env.CP.MetricsURL()).body; !strings.Contains(m, want) {
		t.Fatalf("control plane metrics lack %q", want)
	}
	if _, err := pub.ResumeRollout(ctx, "", "/app/"); err != nil {
		t.Fatal(err)
	}
	waitRollout(registryv1.RolloutState_ROLLOUT_STATE_SUCCEEDED, 20*time.Second)
	t.Logf("healthy canary reached 100%% %v after the start", time.Since(start).Round(time.Millisecond))
	if r := appRoute(); r.ModuleDigest != echo.Digest || len(r.Versions) != 0 {
		t.Fatalf("exp the route on echo alone, got %v", r)
	}
	// An instant manual rollback undoes the whole rollout: the route as
	// it was before it, not its last step.
	if r, _, err := pub.RollbackRoute(ctx, "", "/app/"); err != nil || len(r.Versions) != 0 || r.ModuleDigest != hello.Digest {
		t.Fatalf("exp the route back on hello alone, got %v, %v", r, err)
	}

	workers, err := pub.Workers(ctx)
	if err != nil || len(workers) != 1 || workers[0].Report.AppliedRevision == 0 || len(workers[0].Report.Versions) < 3 {
		t.Fatalf("exp the worker's telemetry listed, got %v, %v", workers, err)
	}
}

// TestRolloutSurvivesLeaderChange: the leader running a rollout is killed
// mid-way; the new leader carries on from the step the registry recorded
// and finishes it.
func TestRolloutSurvivesLeaderChange(t *testing.T) {
	env, nodes := startCluster(t, 3)
	ctx := ctxT(t)
	leader := leaderOf(t, nodes)
	var follower *node
	for _, nd := range nodes {
		if nd != leader {
			follower = nd
			break
		}
	}
	pub := testenv.NewClient(t, follower.cp.Addr(), env.Token(t, "ci2", registryv1.Role_ROLE_PUBLISHER))
	wcfg := env.WorkerConfig()
	wcfg.ControlPlane = follower.cp.Addr()
	wcfg.Worker.ReportInterval = 200 * time.Millisecond
	w := testenv.StartWorker(t, wcfg)
	for _, m := range []struct{ name, src string }{{"hello", guests.Hello}, {"echo", guests.Echo}} {
		if _, err := pub.Upload(ctx, m.name, guests.Build(t, m.src), client.WithSigner(env.Key)); err != nil {
			t.Fatal(err)
		}
	}
	for path, mod := range map[string]string{"/app/": "hello", "/warm/": "echo"} {
		if _, _, err := pub.SetRoute(ctx, client.Route{PathPrefix: path, Module: mod}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/app/x", "/warm/x"} {
		waitServed(t, w.URL()+p, func(r response) bool { return r.status == 200 })
	}
	testenv.Traffic(t, w.URL()+"/app/x", 2*time.Millisecond)

	rollout := func() *registryv1.Rollout {
		ros, err := pub.Rollouts(ctx)
		if err != nil || len(ros) != 1 {
			return nil
		}
		return ros[0]
	}
	if _, err := pub.StartRollout(ctx, &registryv1.StartRolloutRequest{
		PathPrefix: "/app/", Module: "echo", Steps: []uint32{10, 50, 100}, IntervalMs: 1500, MaxErrorRate: 0.05,
	}); err != nil {
		t.Fatal(err)
	}
	poll.Eventually(t, 20*time.Second, func() error {
		if ro := rollout(); ro == nil || ro.Step < 1 {
			return fmt.Errorf("rollout at %v", ro)
		}
		return nil
	})
	leader.cp.Close()
	leader.cp = nil
	killed := time.Now()
	var ro *registryv1.Rollout
	poll.Eventually(t, 30*time.Second, func() error {
		if ro = rollout(); ro.GetState() != registryv1.RolloutState_ROLLOUT_STATE_SUCCEEDED {
			return fmt.Errorf("rollout %v", ro)
		}
		return nil
	})
	t.Logf("rollout finished %v after the leader was killed", time.Since(killed).Round(time.Millisecond))
	if newLeader := leaderOf(t, nodes); newLeader == leader {
		t.Fatal("the killed node still leads")
	}
	poll.Eventually(t, 10*time.Second, func() error {
		for i := 0; i < 20; i++ {
			if r := get(t, w.URL()+"/app/y"); !strings.HasPrefix(r.header.Get("X-Nanoedge-Version"), "echo@") {
				return errors.New("still served by " + r.header.Get("X-Nanoedge-Version"))
			}
		}
		return nil
	})
}

// TestForgedTelemetryCannotDecideARollout: a second worker token reports
// made-up counters for a canary, all 500s for a healthy one and all 200s
// for a failing one. Neither forgery decides the rollout: it holds while
// the forger's numbers disagree with the rest of the fleet, and once the
// forger's token is revoked the real traffic decides, healthy to 100%
// and failing back to the baseline.
func TestForgedTelemetryCannotDecideARollout(t *testing.T) {
	env, w, mods := rolloutEnv(t)
	ctx := ctxT(t)
	echo, flaky := mods["echo"], mods["flaky"]
	testenv.Traffic(t, w.URL()+"/app/x", 2*time.Millisecond)

	rollout := func() *registryv1.Rollout {
		ros, err := env.Publisher.Rollouts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ro := range ros {
			if ro.PathPrefix == "/app/" {
				return ro
			}
		}
		return nil
	}
	for _, tc := range []struct {
		name    string
		canary  *registryv1.Module
		forged  func(n int64) (requests, errors int64)
		outcome registryv1.RolloutState
	}{
		{"a healthy canary forged to fail", echo, func(n int64) (int64, int64) { return n, n }, registryv1.RolloutState_ROLLOUT_STATE_SUCCEEDED},
		{"a failing canary forged to pass", flaky, func(n int64) (int64, int64) { return n, 0 }, registryv1.RolloutState_ROLLOUT_STATE_ROLLED_BACK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := env.Token(t, "forger-"+tc.canary.Name, registryv1.Role_ROLE_WORKER)
			forger := testenv.NewClient(t, env.CP.Addr(), secret)
			stop := make(chan struct{})
			forging := make(chan struct{})
			go func() {
				defer close(forging)
				started := timestamppb.Now()
				for n := int64(1000); ; n += 1000 {
					req, errs := tc.forged(n)
					buckets := make([]int64, len(latency.BoundsMS)+1)
					buckets[0] = req
					forger.Report(ctx, &registryv1.WorkerReport{WorkerId: "forged", Started: started, Versions: []*registryv1.VersionStats{{
						PathPrefix: "/app/", ModuleDigest: tc.canary.Digest, Requests: req, ServerErrors: errs, Successes: req - errs, LatencyBuckets: buckets,
					}}})
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
				}
			}()
			defer func() { close(stop); <-forging }()
			if _, err := env.Publisher.StartRollout(ctx, &registryv1.StartRolloutRequest{
				PathPrefix: "/app/", Module: tc.canary.Name + "@" + tc.canary.Digest, Steps: []uint32{30, 100}, IntervalMs: 500, MaxErrorRate: 0.05,
			}); err != nil {
				t.Fatal(err)
			}
			// Six intervals with the forger reporting: the rollout neither
			// ends nor advances.
			time.Sleep(3 * time.Second)
			if ro := rollout(); ro.State != registryv1.RolloutState_ROLLOUT_STATE_RUNNING || ro.Step != 0 {
				t.Fatalf("the forged reports decided the rollout: %v", ro)
			}
			toks, err := env.Admin.ListTokens(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, tk := range toks {
				if tk.Name == "forger-"+tc.canary.Name {
					if err := env.Admin.RevokeToken(ctx, tk.Id); err != nil {
						t.Fatal(err)
					}
				}
			}
			poll.Eventually(t, 30*time.Second, func() error {
				if ro := rollout(); ro.State != tc.outcome {
					return fmt.Errorf("rollout %v at step %d: %s", ro.State, ro.Step, ro.Reason)
				}
				return nil
			})
			if tc.outcome == registryv1.RolloutState_ROLLOUT_STATE_SUCCEEDED {
				// The next case starts from hello again.
				if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/app/", Module: "hello"}); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

// rolloutEnv is a control plane judging rollouts every 100 ms and a
// worker reporting every 200 ms, serving hello on /app/; flaky and echo,
// the canaries, are routed elsewhere first, so the worker has compiled
// them before a rollout starts the clock.
func rolloutEnv(t *testing.T) (*testenv.Env, *server.Worker, map[string]*registryv1.Module) {
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.RolloutTick = 100 * time.Millisecond
	cfg.MetricsAddr = "127.0.0.1:0"
	env := testenv.Start(t, cfg)
	wcfg := env.WorkerConfig()
	wcfg.Worker.ReportInterval = 200 * time.Millisecond
	w := testenv.StartWorker(t, wcfg)
	ctx := ctxT(t)
	mods := map[string]*registryv1.Module{}
	for name, src := range map[string]string{"hello": guests.Hello, "flaky": guests.Flaky, "echo": guests.Echo} {
		mods[name] = env.Upload(t, name, src).Module
	}
	for path, mod := range map[string]string{"/app/": "hello", "/warm/flaky/": "flaky", "/warm/echo/": "echo"} {
		if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: path, Module: mod}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{"/app/x", "/warm/flaky/x", "/warm/echo/x"} {
		waitServed(t, w.URL()+p, func(r response) bool { return r.status == 200 })
	}
	return env, w, mods
}
