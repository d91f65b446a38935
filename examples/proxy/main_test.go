package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The handler's own test, native: the same handler before a local origin.
func TestProxy(t *testing.T) {
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Edge", r.Header.Get("X-Edge"))
		io.WriteString(w, r.Method+" "+r.URL.RequestURI())
	}))
	defer origin.Close()
	t.Setenv("ORIGIN", origin.URL)
	t.Setenv("BASE_PATH", "/shop/")
	for _, tt := range []struct{ path, want string }{
		{"/shop/v1/items?page=2", "GET /v2/items?page=2"},
		{"/shop/cart", "GET /cart"},
	} {
		rec := httptest.NewRecorder()
		proxy().ServeHTTP(rec, httptest.NewRequest("GET", tt.path, nil))
		if rec.Code != 200 || rec.Body.String() != tt.want || rec.Header().Get("X-Served-By") != "nanoedge-proxy" || rec.Header().Get("X-Seen-Edge") != "nanoedge" {
			t.Fatalf("%s: %d %q %v", tt.path, rec.Code, rec.Body, rec.Header())
		}
	}
}
