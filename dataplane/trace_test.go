package dataplane

import (
	"net/http"
	"strings"
	"testing"
)

func TestContinueTrace(t *testing.T) {
	const trace = "4bf92f3577b34da6a3ce929d0e0e4736"
	tests := []struct {
		name, in  string
		keepTrace bool
		flags     string
	}{
		{"continued", "00-" + trace + "-00f067aa0ba902b7-01", true, "01"},
		{"unsampled stays unsampled", "00-" + trace + "-00f067aa0ba902b7-00", true, "00"},
		{"missing", "", false, "01"},
		{"unknown version", "01-" + trace + "-00f067aa0ba902b7-01", false, "01"},
		{"upper case", "00-" + strings.ToUpper(trace) + "-00f067aa0ba902b7-01", false, "01"},
		{"zero trace id", "00-" + strings.Repeat("0", 32) + "-00f067aa0ba902b7-01", false, "01"},
		{"zero parent id", "00-" + trace + "-" + strings.Repeat("0", 16) + "-01", false, "01"},
		{"truncated", "00-" + trace + "-00f067aa0ba902b7", false, "01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := continueTrace(http.Header{"Traceparent": {tt.in}})
			if (tc.traceID == trace) != tt.keepTrace || tc.flags != tt.flags {
				t.Fatalf("exp trace kept=%v flags %s, got %+v", tt.keepTrace, tt.flags, tc)
			}
			h := tc.header()
			if len(h) != 55 || !isHex(tc.spanID, 16) || !isHex(tc.traceID, 32) || strings.Contains(h, "00f067aa0ba902b7") ||
				h != "00-"+tc.traceID+"-"+tc.spanID+"-"+tc.flags {
				t.Fatalf("the guest must see a valid traceparent with the worker's span as parent, got %q from %+v", h, tc)
			}
			if again := continueTrace(http.Header{"Traceparent": {tt.in}}); again.spanID == tc.spanID || !tt.keepTrace && again.traceID == tc.traceID {
				t.Fatalf("ids the worker makes must differ per request: %+v, then %+v", tc, again)
			}
		})
	}
}
