package dataplane

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
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
