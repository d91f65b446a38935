package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/sdk/guest"
	"github.com/nanoedge/nanoedge/sdk/guest/kv"
)

// The handler's own test, native: kv.Set and guest.SetFlag stand in for
// the worker's stores and flags.
func TestRedirect(t *testing.T) {
	kv.Set("links", map[string][]byte{"docs": []byte("https://docs.example")})
	t.Setenv("BASE_PATH", "/go/")
	t.Setenv("COOKIE_KEY", "k")
	guest.SetFlag("track-visits", true)

	rec := httptest.NewRecorder()
	redirect(rec, httptest.NewRequest("GET", "/go/docs", nil))
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "https://docs.example" || rec.Header().Get("X-Visits") != "1" {
		t.Fatalf("got %d %v", rec.Code, rec.Header())
	}
	cookie := rec.Result().Cookies()[0]

	// A signed count is counted on; a forged one starts again.
	for _, tt := range []struct {
		value, want string
	}{{cookie.Value, "2"}, {"41." + strings.Repeat("0", 64), "1"}} {
		req := httptest.NewRequest("GET", "/go/docs", nil)
		req.AddCookie(&http.Cookie{Name: "visits", Value: tt.value})
		rec := httptest.NewRecorder()
		redirect(rec, req)
		if got := rec.Header().Get("X-Visits"); got != tt.want {
			t.Fatalf("cookie %q: visits %q, want %s", tt.value, got, tt.want)
		}
	}

	guest.SetFlag("track-visits", false)
	rec = httptest.NewRecorder()
	redirect(rec, httptest.NewRequest("GET", "/go/docs", nil))
	if rec.Header().Get("X-Visits") != "" || len(rec.Result().Cookies()) != 0 {
		t.Fatalf("flag off: exp no cookie, got %v", rec.Header())
	}
	rec = httptest.NewRecorder()
	redirect(rec, httptest.NewRequest("GET", "/go/nope", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("unknown link: %d", rec.Code)
	}
}
