package dataplane

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nanoedge/nanoedge/dataplane/engine"
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
	inFlight      prometheus.Gauge
	compile       prometheus.Histogram
	loadFailures  prometheus.Counter
	unrouted      prometheus.Counter
	limits        *prometheus.CounterVec
	// registryRevision is the newest revision the registry said it has
	// (in a watch response); the lag is it less the applied revision.
	registryRevision atomic.Int64
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
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "nanoedge_worker_requests_in_flight", Help: "Routed requests being answered now.",
	})
	m.compile = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "nanoedge_worker_compile_seconds", Help: "Time to compile a module (from the disk cache when it has it).",
		Buckets: []float64{.01, .05, .1, .5, 1, 2, 5, 10, 30},
	})
	m.loadFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "nanoedge_worker_module_load_failures_total", Help: "Modules that could not be fetched, verified, compiled or instantiated.",
	})
	m.unrouted = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "nanoedge_worker_unrouted_requests_total", Help: "Requests no route matched (404).",
	})
	m.limits = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "nanoedge_worker_limit_hits_total",
		Help: "Requests stopped by a limit, by kind: deadline (504), body (413), body_timeout (408), response (502, body or header too large), overloaded (503, no instance free), memory (the guest ran out of memory).",
	}, []string{"kind"})
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
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "nanoedge_worker_revision_lag", Help: "Revisions between the newest the registry reported and the one the worker applied.",
	}, func() float64 { return float64(max(0, m.registryRevision.Load()-w.Revision())) })
	connected := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "nanoedge_worker_registry_connected", Help: "1 while the worker follows the registry's watch, 0 while it cannot.",
	}, func() float64 {
		if _, _, stale := w.Stale(); stale || !w.Synced() {
			return 0
		}
		return 1
	})
	m.reg.MustRegister(m.requests, m.duration, m.failures, m.revision, m.instances, ready, stale, m.outputDropped,
		m.inFlight, m.compile, m.loadFailures, m.unrouted, m.limits, lag, connected, instanceCollector{w},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RegisterCollector adds c to the worker's metrics.
func (w *Worker) RegisterCollector(c prometheus.Collector) error { return w.metrics.reg.Register(c) }

// MetricsHandler serves the worker's metrics in the Prometheus format.
func (w *Worker) MetricsHandler() http.Handler {
	// OpenMetrics, when asked for, carries the exemplars: a latency
	// bucket's link to a trace.
	return promhttp.HandlerFor(w.metrics.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
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

var descInstances = prometheus.NewDesc("nanoedge_worker_instances", "Instances of each routed module, by state: busy or idle.", []string{"module", "state"}, nil)

// instanceCollector counts the instances of routed modules at each scrape.
type instanceCollector struct{ w *Worker }

func (c instanceCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descInstances }

func (c instanceCollector) Collect(ch chan<- prometheus.Metric) {
	for _, u := range c.w.moduleUsage() {
		name := u.ModuleName + "@" + shortDigest(u.ModuleDigest)
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(u.Instances-u.IdleInstances), name, "busy")
		ch <- prometheus.MustNewConstMetric(descInstances, prometheus.GaugeValue, float64(u.IdleInstances), name, "idle")
	}
}

// limitKind names the limit an error hit, or "".
func limitKind(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, engine.ErrDeadline):
		return "deadline"
	case errors.Is(err, errBodyTooLarge):
		return "body"
	case errors.Is(err, errBodyTimeout):
		return "body_timeout"
	case errors.Is(err, errResponseTooLarge):
		return "response"
	case errors.Is(err, errOverloaded):
		return "overloaded"
	case errors.Is(err, engine.ErrTrap) && strings.Contains(err.Error(), "memory"):
		return "memory"
	}
	return ""
}
