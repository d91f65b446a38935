package dataplane

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/net/http/httpguts"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// InternalPrefix is the path prefix a worker answers itself, never routed.
const InternalPrefix = "/.nanoedge/"

var (
	errNoRoute          = errors.New("dataplane: no route")
	errBodyTooLarge     = errors.New("dataplane: request body too large")
	errBodyTimeout      = errors.New("dataplane: request body too slow")
	errResponseTooLarge = errors.New("dataplane: response body too large")
	errOverloaded       = errors.New("dataplane: no instance free before the deadline")
	errNoState          = errors.New("nanoedge: this worker has no routes yet: it has not reached the registry")
	errRevoked          = errors.New("nanoedge: this version is no longer trusted: the key that signed it was revoked")
)

// statusTable maps errors to HTTP statuses; the first match wins.
var statusTable = []struct {
	err    error
	status int
}{
	{errNoRoute, http.StatusNotFound},
	{errBodyTooLarge, http.StatusRequestEntityTooLarge},
	{errBodyTimeout, http.StatusRequestTimeout},
	{errOverloaded, http.StatusServiceUnavailable},
	{errRevoked, http.StatusServiceUnavailable},
	{errNoState, http.StatusServiceUnavailable},
	{errModuleClosed, http.StatusServiceUnavailable},
	{errConfigIncomplete, http.StatusServiceUnavailable},
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

// workerHeaders are response headers only the worker sets: framing and
// hop-by-hop headers (the worker's HTTP server frames the response), and
// its own. A guest's are dropped whatever their case.
var workerHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Transfer-Encoding": true, "Upgrade": true,
	"Te": true, "Trailer": true, "Content-Length": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"X-Request-Id": true,
}

// Bounds of the header a guest's response carries: past them it is
// malformed (502).
const (
	maxGuestHeaderFields = 100
	maxGuestHeaderBytes  = 64 << 10
)

// guestHeader checks a guest response's status and merges its header into
// dst (see copyGuestHeader).
func guestHeader(dst http.Header, resp abi.Response, cors bool) error {
	if resp.Status < 200 || resp.Status > 599 {
		return fmt.Errorf("%w: status %d: a handler answers 200 to 599", engine.ErrBadResponse, resp.Status)
	}
	return copyGuestHeader(dst, resp.Header, cors)
}

// copyGuestHeader merges a guest's response header into dst under
// canonical names, leaving out what only the worker sets (and, on routes
// with a CORS policy, the CORS headers). A name or value HTTP cannot carry,
// or a header past its bounds, is an error.
func copyGuestHeader(dst, src http.Header, cors bool) error {
	fields, size := 0, 0
	for k, vs := range src {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("%w: header name %.40q", engine.ErrBadResponse, k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("%w: header %s has a value HTTP cannot carry", engine.ErrBadResponse, k)
			}
			fields++
			size += len(k) + len(v)
		}
	}
	if fields > maxGuestHeaderFields || size > maxGuestHeaderBytes {
		return fmt.Errorf("%w: header of %d fields and %d bytes; the limits are %d and %d", engine.ErrBadResponse, fields, size, maxGuestHeaderFields, maxGuestHeaderBytes)
	}
	for k, vs := range src {
		ck := http.CanonicalHeaderKey(k)
		if workerHeaders[ck] || strings.HasPrefix(ck, "X-Nanoedge-") || cors && isCorsHeader(ck) {
			continue
		}
		dst[ck] = append(dst[ck], vs...)
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (w *Worker) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, InternalPrefix) {
		w.serveInternal(rw, r)
		return
	}
	start := time.Now()
	e := w.table.Load().lookup(r.Host, r.URL.Path)
	if e == nil && !w.Synced() {
		fail(rw, errNoState)
		return
	}
	if e == nil {
		w.metrics.unrouted.Inc()
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
	if env := mod.env.Load(); env != nil && env.header != nil {
		h[ConfigHeader] = env.header
	}
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
	call := &requestCall{out: outboundRequest{g: w.egress, policy: e.outbound, tracer: w.cfg.Tracer, span: span, tc: tc},
		stream: stream{rw: rw, cors: e.cors != nil, limit: w.cfg.MaxResponseBody}}
	w.metrics.inFlight.Inc()
	status, err := w.serveRoute(rw, r, e, mod, reqID, tc, call)
	w.metrics.inFlight.Dec()
	if kind := limitKind(err); kind != "" {
		w.metrics.limits.WithLabelValues(kind).Inc()
	}
	elapsed := time.Since(start)
	var traceID string
	if span != nil {
		traceID = span.SpanContext().TraceID().String()
	}
	w.record(e, mod, status, err, elapsed, traceID, &call.out)
	if span != nil {
		endSpan(span, status, err)
	}
	if err != nil && r.Context().Err() == nil {
		mod.logger.Warn("request failed", "method", r.Method, "path", r.URL.Path, "status", status, "err", err,
			"request", reqID, "trace_id", tc.traceID, "span_id", tc.spanID)
	}
	if opts.GetAccessLog() {
		mod.logger.Info("request", "method", r.Method, "host", normalizeHost(r.Host), "path", r.URL.Path, "status", status,
			"duration_ms", ms(elapsed), "remote", r.RemoteAddr, "user_agent", r.UserAgent(), "outbound_calls", call.out.calls,
			"request", reqID, "trace_id", tc.traceID, "span_id", tc.spanID)
	}
	if call.Streamed() && err != nil {
		// The status and part of the body are out: cut the connection
		// rather than let a truncated body pass for a whole one.
		panic(http.ErrAbortHandler)
	}
}

func (w *Worker) serveRoute(rw http.ResponseWriter, r *http.Request, e *entry, mod *module, reqID string, tc traceContext, call *requestCall) (int, error) {
	if mod.revoked.Load() {
		err := fmt.Errorf("%w (%s)", errRevoked, mod.version)
		return fail(rw, err), err
	}
	opts := e.route.GetOptions()
	// Reading the body counts against the route's deadline: a client that
	// sends it slowly is cut off (408) rather than holding the worker.
	deadline := time.Now().Add(tighten(w.cfg.RequestTimeout, time.Duration(opts.GetTimeoutMs())*time.Millisecond))
	body, err := w.readBody(rw, r, tighten(w.cfg.MaxRequestBody, opts.GetMaxRequestBody()), deadline)
	if err != nil {
		if errors.Is(err, errBodyTimeout) {
			rw.Header().Set("Connection", "close")
		}
		return fail(rw, err), err
	}
	// The guest sees the worker's span as its parent. r.Header is the
	// worker's own copy of the request's header; nothing reads the
	// caller's traceparent after continueTrace.
	r.Header["Traceparent"] = []string{tc.header()}
	ar := abi.Request{
		Method: r.Method, URI: r.URL.RequestURI(), Host: r.Host, RemoteAddr: r.RemoteAddr,
		Header: r.Header, Body: body,
	}
	ctx := withLazyDeadline(r.Context(), time.Until(deadline))
	defer ctx.stop()
	inst, err := mod.acquire(ctx)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", errOverloaded, err)
		}
		return fail(rw, err), err
	}
	inst.setRequest(reqID, tc)
	encoded, done := inst.encode(&ar)
	putBuf(body) // encoded holds it now
	if err := w.takeCPU(ctx); err != nil {
		done()
		mod.release(inst, false)
		return fail(rw, err), err
	}
	call.Call = engine.Call{Ctx: ctx, Edge: w.edgeFor(mod), Outbound: &call.out, Wait: w.waitFn, Stream: &call.stream}
	out, err := inst.Handle(engine.WithCall(ctx, &call.Call), encoded)
	<-w.cpu
	call.End()
	done()
	if call.Streamed() {
		mod.release(inst, engine.Broken(err) || opts.GetStrictIsolation())
		if err == nil {
			err = call.stream.broken
		}
		return call.stream.status, err
	}
	var resp abi.Response
	if err == nil {
		if resp, err = abi.DecodeResponse(out); err != nil {
			err = fmt.Errorf("%w: %v", engine.ErrBadResponse, err)
		} else if len(resp.Body) > w.cfg.MaxResponseBody {
			err = fmt.Errorf("%w: %d bytes, limit %d", errResponseTooLarge, len(resp.Body), w.cfg.MaxResponseBody)
		} else {
			// out belongs to the instance; the copy goes back to the pool
			// once written (Write copies what it does not send at once).
			resp.Body = append(getBuf(len(resp.Body)), resp.Body...)
		}
	}
	mod.release(inst, engine.Broken(err) || opts.GetStrictIsolation())
	if err == nil {
		err = guestHeader(rw.Header(), resp, e.cors != nil)
	}
	if err != nil {
		return fail(rw, err), err
	}
	rw.WriteHeader(resp.Status)
	rw.Write(resp.Body)
	putBuf(resp.Body)
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

func (w *Worker) readBody(rw http.ResponseWriter, r *http.Request, limit int64, deadline time.Time) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > limit {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errBodyTooLarge, r.ContentLength, limit)
	}
	rc := http.NewResponseController(rw)
	if err := rc.SetReadDeadline(deadline); err == nil {
		defer rc.SetReadDeadline(time.Time{})
	}
	body, err := readAll(http.MaxBytesReader(rw, r.Body, limit), r.ContentLength)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, fmt.Errorf("%w: limit %d bytes", errBodyTooLarge, limit)
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return nil, fmt.Errorf("%w: not all of it arrived within the route's deadline", errBodyTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("dataplane: read request body: %w", err)
	}
	return body, nil
}

// readAll reads a body: one of declared length into a buffer of that
// size (from the pool when large: putBuf it once used), without copies;
// one of unknown length as io.ReadAll does.
func readAll(r io.Reader, size int64) ([]byte, error) {
	if size <= 0 {
		return io.ReadAll(r)
	}
	b := getBuf(int(size))[:size]
	if _, err := io.ReadFull(r, b); err != nil {
		if err == io.ErrUnexpectedEOF {
			err = fmt.Errorf("the body ended before its Content-Length: %w", err)
		}
		return nil, err
	}
	// net/http ends a body at its Content-Length; the limit reader would
	// report a longer one here.
	var extra [1]byte
	if n, err := r.Read(extra[:]); n > 0 || err != nil && err != io.EOF {
		if err == nil {
			err = errors.New("the body is longer than its Content-Length")
		}
		return nil, err
	}
	return b, nil
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
	if err := w.Ready(); err != nil {
		http.Error(rw, "nanoedge: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if since, why, stale := w.Stale(); stale {
		// Still serving: in an outage of the control plane every worker is
		// stale, and the fleet must keep answering.
		fmt.Fprintf(rw, "ok, stale since %s (revision %d): %v\n", since.UTC().Format(time.RFC3339), w.Revision(), why)
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

// ms is a duration in milliseconds, the one unit the worker's logs use.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

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
