package systemtest

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testenv"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
	"github.com/nanoedge/nanoedge/sdk/client"
)

func itoa(v int64) string { return strconv.FormatInt(v, 10) }

// TestGuestCannotHarmWorker sends every kind of misbehaviour through a real
// worker and checks each gets the right status and the worker keeps serving.
func TestGuestCannotHarmWorker(t *testing.T) {
	env := startEnv(t)
	wcfg := env.WorkerConfig()
	wcfg.Engine.MemoryLimit = 64 << 20
	wcfg.Worker.MaxRequestBody = 1 << 20
	wcfg.Worker.MaxHeaderBytes = 8 << 10
	// A generous deadline, so a slow machine cannot turn a memory bomb's
	// 500 into a 504; runaway guests go to a worker with a tight one.
	wcfg.Worker.RequestTimeout = time.Minute
	w := testenv.StartWorker(t, wcfg)
	wcfg.Worker.RequestTimeout = time.Second
	tight := testenv.StartWorker(t, wcfg)
	env.Upload(t, "misbehave", wasmtest.Misbehave)
	if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/", Module: "misbehave"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/fine", func(r response) bool { return r.status == 200 })
	waitServed(t, tight.URL()+"/fine", func(r response) bool { return r.status == 200 })

	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		body   string
	}{
		{"panic", getReq(w.URL() + "/panic"), 500, "handler panicked"},
		{"runaway loop", getReq(tight.URL() + "/loop"), 504, "did not answer in time"},
		{"sleep", getReq(tight.URL() + "/sleep"), 504, "did not answer in time"},
		{"memory bomb", getReq(w.URL() + "/oom"), 500, "handler failed"},
		{"exit", getReq(w.URL() + "/exit"), 500, "handler failed"},
		{"body too large", func() *http.Request {
			req, _ := http.NewRequest("POST", w.URL()+"/fine", bytes.NewReader(make([]byte, 2<<20)))
			return req
		}, 413, "request body too large"},
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
			for _, u := range []string{w.URL(), tight.URL()} {
				if r := get(t, u+"/fine"); r.status != 200 || r.body != "ok\n" {
					t.Fatalf("exp the next request to succeed, got %d %q", r.status, r.body)
				}
			}
		})
	}
	if st := w.Status(); len(st.Routes) != 1 || st.Routes[0].Stats.Traps != 2 {
		t.Fatalf("exp the memory bomb and the exit counted as traps, got %+v", st.Routes)
	}
	if st := tight.Status(); len(st.Routes) != 1 || st.Routes[0].Stats.Timeouts != 2 {
		t.Fatalf("exp the loop and the sleep counted as timeouts, got %+v", st.Routes)
	}
}

func getReq(url string) func() *http.Request {
	return func() *http.Request {
		req, _ := http.NewRequest("GET", url, nil)
		return req
	}
}
