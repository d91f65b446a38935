package systemtest

import (
	"bytes"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestGuestCannotHarmWorker sends every kind of misbehaviour through a real
// worker and checks each gets the right status, the worker keeps serving,
// and no goroutines or memory are left behind.
func TestGuestCannotHarmWorker(t *testing.T) {
	env := startEnv(t)
	wcfg := env.WorkerConfig()
	wcfg.Engine.MemoryLimit = 64 << 20
	wcfg.Worker.MaxRequestBody = 1 << 20
	wcfg.Worker.MaxHeaderBytes = 8 << 10
	// A generous worker deadline, so a slow machine cannot turn a memory
	// bomb's 500 into a 504; runaway guests go to a route that tightens it.
	wcfg.Worker.RequestTimeout = time.Minute
	w := testenv.StartWorker(t, wcfg)
	env.Upload(t, "misbehave", guests.Misbehave)
	ctx := ctxT(t)
	for _, r := range []client.Route{
		{PathPrefix: "/", Module: "misbehave"},
		{PathPrefix: "/tight/", Module: "misbehave", Options: &registryv1.RouteOptions{TimeoutMs: 1000, MaxRequestBody: 1 << 10}},
		{PathPrefix: "/strict/", Module: "misbehave", Options: &registryv1.RouteOptions{StrictIsolation: true}},
	} {
		if _, _, err := env.Publisher.SetRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, w.URL()+"/strict/fine", func(r response) bool { return r.status == 200 })
	waitServed(t, w.URL()+"/tight/fine", func(r response) bool { return r.status == 200 })

	post := func(url string, n int) func() *http.Request {
		return func() *http.Request {
			req, _ := http.NewRequest("POST", url, bytes.NewReader(make([]byte, n)))
			return req
		}
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		body   string
	}{
		{"panic", getReq(w.URL() + "/panic"), 500, "handler panicked"},
		{"runaway loop", getReq(w.URL() + "/tight/loop"), 504, "did not answer in time"},
		{"sleep", getReq(w.URL() + "/tight/sleep"), 504, "did not answer in time"},
		{"memory bomb", getReq(w.URL() + "/oom"), 500, "handler failed"},
		{"exit", getReq(w.URL() + "/exit"), 500, "handler failed"},
		{"host call with a wild pointer", getReq(w.URL() + "/wild"), 500, "handler failed"},
		{"body too large", post(w.URL()+"/fine", 2<<20), 413, "request body too large"},
		{"body too large for the route", post(w.URL()+"/tight/fine", 2<<10), 413, "2048 bytes, limit 1024"},
		{"chunked body too large", func() *http.Request {
			req, _ := http.NewRequest("POST", w.URL()+"/fine", struct{ *bytes.Reader }{bytes.NewReader(make([]byte, 2<<20))})
			return req
		}, 413, "request body too large"},
		{"headers too large", func() *http.Request {
			req, _ := http.NewRequest("GET", w.URL()+"/fine", nil)
			req.Header.Set("X-Big", strings.Repeat("x", 16<<10))
			return req
		}, 431, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := do(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.status || !strings.Contains(r.body, tt.body) {
				t.Fatalf("exp %d mentioning %q, got %d %q", tt.status, tt.body, r.status, r.body)
			}
			for _, p := range []string{"/fine", "/tight/fine"} {
				if r := get(t, w.URL()+p); r.status != 200 || r.body != "ok\n" {
					t.Fatalf("exp the next request to succeed, got %d %q", r.status, r.body)
				}
			}
		})
	}
	stats := map[string]int64{}
	for _, r := range w.Status().Routes {
		stats[r.PathPrefix+" traps"], stats[r.PathPrefix+" timeouts"] = r.Stats.Traps, r.Stats.Timeouts
	}
	if stats["/ traps"] != 3 || stats["/tight/ timeouts"] != 2 {
		t.Fatalf("exp 3 traps on / and 2 timeouts on /tight/, got %v", stats)
	}

	// A strict route never shows one request's state to the next; a pooled
	// one reuses its warm instance.
	for i := 0; i < 3; i++ {
		if r := get(t, w.URL()+"/strict/count"); r.body != "1\n" {
			t.Fatalf("strict isolation: request %d saw %q", i, r.body)
		}
	}
	if a, b := get(t, w.URL()+"/count").body, get(t, w.URL()+"/count").body; a == b {
		t.Fatalf("exp a pooled instance to keep its state, got %q then %q", a, b)
	}
}

// TestNoLeaksAfterMisbehaviour repeats traps, timeouts and memory bombs and
// checks the worker's goroutines and heap return to where they were.
func TestNoLeaksAfterMisbehaviour(t *testing.T) {
	env := startEnv(t)
	wcfg := env.WorkerConfig()
	wcfg.Engine.MemoryLimit = 64 << 20
	wcfg.Worker.RequestTimeout = time.Minute
	w := testenv.StartWorker(t, wcfg)
	env.Upload(t, "misbehave", guests.Misbehave)
	ctx := ctxT(t)
	for _, r := range []client.Route{
		{PathPrefix: "/", Module: "misbehave"},
		{PathPrefix: "/tight/", Module: "misbehave", Options: &registryv1.RouteOptions{TimeoutMs: 300}},
	} {
		if _, _, err := env.Publisher.SetRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, w.URL()+"/tight/fine", func(r response) bool { return r.status == 200 })
	round := func() {
		for _, p := range []string{"/panic", "/oom", "/exit", "/tight/loop", "/tight/sleep", "/fine"} {
			get(t, w.URL()+p)
		}
	}
	round() // first instantiations, caches and pools settle
	http.DefaultClient.CloseIdleConnections()
	goroutines, heap := settle()
	for i := 0; i < 5; i++ {
		round()
	}
	http.DefaultClient.CloseIdleConnections()
	poll.Eventually(t, 30*time.Second, func() error {
		g, h := settle()
		if g > goroutines+5 || h > heap+64<<20 {
			return fmt.Errorf("goroutines %d -> %d, heap %d MiB -> %d MiB", goroutines, g, heap>>20, h>>20)
		}
		return nil
	})
}

func settle() (goroutines int, heap uint64) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapInuse
}

func getReq(url string) func() *http.Request {
	return func() *http.Request {
		req, _ := http.NewRequest("GET", url, nil)
		return req
	}
}
