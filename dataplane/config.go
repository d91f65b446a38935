package dataplane

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Config configures a Worker.
type Config struct {
	// RequestTimeout bounds one request's time in the guest, including
	// waiting for an instance. A guest still running then is stopped (504).
	RequestTimeout time.Duration
	// MaxRequestBody and MaxResponseBody bound bodies in bytes (413 and 502).
	MaxRequestBody  int64
	MaxResponseBody int
	// MaxHeaderBytes bounds request headers (431).
	MaxHeaderBytes int
	// ReadHeaderTimeout cuts clients that are slow to send headers.
	ReadHeaderTimeout time.Duration
	// ModuleMemory and MaxInstances bound the instances of one module at
	// once: as many as ModuleMemory holds at the linear memory size of
	// the module's first instance, at most MaxInstances. Requests beyond
	// wait for a free instance until their deadline (503). Instances that
	// wait (on the network, in a sleep) hold memory, not CPU: these bound
	// memory, and Concurrency bounds CPU.
	ModuleMemory uint64
	MaxInstances int
	// Concurrency bounds the requests running guest code at once, over
	// all modules; a request waiting on the network or a sleep gives its
	// place up meanwhile.
	Concurrency int
	// OutboundMaxCalls and OutboundMaxBytes bound one request's outbound
	// HTTP calls and the response bytes they bring (a route may lower
	// them). OutboundPrivate lists the networks off the public internet
	// handlers may reach (loopback, private, link-local and reserved
	// addresses are refused otherwise); OutboundRoots, if set, replaces
	// the system's certificate roots for outbound TLS.
	OutboundMaxCalls int
	OutboundMaxBytes int64
	OutboundPrivate  []netip.Prefix
	OutboundRoots    *x509.CertPool
	// MaxRequestsPerInstance recycles an instance after that many requests.
	// 0 takes the module's advice (engine.Renewer), else
	// DefaultMaxRequestsPerInstance.
	MaxRequestsPerInstance int
	// RecycleMemory recycles an instance whose linear memory grew past this
	// many bytes (a guest that caches or leaks is restarted, not kept).
	RecycleMemory uint64
	// IdleTimeout closes instances idle that long, keeping one per module.
	IdleTimeout time.Duration
	// RetainUnused keeps a module no route uses any more compiled and warm
	// for that long, at most MaxRetained of them, so flipping back is instant.
	RetainUnused time.Duration
	MaxRetained  int
	// LoadTimeout bounds fetching, compiling and warming one module.
	LoadTimeout time.Duration
	// StaleAfter is how long the worker may fail to follow the registry
	// (a broken stream, state it cannot list or apply) before its
	// readiness says so: /healthz answers 503 with the cause.
	StaleAfter time.Duration
	// StateDir, if set, is where the worker keeps the registry state it
	// serves and the modules it runs, to serve them again after a restart
	// while no control plane answers.
	StateDir string
	// StallAfter is how long a watch may bring nothing, not even the
	// progress a quiet node sends every few seconds, before the worker
	// takes the node for gone and follows another.
	StallAfter time.Duration
	// WorkerID names the worker in telemetry; ReportInterval is how often
	// it reports.
	WorkerID       string
	ReportInterval time.Duration
	// PinSecret, if set, lets requests carrying PinHeader with this secret
	// choose the version that serves them (for testers during a rollout).
	PinSecret string
	// Prewarm compiles every module as soon as it is uploaded (one at a
	// time), so that routing it later is instant.
	Prewarm bool
	// RequireSignatures refuses to compile modules whose signature does not
	// verify with a publisher key the registry trusts.
	RequireSignatures bool
	// Version is the worker's build version, reported in telemetry.
	Version string
	// Tracer, if set, receives a span for every request on routes with
	// tracing on (RouteOptions.trace). Nil: no spans are exported.
	Tracer trace.Tracer
	Logger *slog.Logger
}

// DefaultMaxRequestsPerInstance is how many requests an instance serves
// when neither the Config nor the module says.
const DefaultMaxRequestsPerInstance = 10000

// DefaultConfig returns limits suited to small HTTP handlers.
func DefaultConfig() Config {
	return Config{
		RequestTimeout:    10 * time.Second,
		MaxRequestBody:    8 << 20,
		MaxResponseBody:   16 << 20,
		MaxHeaderBytes:    64 << 10,
		ReadHeaderTimeout: 10 * time.Second,
		ModuleMemory:      1 << 30,
		MaxInstances:      1024,
		Concurrency:       2 * runtime.GOMAXPROCS(0),
		OutboundMaxCalls:  50,
		OutboundMaxBytes:  32 << 20,
		RecycleMemory:     64 << 20,
		IdleTimeout:       5 * time.Minute,
		RetainUnused:      10 * time.Minute,
		MaxRetained:       8,
		LoadTimeout:       5 * time.Minute,
		StaleAfter:        30 * time.Second,
		StallAfter:        5 * time.Second,
		RequireSignatures: true,
		Prewarm:           true,
		ReportInterval:    time.Second,
		Logger:            slog.Default(),
	}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	var errs []error
	if c.RequestTimeout <= 0 || c.ReadHeaderTimeout <= 0 || c.LoadTimeout <= 0 || c.IdleTimeout <= 0 || c.ReportInterval <= 0 || c.StaleAfter <= 0 || c.StallAfter <= 0 {
		errs = append(errs, errors.New("timeouts must be positive"))
	}
	if c.MaxRequestBody < 0 || c.MaxResponseBody <= 0 || c.MaxHeaderBytes <= 0 {
		errs = append(errs, errors.New("size limits must be positive"))
	}
	if c.Concurrency <= 0 || c.OutboundMaxCalls <= 0 || c.OutboundMaxBytes <= 0 {
		errs = append(errs, errors.New("the concurrency and the outbound limits must be positive"))
	}
	if c.MaxInstances <= 0 || c.ModuleMemory == 0 || c.MaxRequestsPerInstance < 0 || c.RecycleMemory == 0 || c.MaxRetained < 0 || c.RetainUnused < 0 {
		errs = append(errs, errors.New("MaxInstances, ModuleMemory and RecycleMemory must be positive; MaxRequestsPerInstance, MaxRetained and RetainUnused not negative"))
	}
	if c.Logger == nil {
		errs = append(errs, errors.New("no Logger"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("dataplane: config: %w", err)
	}
	return nil
}

// HTTPServer returns the HTTP server a worker serves h with: header size
// and read-header time bounded, idle connections closed after two
// minutes. Benchmarks give native baselines the same settings.
func (c Config) HTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		IdleTimeout:       2 * time.Minute,
	}
}
