package dataplane

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// traceContext is the W3C trace context of one request as the worker
// continues it: the caller's trace (or a new one) with the worker's span
// as the guest's parent.
type traceContext struct {
	traceID, spanID, flags string
	// parentID is the caller's span, empty when the trace starts here.
	parentID string
	// traceparent is header()'s value when continueTrace made it: the ids
	// above are substrings of it, so a request costs one string.
	traceparent string
}

// The all-zero ids W3C Trace Context declares invalid.
const (
	invalidTraceID = "00000000000000000000000000000000"
	invalidSpanID  = "0000000000000000"
)

// continueTrace reads traceparent and starts the worker's span in that
// trace; a missing or malformed header starts a new, sampled trace.
func continueTrace(h http.Header) traceContext {
	traceID, flags, parentID := "", "01", ""
	if vs := h["Traceparent"]; len(vs) > 0 {
		if v := strings.TrimSpace(vs[0]); len(v) == 55 {
			parts := strings.Split(v, "-")
			if len(parts) == 4 && parts[0] == "00" && isHex(parts[1], 32) && isHex(parts[2], 16) && isHex(parts[3], 2) &&
				parts[1] != invalidTraceID && parts[2] != invalidSpanID {
				traceID, flags, parentID = parts[1], parts[3], parts[2]
			}
		}
	}
	// "00-" trace "-" span "-" flags, random where the caller gave nothing.
	var b [55]byte
	copy(b[:], "00-")
	if traceID == "" {
		randomHex(b[3:35])
	} else {
		copy(b[3:35], traceID)
	}
	b[35] = '-'
	randomHex(b[36:52])
	b[52] = '-'
	copy(b[53:], flags)
	tp := string(b[:])
	return traceContext{traceID: tp[3:35], spanID: tp[36:52], flags: tp[53:], parentID: parentID, traceparent: tp}
}

// header is the traceparent the guest sees: the worker's span is its parent.
func (tc traceContext) header() string {
	if tc.traceparent != "" {
		return tc.traceparent
	}
	return "00-" + tc.traceID + "-" + tc.spanID + "-" + tc.flags
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

// randomHex fills dst (at most 32 bytes) with random hex digits. Trace
// and span ids need to be unique, not secret: the runtime's ChaCha8
// generator serves them without a system call.
func randomHex(dst []byte) {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	hex.Encode(dst, b[:len(dst)/2])
}

// startSpan starts the worker's span for a request on the tracer, as a
// child of the caller's span if there is one, and returns the trace
// context the guest continues.
func startSpan(tracer trace.Tracer, r *http.Request, e *entry, mod *module, tc traceContext) (traceContext, trace.Span) {
	ctx := r.Context()
	if tc.parentID != "" {
		tid, _ := trace.TraceIDFromHex(tc.traceID)
		sid, _ := trace.SpanIDFromHex(tc.parentID)
		flags := trace.TraceFlags(0)
		if tc.flags == "01" {
			flags = trace.FlagsSampled
		}
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: sid, TraceFlags: flags, Remote: true,
		}))
	}
	_, span := tracer.Start(ctx, r.Method+" "+e.route.PathPrefix, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
		attribute.String("http.request.method", r.Method),
		attribute.String("url.path", r.URL.Path),
		attribute.String("server.address", normalizeHost(r.Host)),
		attribute.String("http.route", e.route.Host+e.route.PathPrefix),
		attribute.String("nanoedge.module", mod.name),
		attribute.String("nanoedge.digest", mod.digest),
	))
	sc := span.SpanContext()
	tc.traceID, tc.spanID, tc.traceparent = sc.TraceID().String(), sc.SpanID().String(), ""
	if sc.IsSampled() {
		tc.flags = "01"
	} else {
		tc.flags = "00"
	}
	return tc, span
}

// endSpan records the outcome and ends the span.
func endSpan(span trace.Span, status int, err error) {
	span.SetAttributes(attribute.Int("http.response.status_code", status))
	if status >= 500 {
		msg := http.StatusText(status)
		if err != nil {
			msg = err.Error()
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}
