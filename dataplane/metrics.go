package dataplane

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nanoedge/nanoedge/sdk/latency"
)

// metrics are the worker's Prometheus series, on a registry of its own so
// several workers can live in one process.
type metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	failures  *prometheus.CounterVec
	revision  prometheus.GaugeFunc
	instances prometheus.GaugeFunc
	// outputDropped counts guest stdout and stderr bytes past the
	// per-request budget.
	outputDropped prometheus.Counter
}

func newMetrics(w *Worker) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nanoedge_worker_requests_total", Help: "Requests served, by route, module version and status code.",
		}, []string{"route", "version", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "nanoedge_worker_request_duration_seconds", Help: "Time to answer a request, by route and module version.",
			Buckets: latency.Seconds(),
		}, []string{"route", "version"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nanoedge_worker_guest_failures_total", Help: "Guest traps and deadline overruns, by route and module version.",
		}, []string{"route", "version", "kind"}),
	}
	m.outputDropped = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "nanoedge_worker_guest_output_dropped_bytes_total", Help: "Guest stdout and stderr bytes dropped past the per-request budget.",
	})
	m.revision = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "nanoedge_worker_applied_revision", Help: "Registry revision the worker's routes reflect.",
	}, func() float64 { return float64(w.Revision()) })
	m.instances = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "nanoedge_worker_modules_loaded", Help: "Modules compiled and warm on the worker.",
	}, func() float64 { return float64(w.loadedModules.Load()) })
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "nanoedge_worker_ready", Help: "1 if the worker follows the registry (its /healthz answers 200), 0 if it serves stale or no state.",
	}, func() float64 {
		if w.Ready() == nil {
			return 1
		}
		return 0
	})
	stale := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "nanoedge_worker_stale_seconds", Help: "How long the worker has served a state the registry may have moved past (0 while it follows the registry).",
	}, func() float64 {
		if since, _, stale := w.Stale(); stale {
			return time.Since(since).Seconds()
		}
		return 0
	})
	m.reg.MustRegister(m.requests, m.duration, m.failures, m.revision, m.instances, ready, stale, m.outputDropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// MetricsHandler serves the worker's metrics in the Prometheus format.
func (w *Worker) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(w.metrics.reg, promhttp.HandlerOpts{})
}

// AdminHandler serves what operators read, on a listener apart from user
// traffic: /metrics, /status (every route, digest and counter, as JSON)
// and /healthz.
func (w *Worker) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", w.MetricsHandler())
	mux.HandleFunc("GET /status", w.serveStatus)
	mux.HandleFunc("GET /healthz", w.serveHealth)
	return mux
}
