package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// WorkerConfig configures a worker process.
type WorkerConfig struct {
	// ControlPlane is the gRPC address of a control plane node.
	ControlPlane string
	// HTTPAddr is where the worker serves; port 0 picks a free port.
	HTTPAddr string
	// Token is the worker's bearer token (role worker).
	Token string
	// TLS, if set, speaks TLS to the control plane.
	TLS *tls.Config
	// MetricsAddr, if set, is the admin listener: Prometheus metrics at
	// /metrics, the worker's status at /status, /healthz.
	MetricsAddr string
	// AdminTLS, if set, serves the admin listener over TLS.
	AdminTLS *tls.Config
	// Tracing, if it names an endpoint, exports spans of routes with
	// tracing on.
	Tracing TracingConfig
	// Engine is what the worker asks of its engine, whichever it is; an
	// engine refuses an option it cannot honour.
	Engine engine.Options
	// EngineName picks the engine ("wazero", the default; "wasmer" or
	// "wasmtime" in binaries built with -tags wasmer or -tags wasmtime).
	EngineName string
	Worker     dataplane.Config
}

// Worker is a running worker.
type Worker struct {
	*dataplane.Worker
	client  *client.Client
	engine  engine.Engine
	ln      net.Listener
	metrics *sideServer
	// stopTracing flushes spans not yet exported.
	stopTracing func(context.Context) error
	cancel      context.CancelFunc
	done        chan error

	closeOnce sync.Once
	closeErr  error
}

// StartWorker starts following the control plane and serving HTTP. It does
// not wait for the first sync: Synced says when routes are applied.
func StartWorker(ctx context.Context, cfg WorkerConfig) (_ *Worker, err error) {
	// On failure, undo what was started, newest first.
	var undo []func() error
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	// Workers read from whichever node they reach (a follower, during an
	// election, without quorum): their lists are checked to agree, and the
	// watch replays what a stale node had not yet applied.
	opts := []client.Option{client.WithStaleReads()}
	if cfg.Token != "" {
		opts = append(opts, client.WithToken(cfg.Token))
	}
	if cfg.TLS != nil {
		opts = append(opts, client.WithTLS(cfg.TLS))
	}
	c, err := client.New(cfg.ControlPlane, opts...)
	if err != nil {
		return nil, err
	}
	undo = append(undo, c.Close)
	eng, err := newEngine(ctx, cfg.EngineName, cfg.Engine)
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() error { return eng.Close(context.Background()) })
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return nil, fmt.Errorf("server: http listen: %w", err)
	}
	undo = append(undo, ln.Close)
	if cfg.Worker.Version == "" {
		cfg.Worker.Version = Version()
	}
	if cfg.Worker.WorkerID == "" {
		host, _ := os.Hostname()
		cfg.Worker.WorkerID = host + "/" + ln.Addr().String()
	}
	stopTracing := func(context.Context) error { return nil }
	if cfg.Tracing.Enabled() {
		var tp trace.TracerProvider
		if tp, stopTracing, err = StartTracing(ctx, cfg.Tracing, "nanoedge-worker", cfg.Worker.WorkerID); err != nil {
			return nil, err
		}
		cfg.Worker.Tracer = tp.Tracer("github.com/nanoedge/nanoedge/dataplane")
		undo = append(undo, func() error { return stopTracing(context.Background()) })
	}
	dw, err := dataplane.New(cfg.Worker, c, eng)
	if err != nil {
		return nil, err
	}
	if err := dw.RegisterCollector(certExpiry{"client": cfg.TLS, "admin": cfg.AdminTLS}); err != nil {
		return nil, err
	}
	ms, err := startSide("admin", cfg.MetricsAddr, cfg.AdminTLS, dw.AdminHandler())
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	w := &Worker{Worker: dw, client: c, engine: eng, ln: ln, metrics: ms, stopTracing: stopTracing, cancel: cancel, done: make(chan error, 2)}
	go func() { w.done <- dw.Run(runCtx) }()
	go func() { w.done <- dw.Serve(runCtx, ln) }()
	return w, nil
}

// MetricsURL is where Prometheus metrics are served ("" when off).
func (w *Worker) MetricsURL() string { return w.metrics.URL("/metrics") }

// AdminURL is the admin listener's base URL ("" when off).
func (w *Worker) AdminURL() string { return w.metrics.URL("") }

// URL is the worker's base HTTP URL.
func (w *Worker) URL() string { return "http://" + w.ln.Addr().String() }

// Close stops serving, waits for in-flight requests and unloads modules. It
// is safe to call more than once.
func (w *Worker) Close() error {
	w.closeOnce.Do(func() {
		w.cancel()
		err := errors.Join(<-w.done, <-w.done, w.metrics.Close())
		w.closeErr = errors.Join(err, w.stopTracing(context.Background()), w.engine.Close(context.Background()), w.client.Close())
	})
	return w.closeErr
}
