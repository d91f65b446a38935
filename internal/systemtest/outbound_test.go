package systemtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// origin is a local server handlers call: it records what reached it.
type origin struct {
	*httptest.Server
	// gate holds /gate requests until it is closed; gateTimedOut counts
	// those that gave up after 20 s.
	gate         chan struct{}
	gateTimedOut atomic.Int32
	traceparent  atomic.Value // of the last request
	inFlight     atomic.Int32
	maxInFlight  atomic.Int32
}

func startOrigin(t *testing.T) *origin {
	o := &origin{gate: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("/gate", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-o.gate:
		case <-time.After(20 * time.Second):
			o.gateTimedOut.Add(1)
		}
	})
	mux.HandleFunc("/hello", func(w http.ResponseWriter, r *http.Request) {
		o.traceparent.Store(r.Header.Get("Traceparent"))
		fmt.Fprintf(w, "hello from origin (%s)", r.Header.Get("X-Forwarded-By"))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/hello", http.StatusFound) })
	mux.HandleFunc("/redirect-away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+strings.Replace(r.Host, "127.0.0.1", "127.0.0.2", 1)+"/hello", http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 2<<20)) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		n := o.inFlight.Add(1)
		defer o.inFlight.Add(-1)
		for m := o.maxInFlight.Load(); n > m && !o.maxInFlight.CompareAndSwap(m, n); m = o.maxInFlight.Load() {
		}
		d, _ := time.ParseDuration(r.URL.Query().Get("d"))
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		io.WriteString(w, "slow")
	})
	o.Server = httptest.NewServer(mux)
	t.Cleanup(o.Close)
	return o
}

// TestOutboundHTTP: a handler calls out with net/http's own client
// (http.Get through the SDK's transport), only to the origins its route
// lists and only to addresses the worker allows, within the request's
// limits and deadline; every refusal is a clear error in the guest, and
// the worker serves on after each.
func TestOutboundHTTP(t *testing.T) {
	env := startEnv(t)
	o := startOrigin(t)
	port := o.Listener.Addr().(*net.TCPAddr).Port
	cfg := env.WorkerConfig()
	cfg.Worker.OutboundPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	trusting := testenv.StartWorker(t, cfg).URL()
	strict := testenv.StartWorker(t, env.WorkerConfig()).URL() // loopback refused
	env.Upload(t, "caller", guests.Caller)
	ctx := ctxT(t)
	policy := &registryv1.OutboundPolicy{
		Allow:    []string{o.URL, fmt.Sprintf("http://localhost:%d", port), "http://169.254.169.254"},
		MaxCalls: 3, MaxResponseBytes: 1 << 20,
	}
	for _, r := range []client.Route{
		{PathPrefix: "/out/", Module: "caller", Options: &registryv1.RouteOptions{Outbound: policy, TimeoutMs: 1500}},
		{PathPrefix: "/closed/", Module: "caller"},
	} {
		if _, _, err := env.Publisher.SetRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	fetch := func(w, prefix, target string) string {
		return w + prefix + "fetch?url=" + url.QueryEscape(target)
	}
	waitServed(t, fetch(trusting, "/out/", o.URL+"/hello"), func(r response) bool { return r.status == 200 })
	waitServed(t, strict+"/closed/ok", func(r response) bool { return r.status == 200 })

	tests := []struct {
		name, url string
		status    int
		contains  string
	}{
		{"allowed origin", fetch(trusting, "/out/", o.URL+"/hello"), 200, "hello from origin"},
		{"redirect within the list", fetch(trusting, "/out/", o.URL+"/redirect"), 200, "hello from origin"},
		{"three calls, the limit", fetch(trusting, "/out/", o.URL+"/hello") + "&n=3", 200, "hello from origin"},
		{"a fourth call", fetch(trusting, "/out/", o.URL+"/hello") + "&n=4", 502, "outbound limit reached: 3 outbound calls per request"},
		{"redirect off the list", fetch(trusting, "/out/", o.URL+"/redirect-away"), 502, "is not an origin this route allows"},
		{"origin not listed", fetch(trusting, "/out/", fmt.Sprintf("http://127.0.0.2:%d/hello", port)), 502, "is not an origin this route allows"},
		{"other scheme", fetch(trusting, "/out/", "https://"+o.Listener.Addr().String()+"/hello"), 502, "is not an origin this route allows"},
		{"route without a policy", fetch(trusting, "/closed/", o.URL+"/hello"), 502, "this route allows no outbound calls"},
		{"response past the byte limit", fetch(trusting, "/out/", o.URL+"/big"), 502, "1048576 response bytes per request"},
		{"metadata address, listed but not allowed by the worker", fetch(trusting, "/out/", "http://169.254.169.254/latest/meta-data/"), 502, "169.254.169.254 is not a public address"},
		{"loopback on a worker that refuses it", fetch(strict, "/out/", o.URL+"/hello"), 502, "127.0.0.1 is not a public address"},
		{"a listed name resolving to loopback", fetch(strict, "/out/", fmt.Sprintf("http://localhost:%d/hello", port)), 502, "is not a public address"},
		{"not a URL", fetch(trusting, "/out/", "/relative"), 502, "not an absolute http or https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.url)
			if r.status != tt.status || !strings.Contains(r.body, tt.contains) {
				t.Fatalf("got %d %q, want %d containing %q", r.status, r.body, tt.status, tt.contains)
			}
			// The worker serves on.
			if r := get(t, fetch(trusting, "/out/", o.URL+"/hello")); r.status != 200 {
				t.Fatalf("after: %d %q", r.status, r.body)
			}
		})
	}

	t.Run("the call carries the request's trace", func(t *testing.T) {
		req, _ := http.NewRequest("GET", fetch(trusting, "/out/", o.URL+"/hello"), nil)
		const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
		req.Header.Set("Traceparent", "00-"+trace+"-00f067aa0ba902b7-01")
		if r, err := do(req); err != nil || r.status != 200 {
			t.Fatalf("%v %v", r, err)
		}
		if got, _ := o.traceparent.Load().(string); !strings.HasPrefix(got, "00-"+trace+"-") || strings.Contains(got, "00f067aa0ba902b7") {
			t.Fatalf("origin saw traceparent %q: want the trace continued under the worker's span", got)
		}
	})

	t.Run("the fleet's traffic counts the calls", func(t *testing.T) {
		poll.Eventually(t, 30*time.Second, func() error {
			vs, err := env.Admin.Traffic(ctx, time.Minute)
			if err != nil {
				return err
			}
			var calls, failed int64
			for _, v := range vs {
				if v.PathPrefix == "/out/" {
					calls, failed = calls+v.OutboundCalls, failed+v.OutboundFailures
				}
			}
			// Each row above: at least one call; the refused ones failed.
			if calls < int64(len(tests)) || failed < 8 {
				return fmt.Errorf("traffic for /out/: %d outbound calls, %d failed", calls, failed)
			}
			return nil
		})
	})
	t.Run("the deadline stops a guest waiting on the network", func(t *testing.T) {
		r := get(t, fetch(trusting, "/out/", o.URL+"/slow?d=30s"))
		if r.status != http.StatusGatewayTimeout && r.status != http.StatusBadGateway {
			t.Fatalf("got %d %q, want 504 (or the guest's 502 for its failed call)", r.status, r.body)
		}
		if r := get(t, fetch(trusting, "/out/", o.URL+"/hello")); r.status != 200 {
			t.Fatalf("after: %d %q", r.status, r.body)
		}
	})
}

// TestWaitingGivesUpTheCPU: requests whose handlers wait on the network
// do not hold the worker's places for running guest code. With one such
// place, eight requests waiting on a slow origin reach it at once.
func TestWaitingGivesUpTheCPU(t *testing.T) {
	env := startEnv(t)
	o := startOrigin(t)
	cfg := env.WorkerConfig()
	cfg.Worker.OutboundPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.Worker.Concurrency = 1
	worker := testenv.StartWorker(t, cfg).URL()
	env.Upload(t, "caller", guests.Caller)
	if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/", Module: "caller",
		Options: &registryv1.RouteOptions{Outbound: &registryv1.OutboundPolicy{Allow: []string{o.URL}}}}); err != nil {
		t.Fatal(err)
	}
	u := worker + "/fetch?url=" + url.QueryEscape(o.URL+"/slow?d=1s")
	waitServed(t, u, func(r response) bool { return r.status == 200 })
	o.maxInFlight.Store(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := get(t, u); r.status != 200 || r.body != "slow" {
				t.Errorf("got %d %q", r.status, r.body)
			}
		}()
	}
	wg.Wait()
	if got := o.maxInFlight.Load(); got < 4 {
		t.Fatalf("at most %d requests reached the origin at once; with one CPU place held through waits it would be 1", got)
	}
}

// TestStreamedResponses: what a handler flushes reaches the client then;
// a large response streams; one past the worker's limit, or past the
// route's deadline, is cut rather than passed off as whole.
func TestStreamedResponses(t *testing.T) {
	env := startEnv(t)
	o := startOrigin(t)
	cfg := env.WorkerConfig()
	cfg.Worker.OutboundPrivate = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg.Worker.MaxResponseBody = 4 << 20
	worker := testenv.StartWorker(t, cfg).URL()
	env.Upload(t, "mis", guests.Misbehave)
	env.Upload(t, "caller", guests.Caller)
	for _, r := range []client.Route{
		{PathPrefix: "/", Module: "mis", Options: &registryv1.RouteOptions{TimeoutMs: 2000}},
		{PathPrefix: "/call/", Module: "caller", Options: &registryv1.RouteOptions{TimeoutMs: 2000, Outbound: &registryv1.OutboundPolicy{Allow: []string{o.URL}}}},
	} {
		if _, _, err := env.Publisher.SetRoute(ctxT(t), r); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, worker+"/call/fetch?url="+url.QueryEscape(o.URL+"/hello"), func(r response) bool { return strings.HasPrefix(r.body, "hello from origin") })
	waitServed(t, worker+"/ok", func(r response) bool { return r.status == 200 })

	t.Run("flushed parts arrive as they are written", func(t *testing.T) {
		// The handler writes part 0, flushes, and then waits on the
		// origin's gate, which opens only once part 0 has reached the
		// client: a response delivered whole would not arrive until the
		// gate gave up.
		resp, err := http.Get(worker + "/call/stream?n=3&gate=" + url.QueryEscape(o.URL+"/gate"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("got %d %v", resp.StatusCode, resp.Header)
		}
		br := bufio.NewReader(resp.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "data: part 0\n" {
			t.Fatalf("first line %q, %v", line, err)
		}
		close(o.gate)
		rest, err := io.ReadAll(br)
		if err != nil || string(rest) != "\ndata: part 1 (gate: 200 OK)\n\ndata: part 2 (gate: 200 OK)\n\n" {
			t.Fatalf("rest %q, %v", rest, err)
		}
		if n := o.gateTimedOut.Load(); n != 0 {
			t.Fatalf("the handler waited on the gate %d times before part 0 reached the client", n)
		}
	})
	t.Run("trailers follow the body", func(t *testing.T) {
		resp, err := http.Get(worker + "/trailer")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || string(b) != "a body with trailers\n" || resp.Header.Get("X-Length") != "" {
			t.Fatalf("body %q, %v, header %v", b, err, resp.Header)
		}
		if resp.Trailer.Get("X-Length") != "21" || resp.Trailer.Get("X-Late") != "late" {
			t.Fatalf("trailers %v", resp.Trailer)
		}
	})
	t.Run("a large response streams whole", func(t *testing.T) {
		r := get(t, worker+"/big?mb=3")
		if r.status != 200 || len(r.body) != 3<<20 {
			t.Fatalf("got %d, %d bytes", r.status, len(r.body))
		}
	})
	for _, path := range []string{"/big?mb=6", "/stream?n=100&sleep=100"} {
		t.Run("cut: "+path, func(t *testing.T) {
			resp, err := http.Get(worker + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if _, err := io.ReadAll(resp.Body); err == nil {
				t.Fatalf("the body of %s ended cleanly; it must be cut", path)
			}
			if r := get(t, worker+"/ok"); r.status != 200 {
				t.Fatalf("after: %d %q", r.status, r.body)
			}
		})
	}
}
