package systemtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	commonv1 "go.opentelemetry.io/proto/otlp/common/v1"
	tracev1 "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/server"
)

// logLines is a concurrency-safe sink for a JSON slog handler.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String is everything written so far.
func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// find returns the JSON log records whose msg is msg and whose key has
// value (every one, without a key).
func (l *logLines) find(msg string, keyValue ...string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.buf.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		if rec["msg"] == msg && (len(keyValue) < 2 || fmt.Sprint(rec[keyValue[0]]) == keyValue[1]) {
			out = append(out, rec)
		}
	}
	return out
}

// TestRouteMiddleware: CORS, access logs and tracing are per-route options
// in the registry, applied by the worker around the handler.
func TestRouteMiddleware(t *testing.T) {
	env := startEnv(t)
	col := testenv.StartCollector(t)
	logs := &logLines{}
	wcfg := env.WorkerConfig()
	wcfg.Worker.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	wcfg.Tracing = server.TracingConfig{Endpoint: col.Addr, Insecure: true, BatchTimeout: 50 * time.Millisecond}
	wcfg.MetricsAddr = "127.0.0.1:0"
	w := testenv.StartWorker(t, wcfg)
	env.Upload(t, "echo", guests.Echo)
	env.Upload(t, "misbehave", guests.Misbehave)
	ctx := ctxT(t)
	cors := &registryv1.CorsPolicy{
		AllowOrigins: []string{"https://app.example"}, AllowMethods: []string{"GET", "PUT"},
		AllowHeaders: []string{"X-Token"}, ExposeHeaders: []string{"X-Nanoedge-Version"}, AllowCredentials: true, MaxAgeSeconds: 600,
	}
	for _, r := range []client.Route{
		{PathPrefix: "/cors/", Module: "echo", Options: &registryv1.RouteOptions{Cors: cors}},
		{PathPrefix: "/traced/", Module: "echo", Options: &registryv1.RouteOptions{Trace: true, AccessLog: true}},
		{PathPrefix: "/talk/", Module: "misbehave", Options: &registryv1.RouteOptions{Trace: true}},
		{PathPrefix: "/plain/", Module: "echo"},
	} {
		if _, _, err := env.Publisher.SetRoute(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	waitServed(t, w.URL()+"/plain/x", func(r response) bool { return r.status == 200 })

	t.Run("cors", func(t *testing.T) {
		tests := []struct {
			name    string
			method  string
			path    string
			hdr     http.Header
			status  int
			want    map[string]string // header -> value; "" means absent
			guestOK bool              // the handler answered
		}{
			{"preflight allowed", "OPTIONS", "/cors/x", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"x-token"}},
				204, map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Methods": "GET, PUT", "Access-Control-Allow-Headers": "x-token",
					"Access-Control-Allow-Credentials": "true", "Access-Control-Max-Age": "600", "X-Echo-Method": ""}, false},
			{"preflight from another origin", "OPTIONS", "/cors/x", http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"GET"}},
				403, map[string]string{"Access-Control-Allow-Origin": ""}, false},
			{"preflight for a method not allowed", "OPTIONS", "/cors/x", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"DELETE"}},
				403, map[string]string{"Access-Control-Allow-Methods": ""}, false},
			{"preflight for a header not allowed", "OPTIONS", "/cors/x", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}, "Access-Control-Request-Headers": {"X-Other"}},
				403, nil, false},
			{"request from an allowed origin", "GET", "/cors/x?set=Access-Control-Allow-Origin:*", http.Header{"Origin": {"https://app.example"}},
				200, map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Expose-Headers": "X-Nanoedge-Version", "Vary": "Origin"}, true},
			{"request from another origin", "GET", "/cors/x?set=Access-Control-Allow-Origin:*", http.Header{"Origin": {"https://evil.example"}},
				200, map[string]string{"Access-Control-Allow-Origin": ""}, true},
			{"route without a policy leaves OPTIONS to the handler", "OPTIONS", "/plain/x", http.Header{"Origin": {"https://app.example"}, "Access-Control-Request-Method": {"GET"}},
				200, map[string]string{"X-Echo-Method": "OPTIONS", "Access-Control-Allow-Origin": ""}, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(tt.method, w.URL()+tt.path, nil)
				req.Header = tt.hdr
				r, err := do(req)
				if err != nil {
					t.Fatal(err)
				}
				if r.status != tt.status {
					t.Fatalf("exp %d, got %d %q", tt.status, r.status, r.body)
				}
				for k, v := range tt.want {
					if got := r.header.Get(k); got != v {
						t.Errorf("%s: exp %q, got %q", k, v, got)
					}
				}
				if answered := r.header.Get("X-Echo-Method") != ""; answered != tt.guestOK {
					t.Errorf("handler answered: %v, want %v", answered, tt.guestOK)
				}
			})
		}
	})

	t.Run("tracing and access log", func(t *testing.T) {
		const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
		get(t, w.URL()+"/plain/untraced")
		req, _ := http.NewRequest("GET", w.URL()+"/traced/x", nil)
		req.Header.Set("Traceparent", "00-"+traceID+"-"+callerSpan+"-01")
		req.Header.Set("Tracestate", "vendor=abc")
		r, err := do(req)
		if err != nil || r.status != 200 {
			t.Fatalf("GET /traced/x: %v %d", err, r.status)
		}
		// The guest continued the trace under the worker's span.
		guestParent := r.header.Get("X-Echo-H-Traceparent")
		if !strings.HasPrefix(guestParent, "00-"+traceID+"-") || strings.Contains(guestParent, callerSpan) {
			t.Fatalf("guest saw traceparent %q", guestParent)
		}
		if ts := r.header.Get("X-Echo-H-Tracestate"); ts != "vendor=abc" {
			t.Fatalf("guest saw tracestate %q", ts)
		}
		workerSpan := strings.Split(guestParent, "-")[2]
		var span *tracev1.Span
		poll.Eventually(t, 10*time.Second, func() error {
			if spans := col.Find("/traced/x"); len(spans) == 1 {
				span = spans[0]
				return nil
			}
			return fmt.Errorf("the collector has no span for /traced/x yet")
		})
		if hex.EncodeToString(span.TraceId) != traceID || hex.EncodeToString(span.ParentSpanId) != callerSpan || hex.EncodeToString(span.SpanId) != workerSpan {
			t.Fatalf("span trace %x parent %x id %x; want trace %s parent %s id %s", span.TraceId, span.ParentSpanId, span.SpanId, traceID, callerSpan, workerSpan)
		}
		if span.Kind != tracev1.Span_SPAN_KIND_SERVER || span.Name != "GET /traced/" {
			t.Fatalf("span kind %v name %q", span.Kind, span.Name)
		}
		attrs := map[string]*commonv1.AnyValue{}
		for _, a := range span.Attributes {
			attrs[a.Key] = a.Value
		}
		if attrs["http.response.status_code"].GetIntValue() != 200 || attrs["nanoedge.module"].GetStringValue() != "echo" {
			t.Fatalf("span attributes %v", attrs)
		}
		if n := len(col.Find("/plain/untraced")); n != 0 {
			t.Fatalf("a route without tracing exported %d spans", n)
		}
		// From the metric to the trace: the latency histogram carries the
		// trace id as an exemplar, in OpenMetrics.
		mreq, _ := http.NewRequest("GET", w.MetricsURL(), nil)
		mreq.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
		m, err := do(mreq)
		if err != nil {
			t.Fatal(err)
		}
		exemplar := regexp.MustCompile(`nanoedge_worker_request_duration_seconds_bucket\{route="/traced/",version="echo@[^"]+",le="[^"]+"\} \d+ # \{trace_id="` + traceID + `"\}`)
		if !exemplar.MatchString(m.body) {
			t.Fatalf("no exemplar with trace %s on /traced/'s latency:\n%s", traceID, m.body)
		}
		if strings.Contains(m.body, `route="/plain/"`) && regexp.MustCompile(`route="/plain/"[^\n]*# \{trace_id`).MatchString(m.body) {
			t.Fatal("an untraced route's latency carries an exemplar")
		}
		// One access log line, carrying the same trace and span ids.
		lines := logs.find("request", "path", "/traced/x")
		if len(lines) != 1 || lines[0]["trace_id"] != traceID || lines[0]["span_id"] != workerSpan || lines[0]["status"] != float64(200) {
			t.Fatalf("access log lines %v", lines)
		}
		if n := len(logs.find("request", "path", "/plain/untraced")); n != 0 {
			t.Fatalf("a route without access logs logged %d lines", n)
		}
		// Durations are milliseconds everywhere, with the unit in the name.
		loaded := logs.find("module loaded")
		if len(loaded) == 0 {
			t.Fatal("no module loaded line")
		}
		for _, l := range loaded {
			for _, k := range []string{"fetch_ms", "compile_ms", "warm_ms"} {
				if v, ok := l[k].(float64); !ok || v < 0 || v > 600000 {
					t.Fatalf("module loaded: %s = %v, want milliseconds", k, l[k])
				}
			}
			for _, k := range []string{"fetch", "compile", "warm"} {
				if _, ok := l[k]; ok {
					t.Fatalf("module loaded still logs %q without its unit: %v", k, l)
				}
			}
		}
		if v, ok := lines[0]["duration_ms"].(float64); !ok || v <= 0 || v > 60000 {
			t.Fatalf("access log duration_ms = %v", lines[0]["duration_ms"])
		}
	})

	t.Run("guest output carries trace and span ids", func(t *testing.T) {
		r := get(t, w.URL()+"/talk/stdout")
		if r.status != 200 {
			t.Fatalf("GET /talk/stdout: %d", r.status)
		}
		var span *tracev1.Span
		poll.Eventually(t, 10*time.Second, func() error {
			if spans := col.Find("/talk/stdout"); len(spans) == 1 {
				span = spans[0]
				return nil
			}
			return fmt.Errorf("no span for /talk/stdout yet")
		})
		for _, stream := range []string{"stdout", "stderr"} {
			lines := logs.find("guest output", "stream", stream)
			if len(lines) != 1 || lines[0]["trace_id"] != hex.EncodeToString(span.TraceId) || lines[0]["span_id"] != hex.EncodeToString(span.SpanId) ||
				lines[0]["request"] != r.header.Get("X-Request-Id") {
				t.Fatalf("%s lines %v; span %x/%x", stream, lines, span.TraceId, span.SpanId)
			}
		}
	})
}

// TestOneTraceFromClientToWorkers: a route change made under a client's
// span is one trace: the client's span, the control plane's span for the
// call, and a span on each worker that applied the change. The control
// plane's name comes from OTEL_SERVICE_NAME, as operators set it.
func TestOneTraceFromClientToWorkers(t *testing.T) {
	col := testenv.StartCollector(t)
	t.Setenv("OTEL_SERVICE_NAME", "edge-control")
	cfg := testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0")
	cfg.Tracing = server.TracingConfig{Endpoint: col.Addr, Insecure: true, BatchTimeout: 50 * time.Millisecond}
	env := testenv.Start(t, cfg)
	t.Setenv("OTEL_SERVICE_NAME", "")
	var workers []*server.Worker
	for i := 0; i < 2; i++ {
		wcfg := env.WorkerConfig()
		wcfg.Tracing = server.TracingConfig{Endpoint: col.Addr, Insecure: true, BatchTimeout: 50 * time.Millisecond}
		workers = append(workers, testenv.StartWorker(t, wcfg))
	}
	env.Upload(t, "hello", guests.Hello)
	for _, w := range workers {
		poll.Eventually(t, 10*time.Second, func() error { return w.Ready() })
	}

	exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpoint(col.Addr), otlptracegrpc.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "ci"))))
	defer tp.Shutdown(context.Background())
	ctx, span := tp.Tracer("test").Start(ctxT(t), "deploy")
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/traced-change/", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	span.End()
	traceID := span.SpanContext().TraceID()
	poll.Eventually(t, 20*time.Second, func() error {
		got := col.Trace(traceID[:])
		if len(got["ci"]) != 1 || len(got["edge-control"]) == 0 || len(got["nanoedge-worker"]) != 2 {
			return fmt.Errorf("spans of the trace by service: %v", got)
		}
		for _, name := range got["nanoedge-worker"] {
			if name != "nanoedge.worker.apply" {
				return fmt.Errorf("worker span %q", name)
			}
		}
		return nil
	})
}
