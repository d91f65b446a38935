package dataplane

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/abi"
)

// InternalPrefix is the path prefix a worker answers itself, never routed.
const InternalPrefix = "/.nanoedge/"

var (
	errNoRoute          = errors.New("dataplane: no route")
	errBodyTooLarge     = errors.New("dataplane: request body too large")
	errResponseTooLarge = errors.New("dataplane: response body too large")
	errOverloaded       = errors.New("dataplane: no instance free before the deadline")
)

// statusTable maps errors to HTTP statuses; the first match wins.
var statusTable = []struct {
	err    error
	status int
}{
	{errNoRoute, http.StatusNotFound},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge},
	{errOverloaded, http.StatusServiceUnavailable},
	{errModuleClosed, http.StatusServiceUnavailable},
	{engine.ErrDeadline, http.StatusGatewayTimeout},
	{engine.ErrBadResponse, http.StatusBadGateway},
	{errResponseTooLarge, http.StatusBadGateway},
	{engine.ErrTrap, http.StatusInternalServerError},
	{engine.ErrInvalidModule, http.StatusInternalServerError},
}

func httpStatus(err error) int {
	for _, e := range statusTable {
		if errors.Is(err, e.err) {
			return e.status
		}
	}
	return http.StatusInternalServerError
}

// hopHeaders are connection-level headers a guest may not set.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Transfer-Encoding", "Upgrade", "Te", "Trailer", "Content-Length"}

// ServeHTTP implements http.Handler.
func (w *Worker) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, InternalPrefix) {
		w.serveInternal(rw, r)
		return
	}
	start := time.Now()
	e := w.table.Load().lookup(r.Host, r.URL.Path)
	if e == nil {
		fail(rw, fmt.Errorf("%w for host %q and path %q", errNoRoute, normalizeHost(r.Host), r.URL.Path))
		return
	}
	if e.cors != nil {
		if isPreflight(r) {
			e.cors.preflight(rw, r)
			return
		}
		e.cors.decorate(rw.Header(), r.Header.Get("Origin"))
	}
	mod, pinned := e.pick(r, w.cfg.PinSecret)
	// Canonical keys set directly: these run on every request.
	h := rw.Header()
	h[VersionHeader] = mod.versionValue
	if pinned {
		h[PinHeader] = []string{"honoured"}
	}
	var reqID string
	if v := r.Header["X-Request-Id"]; len(v) > 0 && v[0] != "" && len(v[0]) <= 128 {
		reqID = v[0]
	} else {
		reqID = requestID(w.requestSeq.Add(1))
	}
	h["X-Request-Id"] = []string{reqID}
	// The guest continues the caller's trace under the worker's span.
	opts := e.route.GetOptions()
	tc := continueTrace(r.Header)
	var span trace.Span
	if opts.GetTrace() && w.cfg.Tracer != nil {
		tc, span = startSpan(w.cfg.Tracer, r, e, mod, tc)
	}
	status, err := w.serveRoute(rw, r, e, mod, reqID, tc)
	elapsed := time.Since(start)
	w.record(e, mod, status, err, elapsed)
	if span != nil {
		endSpan(span, status, err)
	}
	if err != nil && r.Context().Err() == nil {
		mod.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err,
			"request", reqID, "trace_id", tc.traceID, "span_id", tc.spanID)
	}
	if opts.GetAccessLog() {
		mod.logger.Info("request", "method", r.Method, "host", normalizeHost(r.Host), "path", r.URL.Path, "status", status,
			"duration_ms", float64(elapsed.Microseconds())/1000, "remote", r.RemoteAddr, "user_agent", r.UserAgent(),
			"request", reqID, "trace_id", tc.traceID, "span_id", tc.spanID)
	}
}

func (w *Worker) serveRoute(rw http.ResponseWriter, r *http.Request, e *entry, mod *module, reqID string, tc traceContext) (int, error) {
	opts := e.route.GetOptions()
	body, err := w.readBody(rw, r, tighten(w.cfg.MaxRequestBody, opts.GetMaxRequestBody()))
	if err != nil {
		return fail(rw, err), err
	}
	timeout := tighten(w.cfg.RequestTimeout, time.Duration(opts.GetTimeoutMs())*time.Millisecond)
	// The guest sees the worker's span as its parent. r.Header is the
	// worker's own copy of the request's header; nothing reads the
	// caller's traceparent after continueTrace.
	r.Header["Traceparent"] = []string{tc.header()}
	ar := abi.Request{
		Method: r.Method, URI: r.URL.RequestURI(), Host: r.Host, RemoteAddr: r.RemoteAddr,
		Header: r.Header, Body: body,
	}
	ctx := withLazyDeadline(r.Context(), timeout)
	defer ctx.stop()
	inst, err := mod.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", errOverloaded, err)
		}
		return fail(rw, err), err
	}
	inst.setRequest(reqID, tc)
	out, err := inst.Handle(ctx, inst.encode(&ar))
	var resp abi.Response
	if err == nil {
		if resp, err = abi.DecodeResponse(out); err != nil {
			err = fmt.Errorf("%w: %v", engine.ErrBadResponse, err)
		} else if len(resp.Body) > w.cfg.MaxResponseBody {
			err = fmt.Errorf("%w: %d bytes, limit %d", errResponseTooLarge, len(resp.Body), w.cfg.MaxResponseBody)
		} else {
			resp.Body = bytes.Clone(resp.Body) // out belongs to the instance
		}
	}
	mod.release(inst, engine.Broken(err) || opts.GetStrictIsolation())
	if err != nil {
		return fail(rw, err), err
	}
	h := rw.Header()
	for k, vs := range resp.Header {
		if e.cors != nil && isCorsHeader(k) {
			continue // the route's policy decides
		}
		h[k] = vs
	}
	for _, k := range hopHeaders {
		delete(h, k) // hopHeaders are canonical
	}
	rw.WriteHeader(resp.Status)
	rw.Write(resp.Body)
	return resp.Status, nil
}

// tighten returns the route's limit if it is set and stricter than the
// worker's: a route can lower a limit, never raise it.
func tighten[T int64 | time.Duration](worker, route T) T {
	if route > 0 && route < worker {
		return route
	}
	return worker
}

func (w *Worker) readBody(rw http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errBodyTooLarge, r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("%w: limit %d bytes", errBodyTooLarge, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("dataplane: read request body: %w", err)
	}
	return body, nil
}

// fail writes a plain-text error whose status follows statusTable.
func fail(rw http.ResponseWriter, err error) int {
	status := httpStatus(err)
	msg := err.Error()
	switch status {
	case http.StatusInternalServerError:
		msg = "nanoedge: the handler failed" // guest internals stay in the log
	case http.StatusGatewayTimeout:
		msg = "nanoedge: the handler did not answer in time"
	}
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	rw.Header().Set("X-Content-Type-Options", "nosniff")
	rw.WriteHeader(status)
	fmt.Fprintln(rw, msg)
	return status
}

func (w *Worker) serveInternal(rw http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, BrowserPrefix) {
		w.serveBrowser(rw, r)
		return
	}
	switch r.URL.Path {
	case InternalPrefix + "healthz":
		w.serveHealth(rw, r)
	case InternalPrefix + "status":
		// What routes and digests a worker serves is for operators.
		http.Error(rw, "nanoedge: the worker's status is served at /status on its admin listener (--worker-metrics-addr)", http.StatusNotFound)
	default:
		http.Error(rw, "nanoedge: unknown worker endpoint "+r.URL.Path, http.StatusNotFound)
	}
}

func (w *Worker) serveHealth(rw http.ResponseWriter, _ *http.Request) {
	if !w.Synced() {
		http.Error(rw, "not synced with the registry yet", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(rw, "ok")
}

func (w *Worker) serveStatus(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(rw)
	enc.SetIndent("", "  ")
	enc.Encode(w.Status())
}

// requestID formats a worker-assigned request id: 16 hex digits.
func requestID(seq uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[seq&0xf]
		seq >>= 4
	}
	return string(b[:])
}
