package systemtest

import (
	"bufio"
	"crypto/ed25519"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nanoedge/nanoedge/controlplane/dashboard"
	"github.com/nanoedge/nanoedge/internal/pki"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/raftattack"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/latency"
	"github.com/nanoedge/nanoedge/sdk/signing"
	"github.com/nanoedge/nanoedge/server"
)

// attackEnv is a control plane with Raft over mutual TLS, its dashboard,
// and a worker with an admin listener, serving hello on /hello and the
// misbehaving guest on /bad/ (1 s deadline).
type attackEnv struct {
	*testenv.Env
	ca     *pki.CA
	cfg    server.ControlPlaneConfig
	worker *server.Worker
	hello  *registryv1.Module
}

func startAttackEnv(t *testing.T) *attackEnv {
	ca, err := pki.NewCA("attack suite cluster CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.Registry.TLS = raftTLS(t, ca, cfg.Registry.NodeID)
	cfg.DashboardAddr = "127.0.0.1:0"
	cfg.API.MaxWorkersPerToken = 20
	a := &attackEnv{Env: testenv.Start(t, cfg), ca: ca, cfg: cfg}
	wcfg := a.WorkerConfig()
	wcfg.MetricsAddr = "127.0.0.1:0"
	a.worker = testenv.StartWorker(t, wcfg)
	a.hello = a.Upload(t, "hello", guests.Hello).Module
	a.Upload(t, "bad", guests.Misbehave)
	ctx := ctxT(t)
	for _, r := range []client.Route{
		{PathPrefix: "/hello", Module: "hello"},
		{PathPrefix: "/bad/", Module: "bad", Options: &registryv1.RouteOptions{TimeoutMs: 1000}},
	} {
		if _, _, err := a.Publisher.SetRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, a.worker.URL()+"/hello", func(r response) bool { return r.status == 200 })
	waitServed(t, a.worker.URL()+"/bad/ok", func(r response) bool { return r.status == 200 })
	return a
}

func raftTLS(t *testing.T, ca *pki.CA, id string) *tls.Config {
	t.Helper()
	cfg, err := ca.NodeTLS(id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// state is everything a write could change, to show an attack changed
// nothing.
func (a *attackEnv) state(t *testing.T) string {
	t.Helper()
	ctx := ctxT(t)
	routes, rev, err := a.Admin.ListRoutes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mods, _, err := a.Admin.ListModules(ctx)
	if err != nil {
		t.Fatal(err)
	}
	toks, err := a.Admin.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := a.Admin.ListKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "revision %d\n", rev)
	for _, r := range routes {
		fmt.Fprintf(&b, "route %v\n", r)
	}
	for _, m := range mods {
		fmt.Fprintf(&b, "module %v\n", m)
	}
	for _, tk := range toks {
		fmt.Fprintf(&b, "token %v\n", tk)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "key %v\n", k)
	}
	return b.String()
}

// healthy checks that the worker still serves and follows the registry.
func (a *attackEnv) healthy(t *testing.T) {
	t.Helper()
	if r := get(t, a.worker.URL()+"/hello"); r.status != 200 {
		t.Fatalf("after the attack /hello answers %d %q", r.status, r.body)
	}
	if r := get(t, a.worker.URL()+"/.nanoedge/healthz"); r.status != 200 {
		t.Fatalf("after the attack the worker is not ready: %d %q", r.status, r.body)
	}
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code || !strings.Contains(err.Error(), contains) {
		t.Fatalf("exp %v containing %q, got %v", code, contains, err)
	}
}

// report is a valid report of one request to /hello.
func (a *attackEnv) report(worker string, requests int64) *registryv1.WorkerReport {
	buckets := make([]int64, len(latency.BoundsMS)+1)
	buckets[0] = requests
	return &registryv1.WorkerReport{WorkerId: worker, Started: timestamppb.New(time.Unix(1_700_000_000, 0)), Versions: []*registryv1.VersionStats{{
		PathPrefix: "/hello", ModuleDigest: a.hello.Digest, Requests: requests, Successes: requests, LatencyBuckets: buckets,
	}}}
}

// TestAttacks runs what an attacker who reaches a port would try, each
// asserting the clear error it gets, that the registry is unchanged
// (unless the row says the change is the point) and that the worker still
// serves.
func TestAttacks(t *testing.T) {
	a := startAttackEnv(t)
	ctx := ctxT(t)
	tokenCmd, _ := proto.Marshal(&raftlogv1.Command{Op: &raftlogv1.Command_PutToken{PutToken: &raftlogv1.PutTokenCommand{
		Token: &registryv1.Token{Id: "0123456789abcdef", Name: "intruder", Role: registryv1.Role_ROLE_ADMIN, SecretHash: make([]byte, 32)}}}})
	other, _ := pki.NewCA("another CA", time.Hour)
	edgeA := testenv.NewClient(t, a.CP.Addr(), a.Token(t, "edge-a", registryv1.Role_ROLE_WORKER))
	edgeB := testenv.NewClient(t, a.CP.Addr(), a.Token(t, "edge-b", registryv1.Role_ROLE_WORKER))
	if err := edgeA.Report(ctx, a.report("w1", 10)); err != nil {
		t.Fatal(err)
	}
	raftInject := func(cfg *tls.Config) func(t *testing.T) {
		return func(t *testing.T) {
			res, err := raftattack.Inject(a.CP.Store.RaftAddr(), cfg, tokenCmd)
			if res.Applied {
				t.Fatalf("the intruder's entry applied at index %d", res.Index)
			}
			if err == nil {
				t.Fatal("exp the Raft port to refuse the intruder")
			}
		}
	}
	attacker := func(ca *pki.CA, id string) *tls.Config {
		c := raftTLS(t, ca, id)
		c.InsecureSkipVerify = true
		return c
	}
	route := func(r client.Route, field string) func(t *testing.T) {
		return func(t *testing.T) {
			_, _, err := a.Publisher.SetRoute(ctx, r)
			wantCode(t, err, codes.InvalidArgument, field)
		}
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "X-H" + strconv.Itoa(i)
		}
		return out
	}
	rules := func(n int) []*registryv1.RuleSpec {
		out := make([]*registryv1.RuleSpec, n)
		for i := range out {
			out[i] = &registryv1.RuleSpec{Kind: registryv1.MatchKind_MATCH_KIND_HEADER, Name: "X-Beta", Module: "hello"}
		}
		return out
	}
	versions := func(n int) []*registryv1.VersionSpec {
		out := []*registryv1.VersionSpec{}
		for i := 0; i < n; i++ {
			out = append(out, &registryv1.VersionSpec{Module: "hello", Weight: 10})
		}
		return out
	}

	tests := []struct {
		name    string
		attack  func(t *testing.T)
		changes bool // the point of the row is a change
	}{
		// The Raft port.
		{name: "raft: no certificate", attack: raftInject(nil)},
		{name: "raft: a certificate from another CA", attack: raftInject(attacker(other, "node1"))},
		{name: "raft: the cluster CA, but not a member", attack: raftInject(attacker(a.ca, "n9"))},

		// Telemetry.
		{name: "telemetry: a token reports only for itself", attack: func(t *testing.T) {
			if err := edgeB.Report(ctx, a.report("w1", 1_000_000)); err != nil {
				t.Fatal(err)
			}
			ws, err := a.Admin.Workers(ctx)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]int64{}
			for _, w := range ws {
				for _, v := range w.Report.Versions {
					byID[w.Report.WorkerId] += v.GetRequests()
				}
			}
			if byID["edge-a/w1"] != 10 || byID["edge-b/w1"] != 1_000_000 {
				t.Fatalf("exp each token's report under its own name, got %v", byID)
			}
		}},
		{name: "telemetry: negative counters", attack: func(t *testing.T) {
			r := a.report("w2", 5)
			r.Versions[0].ServerErrors = -5
			wantCode(t, edgeA.Report(ctx, r), codes.InvalidArgument, "negative")
		}},
		{name: "telemetry: counts that do not add up", attack: func(t *testing.T) {
			r := a.report("w2", 5)
			r.Versions[0].ServerErrors = 50
			wantCode(t, edgeA.Report(ctx, r), codes.InvalidArgument, "outnumber")
		}},
		{name: "telemetry: negative outbound calls", attack: func(t *testing.T) {
			r := a.report("w2", 5)
			r.Versions[0].OutboundCalls = -1
			wantCode(t, edgeA.Report(ctx, r), codes.InvalidArgument, "negative")
		}},
		{name: "telemetry: more failed outbound calls than calls", attack: func(t *testing.T) {
			r := a.report("w2", 5)
			r.Versions[0].OutboundCalls, r.Versions[0].OutboundFailures = 2, 3
			wantCode(t, edgeA.Report(ctx, r), codes.InvalidArgument, "outbound failures outnumber")
		}},
		{name: "telemetry: counters that go back", attack: func(t *testing.T) {
			wantCode(t, edgeA.Report(ctx, a.report("w1", 3)), codes.InvalidArgument, "went back")
		}},
		{name: "telemetry: an oversized report", attack: func(t *testing.T) {
			r := a.report("w3", 1)
			r.Version = long(200 << 10)
			wantCode(t, edgeA.Report(ctx, r), codes.InvalidArgument, "limit")
		}},
		{name: "telemetry: reports for unbounded workers", attack: func(t *testing.T) {
			var err error
			for i := 0; i < 30 && err == nil; i++ {
				err = edgeB.Report(ctx, a.report(fmt.Sprintf("fake-%d", i), 1))
			}
			wantCode(t, err, codes.ResourceExhausted, "the limit is 20")
		}},
		{name: "telemetry: made-up routes are not kept", attack: func(t *testing.T) {
			r := a.report("w4", 0)
			r.Versions[0].PathPrefix = "/made-up/"
			if err := edgeA.Report(ctx, r); err != nil {
				t.Fatal(err)
			}
			r.Versions[0].Requests, r.Versions[0].Successes, r.Versions[0].LatencyBuckets[0] = 100, 100, 100
			if err := edgeA.Report(ctx, r); err != nil {
				t.Fatal(err)
			}
			tr, err := a.Admin.Traffic(ctx, 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tr {
				if v.PathPrefix == "/made-up/" {
					t.Fatalf("the leader keeps traffic of a route that does not exist: %v", v)
				}
			}
		}},

		// Bounded state: each field past its limit, before anything reaches Raft.
		{name: "state: host", attack: route(client.Route{Host: long(250) + ".example", PathPrefix: "/", Module: "hello"}, "host is 258 bytes; the limit is 253")},
		{name: "state: path prefix", attack: route(client.Route{PathPrefix: "/" + long(3<<20), Module: "hello"}, "path_prefix is")},
		{name: "state: path under /.nanoedge/", attack: route(client.Route{PathPrefix: "/.nanoedge/status", Module: "hello"}, "belong to the worker")},
		{name: "state: path with a dot-dot segment", attack: route(client.Route{PathPrefix: "/a/../b", Module: "hello"}, `".." segment`)},
		{name: "state: sticky header name", attack: route(client.Route{PathPrefix: "/s", Module: "hello", StickyKey: "header:" + long(1<<20)}, "sticky_key is")},
		{name: "state: sticky header that is no token", attack: route(client.Route{PathPrefix: "/s", Module: "hello", StickyKey: "header:a b"}, "HTTP token")},
		{name: "state: rule name", attack: route(client.Route{PathPrefix: "/r", Module: "hello", Rules: []*registryv1.RuleSpec{{Kind: registryv1.MatchKind_MATCH_KIND_HEADER, Name: long(1 << 20), Module: "hello"}}}, "rules.name is")},
		{name: "state: rule pattern", attack: route(client.Route{PathPrefix: "/r", Module: "hello", Rules: []*registryv1.RuleSpec{{Kind: registryv1.MatchKind_MATCH_KIND_HEADER, Name: "X-A", Pattern: long(300), Module: "hello"}}}, "rules.pattern is")},
		{name: "state: rules", attack: route(client.Route{PathPrefix: "/r", Module: "hello", Rules: rules(33)}, "33 rules; the limit is 32")},
		{name: "state: versions", attack: route(client.Route{PathPrefix: "/v", Versions: versions(11)}, "11 versions; the limit is 10")},
		{name: "state: CORS list", attack: route(client.Route{PathPrefix: "/c", Module: "hello", Options: &registryv1.RouteOptions{Cors: &registryv1.CorsPolicy{AllowOrigins: []string{"*"}, AllowHeaders: many(33)}}}, "options.cors lists")},
		{name: "state: CORS entry", attack: route(client.Route{PathPrefix: "/c", Module: "hello", Options: &registryv1.RouteOptions{Cors: &registryv1.CorsPolicy{AllowOrigins: []string{"https://" + long(300) + ".example"}}}}, "options.cors entries")},
		{name: "state: route without a module", attack: route(client.Route{PathPrefix: "/none"}, "no module named")},
		{name: "state: flag description", attack: func(t *testing.T) {
			_, _, err := a.Publisher.SetFlag(ctx, "f", true, long(1<<20))
			wantCode(t, err, codes.InvalidArgument, "description is")
		}},
		{name: "state: upload source", attack: func(t *testing.T) {
			_, err := a.Publisher.Upload(ctx, "src", guests.Build(t, guests.Echo), client.WithSigner(a.Key), client.WithSource(long(3<<20)))
			wantCode(t, err, codes.InvalidArgument, "source is")
		}},

		// Revocation.
		{name: "revocation: a revoked key's modules cannot be routed; forced, they answer 503", changes: true, attack: func(t *testing.T) {
			key, _ := signing.GenerateKey()
			k, err := a.Admin.AddKey(ctx, "leaked", key.Public().(ed25519.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := a.Publisher.Upload(ctx, "leaked", guests.Build(t, guests.Echo), client.WithSigner(key)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/leaked/", Module: "leaked"}); err != nil {
				t.Fatal(err)
			}
			waitServed(t, a.worker.URL()+"/leaked/x", func(r response) bool { return r.status == 200 })
			_, err = a.Admin.RevokeKey(ctx, k.Id, false)
			wantCode(t, err, codes.FailedPrecondition, "/leaked/")
			if r := get(t, a.worker.URL()+"/leaked/x"); r.status != 200 {
				t.Fatalf("a refused revocation changed what is served: %d", r.status)
			}
			if _, err := a.Admin.RevokeKey(ctx, k.Id, true); err != nil {
				t.Fatal(err)
			}
			r := waitServed(t, a.worker.URL()+"/leaked/x", func(r response) bool { return r.status == 503 })
			if !strings.Contains(r.body, "revoked") {
				t.Fatalf("exp a clear 503, got %q", r.body)
			}
			_, _, err = a.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/leaked2/", Module: "leaked"})
			wantCode(t, err, codes.FailedPrecondition, "revoked")
		}},

		// Responses a guest builds.
		{name: "response: framing and worker headers in lowercase", attack: func(t *testing.T) {
			resp, err := http.Get(a.worker.URL() + "/bad/framing")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if resp.StatusCode != 200 || len(resp.TransferEncoding) != 0 || resp.ContentLength != 3 || len(h["Content-Length"]) != 1 ||
				len(h["Connection"]) != 0 || !strings.HasPrefix(h.Get("X-Nanoedge-Version"), "bad@") || h.Get("X-Request-Id") == "forged" || h.Get("X-Custom") != "kept" {
				t.Fatalf("exp the worker's framing and headers only: %d te=%v cl=%d %v", resp.StatusCode, resp.TransferEncoding, resp.ContentLength, h)
			}
		}},
		{name: "response: too many header fields", attack: func(t *testing.T) {
			if r := get(t, a.worker.URL()+"/bad/headers"); r.status != 502 || len(r.header) > 20 {
				t.Fatalf("exp 502 without the guest's headers, got %d with %d headers", r.status, len(r.header))
			}
		}},
		{name: "response: a header value that splits the response", attack: func(t *testing.T) {
			if r := get(t, a.worker.URL()+"/bad/splitting"); r.status != 502 || r.header.Get("Set-Cookie") != "" {
				t.Fatalf("exp 502 and no injected header, got %d %v", r.status, r.header)
			}
		}},
		{name: "response: 21 MB of log lines", attack: func(t *testing.T) {
			before := metricValue(t, a.worker.MetricsURL(), "nanoedge_worker_guest_output_dropped_bytes_total")
			if r := get(t, a.worker.URL()+"/bad/flood"); r.status != 200 {
				t.Fatalf("exp the request answered, got %d", r.status)
			}
			poll.Eventually(t, 5*time.Second, func() error {
				if d := metricValue(t, a.worker.MetricsURL(), "nanoedge_worker_guest_output_dropped_bytes_total") - before; d < 21<<20-(64<<10)-(4<<10) {
					return fmt.Errorf("dropped %.0f bytes", d)
				}
				return nil
			})
		}},
		{name: "request: a body sent slowly", attack: func(t *testing.T) {
			status, took := slowBody(t, a.worker.URL(), "/bad/x", 5*time.Second)
			if status != 408 || took > 3*time.Second {
				t.Fatalf("exp 408 at the route's 1 s deadline, got %d after %v", status, took)
			}
		}},

		// Other doors.
		{name: "worker status is not on the public port", attack: func(t *testing.T) {
			if r := get(t, a.worker.URL()+"/.nanoedge/status"); r.status != 404 || strings.Contains(r.body, a.hello.Digest) {
				t.Fatalf("public /.nanoedge/status: %d %q", r.status, r.body)
			}
			if r := get(t, a.worker.AdminURL()+"/status"); r.status != 200 || !strings.Contains(r.body, a.hello.Digest) {
				t.Fatalf("admin /status: %d %q", r.status, r.body)
			}
		}},
		{name: "dashboard headers", attack: func(t *testing.T) {
			r := get(t, a.CP.DashboardURL())
			for k, want := range map[string]string{"Content-Security-Policy": dashboard.CSP, "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
				if got := r.header.Get(k); got != want {
					t.Fatalf("dashboard %s: %q, want %q", k, got, want)
				}
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := a.state(t)
			tc.attack(t)
			a.healthy(t)
			if after := a.state(t); !tc.changes && after != before {
				t.Fatalf("the attack changed the registry:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}

// slowBody sends a request whose 100-byte body trickles in a byte every
// 100 ms, and returns the status and how long the answer took.
func slowBody(t *testing.T, base, path string, within time.Duration) (int, time.Duration) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n", path)
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case s := <-answered:
			return s, time.Since(start)
		case <-tick.C:
			conn.Write([]byte("x"))
		case <-time.After(within):
			return 0, time.Since(start)
		}
	}
}

// metricValue returns the value of an unlabelled series in a scrape.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(get(t, url).body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	t.Fatalf("no series %s at %s", name, url)
	return 0
}

// TestAdminListenersServeTLS: with --admin-tls-cert, the control plane's
// metrics and dashboard and a worker's admin listener speak only TLS.
func TestAdminListenersServeTLS(t *testing.T) {
	ca, err := pki.NewCA("admin CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue("admin", []string{"127.0.0.1"}, pki.Server, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pair.TLS()
	if err != nil {
		t.Fatal(err)
	}
	adminTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.MetricsAddr, cfg.DashboardAddr, cfg.AdminTLS = "127.0.0.1:0", "127.0.0.1:0", adminTLS
	env := testenv.Start(t, cfg)
	wcfg := env.WorkerConfig()
	wcfg.MetricsAddr, wcfg.AdminTLS = "127.0.0.1:0", adminTLS
	w := testenv.StartWorker(t, wcfg)
	trusting := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	for _, url := range []string{env.CP.MetricsURL(), strings.TrimSuffix(env.CP.MetricsURL(), "/metrics") + "/healthz", env.CP.DashboardURL(), w.MetricsURL()} {
		if !strings.HasPrefix(url, "https://") {
			t.Fatalf("%s is not https", url)
		}
		resp, err := trusting.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", url, resp.StatusCode)
		}
		if resp, err := http.Get(strings.Replace(url, "https://", "http://", 1)); err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			t.Fatalf("%s answered plain HTTP", url)
		}
	}
	if r, err := trusting.Get(env.CP.DashboardURL()); err == nil {
		r.Body.Close()
		if r.Header.Get("Strict-Transport-Security") == "" {
			t.Fatal("the dashboard over TLS sends no Strict-Transport-Security")
		}
	}
}
