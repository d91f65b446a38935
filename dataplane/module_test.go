package dataplane

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/internal/abi"
)

func TestGuestOutputIsTiedToRequest(t *testing.T) {
	var buf bytes.Buffer
	l := &lineLogger{logger: slog.New(slog.NewTextHandler(&buf, nil)), stream: "stdout"}
	l.request, l.traceID, l.spanID = "req-1", "trace-1", "span-1"
	l.Write([]byte("first line\nsecond "))
	l.request, l.traceID, l.spanID = "req-2", "trace-2", "span-2"
	l.Write([]byte("half\n"))
	l.Write([]byte(strings.Repeat("x", maxLine+10)))
	out := buf.String()
	for _, want := range []string{
		`request=req-1 trace_id=trace-1 span_id=span-1 line="first line"`,
		`request=req-2 trace_id=trace-2 span_id=span-2 line="second half"`,
		`line=` + strings.Repeat("x", 20), // an endless line is cut, not held
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("exp %q in:\n%s", want, out)
		}
	}
	if strings.Count(out, "\n") != 3 {
		t.Fatalf("exp 3 log lines, got:\n%s", out)
	}
}

// TestInstanceEncodeReusesBuffer: an instance encodes each request in the
// buffer the last one used, exactly as abi.AppendRequest would, and does
// not keep a large one.
func TestInstanceEncodeReusesBuffer(t *testing.T) {
	var inst instance
	requests := []*abi.Request{
		{Method: "POST", URI: "/long/path?q=1", Header: http.Header{"A": {"1", "2"}}, Body: []byte("a body")},
		{Method: "GET", URI: "/", Host: "h"},
		{Method: "PUT", URI: "/big", Body: make([]byte, maxKeptRequest)},
		{Method: "GET", URI: "/after"},
	}
	var kept []byte
	for i, ar := range requests {
		got := inst.encode(ar)
		if want := abi.AppendRequest(nil, ar); !bytes.Equal(got, want) {
			t.Fatalf("request %d: encoded differently from abi.AppendRequest", i)
		}
		if i == 1 && &got[0] != &kept[0] {
			t.Fatal("a smaller request did not reuse the buffer")
		}
		if cap(inst.req) > maxKeptRequest {
			t.Fatalf("request %d: kept a %d-byte buffer", i, cap(inst.req))
		}
		kept = got
	}
}
