package systemtest

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/internal/testing/chromium"
	"github.com/nanoedge/nanoedge/internal/testing/conformance"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// browserEnv is a worker serving the echo guest on /api/ (browser hosting
// allowed), an application page on /app/ and echo again on /plain/ (not
// for browsers).
func browserEnv(t *testing.T) (*testenv.Env, *dataplaneURL, []conformance.Case) {
	env := startEnv(t)
	w := testenv.StartWorker(t, env.WorkerConfig())
	env.Upload(t, "api", guests.Echo)
	env.Upload(t, "app", guests.Page)
	env.Upload(t, "bad", guests.Misbehave)
	env.Upload(t, "call", guests.Caller)
	ctx := ctxT(t)
	browserOK := &registryv1.RouteOptions{Browser: true}
	for _, r := range []client.Route{
		{PathPrefix: "/api/", Module: "api", Options: browserOK},
		{PathPrefix: "/app/", Module: "app", Options: browserOK},
		{PathPrefix: "/plain/", Module: "api"},
		{PathPrefix: "/bad/", Module: "bad", Options: browserOK},
		{PathPrefix: "/call/", Module: "call", Options: browserOK},
	} {
		if _, _, err := env.Publisher.SetRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, w.URL()+"/app/", func(r response) bool { return r.status == 200 })
	waitServed(t, w.URL()+"/api/x", func(r response) bool { return r.status == 200 })
	waitServed(t, w.URL()+"/call/ok", func(r response) bool { return r.status == 200 }) // a larger module, bound last
	cases, err := conformance.Cases()
	if err != nil {
		t.Fatal(err)
	}
	return env, &dataplaneURL{w.URL(), w.Close}, cases
}

type dataplaneURL struct {
	url   string
	close func() error
}

// TestConformanceOnWorker runs the shared conformance table against a
// worker over HTTP.
func TestConformanceOnWorker(t *testing.T) {
	_, w, cases := browserEnv(t)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			req, err := c.Request(w.url)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err := c.Check(c.Record(resp, body)); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBrowserHost runs the same module inside Chromium's Service Worker:
// the conformance table gives the worker's answers; a tampered module or
// one signed by an untrusted key is refused and requests go to the
// network; with the worker stopped, the module still answers.
func TestBrowserHost(t *testing.T) {
	chromium.Require(t)
	env, w, cases := browserEnv(t)

	// The worker serves the manifest and bytes only for routes that allow it.
	for path, want := range map[string]int{"/api/": 200, "/plain/": 403, "/nowhere/": 404} {
		if r := get(t, w.url+dataplane.BrowserPrefix+"manifest?path="+path); r.status != want {
			t.Fatalf("manifest for %s: %d %q, want %d", path, r.status, r.body, want)
		}
	}
	var man dataplane.Manifest
	json.Unmarshal([]byte(get(t, w.url+dataplane.BrowserPrefix+"manifest?path=/api/x").body), &man)
	if r := get(t, w.url+man.URL); r.status != 200 || r.header.Get("Cache-Control") != "public, max-age=31536000, immutable" || r.header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("module bytes: %d %v", r.status, r.header)
	}
	for _, script := range []string{"register.js", "sw.js", "host.js", "abi.js", "wasi.js"} {
		r := get(t, w.url+dataplane.BrowserPrefix+script)
		if r.status != 200 || r.header.Get("Content-Type") != "text/javascript; charset=utf-8" || r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("%s: %d %v", script, r.status, r.header)
		}
		if script == "sw.js" && r.header.Get("Content-Security-Policy") != dataplane.BrowserWorkerCSP {
			t.Fatalf("sw.js without its policy: %v", r.header)
		}
	}
	var app dataplane.Manifest
	json.Unmarshal([]byte(get(t, w.url+dataplane.BrowserPrefix+"manifest?path=/app/").body), &app)

	other, _ := signing.GenerateKey()
	cfg, _ := json.Marshal(map[string]any{
		"key":       signing.EncodePublicKey(env.Key.Public().(ed25519.PublicKey)),
		"otherKey":  signing.EncodePublicKey(other.Public().(ed25519.PublicKey)),
		"tamperURL": app.URL, // real, signed bytes, but not the ones the manifest names
		"cases":     json.RawMessage(conformance.CasesJSON),
	})
	cfgFile := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfgFile, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	s := chromium.Start(t, "serviceworker.mjs", w.url, cfgFile)

	type report struct {
		Route   string             `json:"route"`
		OK      bool               `json:"ok"`
		Error   string             `json:"error"`
		Timings map[string]float64 `json:"timings"`
	}
	type probe struct {
		Status  int    `json:"status"`
		Host    string `json:"host"`
		Version string `json:"version"`
		Error   string `json:"error"`
	}
	var online struct {
		Reports []report `json:"reports"`
		Recycle struct {
			Before   []string `json:"before"`
			Exit     int      `json:"exit"`
			ExitHost string   `json:"exitHost"`
			After    string   `json:"after"`
			Outbound struct {
				Status int    `json:"status"`
				Host   string `json:"host"`
				Body   string `json:"body"`
			} `json:"outbound"`
			Stream struct {
				Status int    `json:"status"`
				Host   string `json:"host"`
				Body   string `json:"body"`
			} `json:"stream"`
		} `json:"recycle"`
		Results []struct {
			conformance.Result
			Host string `json:"host"`
		} `json:"results"`
		WarmMs    float64 `json:"warmMs"`
		NetworkMs float64 `json:"networkMs"`
		Tampered  struct {
			Reports []report `json:"reports"`
			Probe   probe    `json:"probe"`
		} `json:"tampered"`
		Untrusted struct {
			Reports []report `json:"reports"`
			Probe   probe    `json:"probe"`
		} `json:"untrusted"`
		Logs      []string `json:"logs"`
		InlineRan bool     `json:"inlineRan"`
		Malformed []string `json:"malformed"`
	}
	if err := json.Unmarshal([]byte(s.Next(t)), &online); err != nil {
		t.Fatal(err)
	}
	if len(online.Reports) != 3 || !online.Reports[0].OK || !online.Reports[1].OK || !online.Reports[2].OK {
		t.Fatalf("module load in the browser: %+v\nconsole: %v", online.Reports, online.Logs)
	}
	for _, m := range online.Malformed {
		if !strings.Contains(m, "is not a public key as 'nanoedge keys list' prints it") {
			t.Fatalf("register with a malformed key: %v", online.Malformed)
		}
	}
	if len(online.Malformed) != 3 {
		t.Fatalf("malformed keys: %v", online.Malformed)
	}
	if online.InlineRan {
		t.Fatal("an inline script ran: the page's Content-Security-Policy was not in force, so the test proves nothing about it")
	}
	tm := online.Reports[0].Timings
	t.Logf("browser: first load %.0f ms (fetch %.0f, verify %.1f, compile %.0f, init %.1f); warm request %.2f ms in the Service Worker, %.2f ms through the worker",
		tm["total"], tm["fetch"], tm["verify"], tm["compile"], tm["init"], online.WarmMs, online.NetworkMs)

	t.Run("a guest that exits is answered 500 and its instance replaced", func(t *testing.T) {
		rc := online.Recycle
		if strings.Join(rc.Before, ",") != "1,2" || rc.Exit != 500 || rc.ExitHost != "browser" || rc.After != "1" {
			t.Fatalf("instance reuse and recycling in the browser: %+v", rc)
		}
	})
	t.Run("a handler that calls out goes to the network; a stream comes whole", func(t *testing.T) {
		o, st := online.Recycle.Outbound, online.Recycle.Stream
		if o.Status != 502 || o.Host == "browser" || !strings.Contains(o.Body, "this route allows no outbound calls") {
			t.Fatalf("outbound call in the browser: %+v", o)
		}
		if st.Status != 200 || st.Host != "browser" || st.Body != "data: part 0\n\ndata: part 1\n\n" {
			t.Fatalf("flushed response in the browser: %+v", st)
		}
	})
	t.Run("conformance", func(t *testing.T) {
		if len(online.Results) != len(cases) {
			t.Fatalf("%d results for %d cases", len(online.Results), len(cases))
		}
		for i, c := range cases {
			r := online.Results[i]
			if r.Host != "browser" {
				t.Errorf("%s: answered by %q, not the module in the Service Worker", c.Name, r.Host)
			}
			if err := c.Check(r.Result); err != nil {
				t.Error(err)
			}
		}
	})
	refused := func(t *testing.T, reports []report, p probe, why string) {
		if len(reports) != 1 || reports[0].OK || !strings.Contains(reports[0].Error, why) {
			t.Fatalf("exp the module refused for %q, got %+v", why, reports)
		}
		if p.Status != 200 || p.Host != "" || !strings.HasPrefix(p.Version, "api@") {
			t.Fatalf("exp the request answered by the worker over the network, got %+v", p)
		}
	}
	t.Run("tampered module is refused", func(t *testing.T) {
		refused(t, online.Tampered.Reports, online.Tampered.Probe, "module bytes have digest")
	})
	t.Run("untrusted key is refused", func(t *testing.T) {
		refused(t, online.Untrusted.Reports, online.Untrusted.Probe, "not a trusted key")
	})

	t.Run("answers with the worker stopped", func(t *testing.T) {
		if err := w.close(); err != nil {
			t.Fatal(err)
		}
		s.Send(t, "stopped")
		var offline struct {
			Offline, Network probe
		}
		if err := json.Unmarshal([]byte(s.Next(t)), &offline); err != nil {
			t.Fatal(err)
		}
		if offline.Offline.Status != 200 || offline.Offline.Host != "browser" {
			t.Fatalf("with the worker stopped: %+v", offline.Offline)
		}
		if offline.Network.Error == "" {
			t.Fatalf("a path outside the routes still reached a server: %+v", offline.Network)
		}
	})
}
