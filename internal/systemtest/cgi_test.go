package systemtest

import (
	"bufio"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestCGIModuleInC serves a handler written in C and built with clang for
// wasm32-wasi (no Nanoedge SDK): the request reaches it as CGI environment
// and stdin, its stdout becomes the response, and its failures are answered
// like any guest's while the worker goes on serving.
func TestCGIModuleInC(t *testing.T) {
	env := startEnv(t)
	wcfg := env.WorkerConfig()
	wcfg.Worker.RequestTimeout = 2 * time.Second
	wcfg.Engine.MemoryLimit = 32 << 20
	w := testenv.StartWorker(t, wcfg)
	mod := env.Upload(t, "c-echo", guests.CEcho).Module
	if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/c/", Module: "c-echo"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/c/ready", func(r response) bool { return r.status == 200 })

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		header map[string]string
		inBody string
	}{
		{"get with a query", "GET", "/c/items?id=7", "", 200,
			map[string]string{"X-Cgi-Method": "GET", "X-Cgi-Path": "/c/items", "X-Cgi-Query": "id=7", "X-Cgi-Custom": "from-test", "X-Cgi-Server": "nanoedge", "Content-Type": "text/plain; charset=utf-8"},
			"hello from C, 0 bytes: "},
		{"post body on stdin", "POST", "/c/upload", "a body for C", 200, map[string]string{"X-Cgi-Method": "POST"}, "hello from C, 12 bytes: a body for C"},
		{"status from the script", "GET", "/c/missing?status=404", "", 404, nil, ""},
		{"runaway loop", "GET", "/c/loop", "", 504, nil, "did not answer in time"},
		{"memory bomb", "GET", "/c/oom", "", 500, nil, "the handler failed"},
		{"non-zero exit", "GET", "/c/exit3", "", 500, nil, "the handler failed"},
		{"no header section", "GET", "/c/garbage", "", 502, nil, "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, w.URL()+tt.path, strings.NewReader(tt.body))
			req.Header.Set("X-Custom", "from-test")
			r, err := do(req)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.status || !strings.Contains(r.body, tt.inBody) {
				t.Fatalf("exp %d with %q, got %d %q", tt.status, tt.inBody, r.status, r.body)
			}
			for k, v := range tt.header {
				if got := r.header.Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if v := r.header.Get("X-Nanoedge-Version"); !strings.HasPrefix(v, "c-echo@"+mod.Digest[:19]) {
				t.Errorf("version header %q", v)
			}
			// Whatever the script did, the next request is served.
			if r := get(t, w.URL()+"/c/after"); r.status != 200 {
				t.Fatalf("after %s: %d %q", tt.name, r.status, r.body)
			}
		})
	}

	t.Run("stdout streams from the end of the header section", func(t *testing.T) {
		// The script writes a first line, flushes and spins: the line
		// reaches the client at once, and the deadline then cuts the
		// connection (a whole response would be a 504 without it).
		resp, err := http.Get(w.URL() + "/c/partial")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		line, err := bufio.NewReader(resp.Body).ReadString('\n')
		if resp.StatusCode != 200 || line != "first part\n" || err != nil {
			t.Fatalf("got %d, %q, %v", resp.StatusCode, line, err)
		}
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("the stream ended cleanly; the deadline must cut it")
		}
		if r := get(t, w.URL()+"/c/after"); r.status != 200 {
			t.Fatalf("after: %d %q", r.status, r.body)
		}
	})

	t.Run("a module that is neither kind is refused at upload", func(t *testing.T) {
		_, err := env.Publisher.Upload(ctxT(t), "nothing", []byte("\x00asm\x01\x00\x00\x00"), client.WithSigner(env.Key))
		if err == nil || !strings.Contains(err.Error(), "as a WASI command (_start) for CGI") {
			t.Fatalf("exp a refusal naming both kinds, got %v", err)
		}
	})
}
