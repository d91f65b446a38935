package cli

import (
	"flag"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// middlewareFlags are the per-route middleware options of `route set`.
type middlewareFlags struct {
	origins, methods, headers, expose listFlag
	credentials, accessLog, trace     *bool
	browser                           *bool
	maxAge                            *time.Duration
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
	return m
}

func (m *middlewareFlags) apply(opts *registryv1.RouteOptions) {
	opts.AccessLog, opts.Trace, opts.Browser = *m.accessLog, *m.trace, *m.browser
	if len(m.origins) == 0 {
		return
	}
	opts.Cors = &registryv1.CorsPolicy{
		AllowOrigins: m.origins, AllowMethods: m.methods, AllowHeaders: m.headers, ExposeHeaders: m.expose,
		AllowCredentials: *m.credentials, MaxAgeSeconds: int64(*m.maxAge / time.Second),
	}
}
