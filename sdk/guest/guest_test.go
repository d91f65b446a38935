package guest

import (
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/sdk/abi"
)

// The guest side of the ABI runs natively too: these tests drive serve
// exactly as the wasm export does.

func call(t *testing.T, h http.Handler, req *abi.Request) abi.Response {
	t.Helper()
	resp, err := abi.DecodeResponse(serve(h, abi.AppendRequest(nil, req), nil, &responseWriter{}))
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestServeMatchesNetHTTPDefaults(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		status  int
		ctype   string
		body    string
	}{
		{"implicit 200 and sniffed type", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "<html>hi") }, 200, "text/html; charset=utf-8", "<html>hi"},
		{"explicit status", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(418) }, 418, "", ""},
		{"no body on 204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204); io.WriteString(w, "x") }, 204, "", ""},
		{"http.Error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad", 400) }, 400, "text/plain; charset=utf-8", "bad\n"},
		{"panic becomes 500", func(w http.ResponseWriter, r *http.Request) { panic("boom") }, 500, "text/plain; charset=utf-8", "guest: handler panicked: boom\n"},
		{"reads request", func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			io.WriteString(w, r.Method+" "+r.URL.Path+" "+r.URL.Query().Get("q")+" "+r.Header.Get("X-A")+" "+string(b))
		}, 200, "text/plain; charset=utf-8", "PUT /p v 1 body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := call(t, tt.handler, &abi.Request{Method: "PUT", URI: "/p?q=v", Header: http.Header{"X-A": {"1"}}, Body: []byte("body")})
			if resp.Status != tt.status || resp.Header.Get("Content-Type") != tt.ctype || string(resp.Body) != tt.body {
				t.Fatalf("exp %d %q %q, got %d %q %q", tt.status, tt.ctype, tt.body, resp.Status, resp.Header.Get("Content-Type"), resp.Body)
			}
		})
	}
}

// FuzzServe: whatever bytes the host passes, the guest answers with a
// well-formed response (400 for a malformed request) and never panics.
func FuzzServe(f *testing.F) {
	f.Add(abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "/x?y", Header: http.Header{"A": {"b"}}}))
	f.Add([]byte{})
	f.Add(abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "::bad"}))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, strings.ToUpper(r.URL.Path))
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		if _, err := abi.DecodeResponse(serve(h, in, nil, &responseWriter{})); err != nil {
			t.Fatalf("guest produced a malformed response: %v", err)
		}
	})
}

// requestURLTargets are request targets on and off parseRequestURL's
// plain path, each to be parsed exactly as url.ParseRequestURI parses it.
var requestURLTargets = []string{
	"/", "/hello", "/a/b/c.txt", "//double", "/a?", "/a?b=c&d=e", "/a??", "/a?b?c", "/?", "/?q",
	"/$&+,:;=@-_.~", "/a?q=%zz", "/a?q=\x7f", "/a?q=\x01", "/a\x01", "/a b", "/a%20b", "/a%2Fb", "/a%zz",
	"/a!b", "/a*b", "/a(b)", "/a'b", "/a#frag", "/a?b#frag", "/ünï", "/a?ü", "*", "", "a", "http://h/p?q", "//h/p",
}

func TestRequestURLMatchesNetURL(t *testing.T) {
	for _, target := range requestURLTargets {
		checkRequestURL(t, target)
	}
}

func FuzzRequestURL(f *testing.F) {
	for _, target := range requestURLTargets {
		f.Add(target)
	}
	f.Fuzz(checkRequestURL)
}

func checkRequestURL(t *testing.T, target string) {
	want, wantErr := url.ParseRequestURI(target)
	got := &url.URL{Path: "/left/over", RawQuery: "from=before", ForceQuery: true} // nothing of it may remain
	err := parseRequestURL(got, target)
	if (err != nil) != (wantErr != nil) || wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: got %#v, %v; url.ParseRequestURI gives %#v, %v", target, got, err, want, wantErr)
	}
}

// TestWriterReuse: a module reuses one ResponseWriter; nothing of one
// response may show in the next.
func TestWriterReuse(t *testing.T) {
	var w responseWriter
	var out []byte
	first := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-First", "1")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, strings.Repeat("x", 2<<20)) // past what is kept
	})
	second := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	in := abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "/"})
	for i, h := range []http.Handler{first, second, first} {
		out = serve(h, in, out, &w)
		resp, err := abi.DecodeResponse(out)
		if err != nil {
			t.Fatal(err)
		}
		wantStatus, wantLen, wantHeader := 201, 2<<20, "1"
		if i == 1 {
			wantStatus, wantLen, wantHeader = 200, 0, ""
		}
		if resp.Status != wantStatus || len(resp.Body) != wantLen || resp.Header.Get("X-First") != wantHeader {
			t.Fatalf("response %d: status %d, %d bytes, X-First %q", i, resp.Status, len(resp.Body), resp.Header.Get("X-First"))
		}
	}
	if w.body.Cap() > maxKeptBody {
		t.Fatalf("kept a %d-byte buffer", w.body.Cap())
	}
}
