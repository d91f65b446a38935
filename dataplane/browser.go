package dataplane

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/browser"
)

// BrowserPrefix is where a worker serves the browser host: its scripts, a
// route's manifest and module bytes.
const BrowserPrefix = InternalPrefix + "browser/"

// BrowserWorkerCSP is the Content-Security-Policy of the browser host's
// Service Worker script.
const BrowserWorkerCSP = "script-src 'self' 'wasm-unsafe-eval'; object-src 'none'; base-uri 'none'"

// browserCacheSize is how many modules' bytes a worker keeps for browsers.
const browserCacheSize = 4

// Manifest tells a browser which module serves a route and how it was
// signed; the browser checks the bytes it fetches against both.
type Manifest struct {
	Route     string `json:"route"`
	Name      string `json:"name"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	KeyID     string `json:"keyId"`
	Signature string `json:"signature"` // base64
	URL       string `json:"url"`
}

// browserModules fetches module bytes from the registry for browsers and
// keeps the last few.
type browserModules struct {
	mu    sync.Mutex
	order []string
	mods  map[string]*browserModule
}

type browserModule struct {
	meta *registryv1.Module
	wasm []byte
}

func (b *browserModules) get(ctx context.Context, reg Registry, digest string) (*browserModule, error) {
	b.mu.Lock()
	if m := b.mods[digest]; m != nil {
		b.mu.Unlock()
		return m, nil
	}
	b.mu.Unlock()
	meta, wasm, err := reg.FetchModule(ctx, digest)
	if err != nil {
		return nil, err
	}
	m := &browserModule{meta: meta, wasm: wasm}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mods == nil {
		b.mods = make(map[string]*browserModule)
	}
	if _, ok := b.mods[digest]; !ok {
		b.order = append(b.order, digest)
		b.mods[digest] = m
		for len(b.order) > browserCacheSize {
			delete(b.mods, b.order[0])
			b.order = b.order[1:]
		}
	}
	return m, nil
}

var errNotForBrowsers = errors.New("dataplane: the route does not let browsers run its module (route option browser)")

// serveBrowser answers under BrowserPrefix: the host's scripts,
// manifest?path=P for the route serving P on this host, and
// modules/<digest> for the bytes of a module such a route serves.
func (w *Worker) serveBrowser(rw http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, BrowserPrefix)
	switch {
	case name == "manifest":
		w.serveManifest(rw, r)
	case strings.HasPrefix(name, "modules/"):
		w.serveBrowserModule(rw, r, strings.TrimPrefix(name, "modules/"))
	case strings.HasSuffix(name, ".js") && !strings.Contains(name, "/"):
		b, err := browser.Files.ReadFile(name)
		if err != nil {
			http.Error(rw, "nanoedge: no browser script "+name, http.StatusNotFound)
			return
		}
		h := rw.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if name == "sw.js" {
			h.Set("Service-Worker-Allowed", "/") // it may control the whole origin
			// The Service Worker's own policy: its scripts from this
			// origin, and compiling WebAssembly, nothing else to run.
			h.Set("Content-Security-Policy", BrowserWorkerCSP)
		}
		rw.Write(b)
	default:
		http.Error(rw, "nanoedge: unknown browser endpoint "+r.URL.Path, http.StatusNotFound)
	}
}

func (w *Worker) serveManifest(rw http.ResponseWriter, r *http.Request) {
	path := r.URL.Query().Get("path")
	e := w.table.Load().lookup(r.Host, path)
	if e == nil || !strings.HasPrefix(path, "/") {
		fail(rw, errNoRoute)
		return
	}
	if !e.route.GetOptions().GetBrowser() {
		http.Error(rw, errNotForBrowsers.Error(), http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), w.cfg.LoadTimeout)
	defer cancel()
	m, err := w.browser.get(ctx, w.reg, e.mod.digest)
	if err != nil {
		http.Error(rw, "nanoedge: cannot fetch the route's module: "+err.Error(), http.StatusBadGateway)
		return
	}
	p := m.meta.GetProvenance()
	man := Manifest{
		Route: e.route.Host + e.route.PathPrefix, Name: m.meta.Name, Digest: m.meta.Digest, Size: m.meta.Size,
		KeyID: p.GetKeyId(), Signature: base64.StdEncoding.EncodeToString(p.GetSignature()),
		URL: BrowserPrefix + "modules/" + m.meta.Digest,
	}
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Cache-Control", "no-cache") // routes change; revalidate
	json.NewEncoder(rw).Encode(man)
}

func (w *Worker) serveBrowserModule(rw http.ResponseWriter, r *http.Request, digest string) {
	if !w.browserAllows(digest) {
		http.Error(rw, "nanoedge: no route lets browsers run module "+digest, http.StatusNotFound)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), w.cfg.LoadTimeout)
	defer cancel()
	m, err := w.browser.get(ctx, w.reg, digest)
	if err != nil {
		http.Error(rw, "nanoedge: cannot fetch module: "+err.Error(), http.StatusBadGateway)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "application/wasm")
	// Content-addressed: the bytes behind a digest never change.
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("ETag", `"`+digest+`"`)
	http.ServeContent(rw, r, "", time.Time{}, bytes.NewReader(m.wasm))
}

// browserAllows reports whether a route with the browser option serves
// digest.
func (w *Worker) browserAllows(digest string) bool {
	for _, es := range w.table.Load().byHost {
		for _, e := range es {
			if e.route.GetOptions().GetBrowser() && e.mod.digest == digest {
				return true
			}
		}
	}
	return false
}
