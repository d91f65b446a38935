package main

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The handler's own test, native: each event reaches the client before
// the next is written.
func TestEvents(t *testing.T) {
	t.Setenv("INTERVAL", "10ms")
	srv := httptest.NewServer(http.HandlerFunc(events))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "?n=3")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var data []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			data = append(data, d)
		}
	}
	if got := strings.Join(data, ","); got != `{"tick":1},{"tick":2},{"tick":3}` {
		t.Fatalf("events %s", got)
	}
}
