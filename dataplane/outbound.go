package dataplane

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/outbound"
)

// egress is the worker's outbound HTTP for handlers: one transport
// (keep-alive, HTTP/2 where the origin offers it, TLS verified with the
// system's roots), whose dialer checks every address it connects to.
type egress struct {
	transport *http.Transport
	private   []netip.Prefix
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// nonPublic are address blocks that are not the public internet beyond
// what netip's predicates name (loopback, private, link-local,
// multicast, unspecified).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 reaches IPv4 addresses of any kind
	netip.MustParsePrefix("2001:db8::/32"),
}

// publicAddr reports whether a is on the public internet.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsMulticast() || a.IsUnspecified() || a.IsInterfaceLocalMulticast() || !a.IsGlobalUnicast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

func newEgress(cfg Config, m *metrics) *egress {
	g := &egress{private: cfg.OutboundPrivate}
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, Control: g.checkAddr}
	g.transport = &http.Transport{
		Proxy:                  nil, // handlers reach origins directly, never through the worker's proxy settings
		DialContext:            d.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    64,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    10 * time.Second,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
		TLSClientConfig:        &tls.Config{RootCAs: cfg.OutboundRoots, MinVersion: tls.VersionTLS12},
	}
	g.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nanoedge_worker_outbound_requests_total",
		Help: "Handlers' outbound HTTP calls, by route, destination host and result: a status class (2xx...), error, refused or limited.",
	}, []string{"route", "host", "result"})
	g.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "nanoedge_worker_outbound_duration_seconds", Help: "Time to the response header of handlers' outbound calls, by route and destination host.",
		Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "host"})
	if m != nil {
		m.reg.MustRegister(g.requests, g.duration)
	}
	return g
}

// checkAddr refuses a connection to an address off the public internet
// unless the worker's configuration allows its network. It runs on the
// address being dialled, after name resolution: a name that resolves to
// a private address (DNS rebinding included) is refused all the same.
func (g *egress) checkAddr(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot check address %q", engine.ErrRefused, address)
	}
	a := ap.Addr().Unmap()
	for _, p := range g.private {
		if p.Contains(a) {
			return nil
		}
	}
	if !publicAddr(a) {
		return fmt.Errorf("%w: %s is not a public address (loopback, private, link-local, multicast and reserved addresses are refused unless the worker's --outbound-private allows them)", engine.ErrRefused, a)
	}
	return nil
}

// outboundPolicy is a route's outbound policy, parsed once per table.
type outboundPolicy struct {
	allow    outbound.List
	maxCalls int
	maxBytes int64
	label    string // the route, as metrics name it
}

func newOutboundPolicy(r *registryv1.Route, cfg Config) *outboundPolicy {
	p := &outboundPolicy{maxCalls: cfg.OutboundMaxCalls, maxBytes: cfg.OutboundMaxBytes, label: r.Host + r.PathPrefix}
	o := r.GetOptions().GetOutbound()
	if o == nil {
		return p
	}
	p.allow, _ = outbound.ParseList(o.Allow) // the registry validated them
	p.maxCalls = int(tighten(int64(p.maxCalls), o.MaxCalls))
	p.maxBytes = tighten(p.maxBytes, o.MaxResponseBytes)
	return p
}

// outboundRequest is one request's outbound calls: it implements
// engine.Outbound for the route's policy and counts what the request used.
type outboundRequest struct {
	g        *egress
	policy   *outboundPolicy
	tracer   trace.Tracer
	span     trace.Span // the worker's span of the request, or nil
	tc       traceContext
	calls    int // asked for
	sent     int // sent, counted against the limit
	failures int // refused, over a limit, or without a whole response
	bytes    int64
}

// Do implements engine.Outbound.
func (o *outboundRequest) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	o.calls++
	resp, err := o.do(ctx, req)
	if err != nil {
		o.failures++
	}
	return resp, err
}

func (o *outboundRequest) do(ctx context.Context, req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if !o.policy.allow.Allows(req.URL) {
		o.g.requests.WithLabelValues(o.policy.label, "", "refused").Inc()
		if len(o.policy.allow) == 0 {
			return nil, fmt.Errorf("%w: this route allows no outbound calls (route set --allow-outbound ORIGIN)", engine.ErrRefused)
		}
		return nil, fmt.Errorf("%w: %s://%s is not an origin this route allows", engine.ErrRefused, req.URL.Scheme, req.URL.Host)
	}
	if o.sent >= o.policy.maxCalls {
		o.g.requests.WithLabelValues(o.policy.label, host, "limited").Inc()
		return nil, fmt.Errorf("%w: %d outbound calls per request", engine.ErrLimited, o.policy.maxCalls)
	}
	o.sent++
	var span trace.Span
	if o.span != nil && o.tracer != nil {
		ctx, span = o.tracer.Start(trace.ContextWithSpan(ctx, o.span), req.Method+" "+host, trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("http.request.method", req.Method), attribute.String("server.address", host),
				attribute.String("url.full", req.URL.Redacted())))
		sc := span.SpanContext()
		flags := "00"
		if sc.IsSampled() {
			flags = "01"
		}
		req.Header["Traceparent"] = []string{"00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + flags}
	} else if len(req.Header["Traceparent"]) == 0 {
		req.Header["Traceparent"] = []string{o.tc.header()}
	}
	start := time.Now()
	resp, err := o.g.transport.RoundTrip(req.WithContext(ctx))
	o.g.duration.WithLabelValues(o.policy.label, host).Observe(time.Since(start).Seconds())
	if err != nil {
		result := "error"
		if errors.Is(err, engine.ErrRefused) {
			result = "refused"
		}
		o.g.requests.WithLabelValues(o.policy.label, host, result).Inc()
		if span != nil {
			span.SetStatus(codes.Error, err.Error())
			span.End()
		}
		return nil, err
	}
	o.g.requests.WithLabelValues(o.policy.label, host, strconv.Itoa(resp.StatusCode/100)+"xx").Inc()
	if span != nil {
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		if resp.StatusCode >= 500 {
			span.SetStatus(codes.Error, resp.Status)
		}
	}
	resp.Body = &countedBody{ReadCloser: resp.Body, o: o, span: span}
	return resp, nil
}

// countedBody counts a response's bytes against the request's budget and
// ends the call's span when closed.
type countedBody struct {
	io.ReadCloser
	o    *outboundRequest
	span trace.Span
}

func (b *countedBody) Read(p []byte) (int, error) {
	if b.o.bytes > b.o.policy.maxBytes {
		return 0, fmt.Errorf("%w: %d response bytes per request", engine.ErrLimited, b.o.policy.maxBytes)
	}
	if left := b.o.policy.maxBytes - b.o.bytes; int64(len(p)) > left+1 {
		p = p[:left+1] // one byte past the budget tells a body that ends there from one that goes on
	}
	n, err := b.ReadCloser.Read(p)
	b.o.bytes += int64(n)
	if b.o.bytes > b.o.policy.maxBytes {
		b.o.failures++
		return 0, fmt.Errorf("%w: %d response bytes per request", engine.ErrLimited, b.o.policy.maxBytes)
	}
	return n, err
}

func (b *countedBody) Close() error {
	if b.span != nil {
		b.span.End()
		b.span = nil
	}
	return b.ReadCloser.Close()
}
