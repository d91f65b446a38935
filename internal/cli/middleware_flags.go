package cli

import (
	"flag"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/outbound"
)

// middlewareFlags are the per-route middleware options of `route set`.
type middlewareFlags struct {
	origins, methods, headers, expose listFlag
	credentials, accessLog, trace     *bool
	browser                           *bool
	maxAge                            *time.Duration
	outbound                          listFlag
	outboundCalls                     *int64
	outboundKB                        *int64
}

func addMiddlewareFlags(fs *flag.FlagSet) *middlewareFlags {
	m := &middlewareFlags{}
	fs.Var(&m.origins, "cors-origin", "allow cross-origin requests from this origin, scheme://host[:port] or * (repeat); turns CORS on")
	fs.Var(&m.methods, "cors-method", "method a CORS preflight may ask for (repeat; default GET, HEAD, POST)")
	fs.Var(&m.headers, "cors-header", "request header a CORS preflight may ask for, or * (repeat)")
	fs.Var(&m.expose, "cors-expose", "response header cross-origin scripts may read (repeat)")
	m.credentials = fs.Bool("cors-credentials", false, "allow cookies and credentials on cross-origin requests")
	m.maxAge = fs.Duration("cors-max-age", 0, "how long browsers may cache a preflight answer")
	m.accessLog = fs.Bool("access-log", false, "log one line per request on this route, with request, trace and span ids")
	m.trace = fs.Bool("trace", false, "export a span per request on this route to the workers' OTLP endpoint")
	m.browser = fs.Bool("browser", false, "let browsers fetch this route's module from workers and run it in a Service Worker")
	fs.Var(&m.outbound, "allow-outbound", "an origin the handler may call over HTTP: scheme://host[:port], host a name, *.suffix or *, port a number or * (repeat; default: none)")
	m.outboundCalls = fs.Int64("outbound-max-calls", 0, "most outbound calls per request on this route (only lowers the worker's)")
	m.outboundKB = fs.Int64("outbound-max-kb", 0, "most KiB of outbound responses per request on this route (only lowers the worker's)")
	return m
}

// check refuses an origin pattern before anything is sent.
func (m *middlewareFlags) check() error {
	for _, p := range m.outbound {
		if _, err := outbound.Parse(p); err != nil {
			return usageErr("--allow-outbound: %v", err)
		}
	}
	if *m.outboundCalls < 0 || *m.outboundKB < 0 {
		return usageErr("--outbound-max-calls and --outbound-max-kb must not be negative")
	}
	return nil
}

func (m *middlewareFlags) apply(opts *registryv1.RouteOptions) {
	opts.AccessLog, opts.Trace, opts.Browser = *m.accessLog, *m.trace, *m.browser
	if len(m.outbound) > 0 || *m.outboundCalls > 0 || *m.outboundKB > 0 {
		opts.Outbound = &registryv1.OutboundPolicy{Allow: m.outbound, MaxCalls: *m.outboundCalls, MaxResponseBytes: *m.outboundKB << 10}
	}
	if len(m.origins) == 0 {
		return
	}
	opts.Cors = &registryv1.CorsPolicy{
		AllowOrigins: m.origins, AllowMethods: m.methods, AllowHeaders: m.headers, ExposeHeaders: m.expose,
		AllowCredentials: *m.credentials, MaxAgeSeconds: int64(*m.maxAge / time.Second),
	}
}
