package dataplane

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
)

// traceContext is the W3C trace context of one request as the worker
// continues it: the caller's trace (or a new one) with the worker's span
// as the guest's parent.
type traceContext struct {
	traceID, spanID, flags string
}

// continueTrace reads traceparent and starts the worker's span in that
// trace; a missing or malformed header starts a new, sampled trace.
func continueTrace(h http.Header) traceContext {
	tc := traceContext{flags: "01"}
	if v := strings.TrimSpace(h.Get("Traceparent")); len(v) == 55 {
		parts := strings.Split(v, "-")
		if len(parts) == 4 && parts[0] == "00" && isHex(parts[1], 32) && isHex(parts[2], 16) && isHex(parts[3], 2) &&
			parts[1] != strings.Repeat("0", 32) && parts[2] != strings.Repeat("0", 16) {
			tc.traceID, tc.flags = parts[1], parts[3]
		}
	}
	if tc.traceID == "" {
		tc.traceID = randomHex(16)
	}
	tc.spanID = randomHex(8)
	return tc
}

// header is the traceparent the guest sees: the worker's span is its parent.
func (tc traceContext) header() string {
	return "00-" + tc.traceID + "-" + tc.spanID + "-" + tc.flags
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
