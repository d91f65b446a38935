package dataplane

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/latency"
)

// routeStats counts what one route served since the worker started.
type routeStats struct {
	Requests  int64   `json:"requests"`
	Errors5xx int64   `json:"errors_5xx"`
	Traps     int64   `json:"traps"`
	Timeouts  int64   `json:"timeouts"`
	TotalMs   float64 `json:"total_ms"`
	// By status class: [0] 2xx, [1] 3xx, [2] 4xx.
	Classes [3]int64 `json:"status_2xx_3xx_4xx"`
	// The handler's outbound calls, and those that failed.
	OutboundCalls    int64 `json:"outbound_calls"`
	OutboundFailures int64 `json:"outbound_failures"`
}

// versionStats counts one route's requests served by one module.
type versionStats struct {
	host, pathPrefix, digest string
	routeStats
	buckets []int64
	// retired is when the version stopped being routed; zero while it is.
	// Retired versions are left out of reports, and forgotten after
	// forgetRetired (their Prometheus series deleted), so reports and
	// scrapes stay as small as what is routed.
	retired time.Time
	// The labels of its series.
	routeLabel, versionLabel string
}

// forgetRetired is how long a version no route serves keeps its counters:
// coming back within it, it counts on from where it was, so a report
// never shows a counter going back.
const forgetRetired = time.Minute

// retireVersions marks the counters of versions no entry serves as
// retired (and revives those served again), forgetting ones retired long
// ago. The caller holds statsMu.
func (w *Worker) retireVersions(entries []*entry, now time.Time) {
	served := make(map[string]bool)
	for _, e := range entries {
		rkey := routeKey(e.route.Host, e.route.PathPrefix)
		for _, m := range e.modules() {
			served[rkey+"\x00"+m.digest] = true
		}
	}
	for k, v := range w.versions {
		switch {
		case served[k]:
			v.retired = time.Time{}
		case v.retired.IsZero():
			v.retired = now
		case now.Sub(v.retired) > forgetRetired:
			delete(w.versions, k)
			if v.routeLabel != "" {
				labels := prometheus.Labels{"route": v.routeLabel, "version": v.versionLabel}
				w.metrics.requests.DeletePartialMatch(labels)
				w.metrics.duration.DeletePartialMatch(labels)
				w.metrics.failures.DeletePartialMatch(labels)
			}
		}
	}
}

// record counts one request; traceID, if the request was traced, marks
// its latency as an exemplar: the histogram bucket links to the trace.
func (w *Worker) record(e *entry, mod *module, status int, err error, d time.Duration, traceID string, out *outboundRequest) {
	ms := float64(d) / float64(time.Millisecond)
	trap, timeout := errors.Is(err, engine.ErrTrap), errors.Is(err, engine.ErrDeadline)
	w.statsMu.Lock()
	c := w.countersFor(e, mod)
	for _, s := range []*routeStats{c.route, &c.version.routeStats} {
		s.Requests++
		s.TotalMs += ms
		if status >= 500 {
			s.Errors5xx++
		} else if status >= 200 {
			s.Classes[min(status/100-2, 2)]++
		}
		switch {
		case trap:
			s.Traps++
		case timeout:
			s.Timeouts++
		}
		s.OutboundCalls += int64(out.calls)
		s.OutboundFailures += int64(out.failures)
	}
	c.version.buckets[latency.Bucket(ms)]++
	requests := c.requests[status]
	if requests == nil {
		requests = w.metrics.requests.WithLabelValues(c.routeLabel, mod.version, strconv.Itoa(status))
		c.requests[status] = requests
	}
	w.statsMu.Unlock()
	requests.Inc()
	if eo, ok := c.duration.(prometheus.ExemplarObserver); ok && traceID != "" {
		eo.ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": traceID})
	} else {
		c.duration.Observe(d.Seconds())
	}
	if trap {
		w.metrics.failures.WithLabelValues(c.routeLabel, mod.version, "trap").Inc()
	}
	if timeout {
		w.metrics.failures.WithLabelValues(c.routeLabel, mod.version, "timeout").Inc()
	}
}

// counters is where one route's requests served by one module version are
// counted, looked up once per entry and module rather than per request.
type counters struct {
	route      *routeStats
	version    *versionStats
	routeLabel string
	duration   prometheus.Observer
	requests   map[int]prometheus.Counter // by status code
}

// countersFor returns e's counters for mod, creating them on first use.
// The caller holds statsMu.
func (w *Worker) countersFor(e *entry, mod *module) *counters {
	if c := e.counters[mod]; c != nil {
		return c
	}
	rkey := routeKey(e.route.Host, e.route.PathPrefix)
	vkey := rkey + "\x00" + mod.digest
	v := w.versions[vkey]
	if v != nil && !v.retired.IsZero() {
		v.retired = time.Time{}
	}
	if v == nil {
		v = &versionStats{host: e.route.Host, pathPrefix: e.route.PathPrefix, digest: mod.digest, buckets: make([]int64, len(latency.BoundsMS)+1)}
		w.versions[vkey] = v
	}
	s := w.stats[rkey]
	if s == nil {
		s = &routeStats{}
		w.stats[rkey] = s
	}
	label := e.route.Host + e.route.PathPrefix
	v.routeLabel, v.versionLabel = label, mod.version
	c := &counters{route: s, version: v, routeLabel: label,
		duration: w.metrics.duration.WithLabelValues(label, mod.version), requests: map[int]prometheus.Counter{}}
	if e.counters == nil {
		e.counters = map[*module]*counters{}
	}
	e.counters[mod] = c
	return c
}

// report builds the telemetry the worker sends the control plane.
func (w *Worker) report() *registryv1.WorkerReport {
	r := &registryv1.WorkerReport{
		WorkerId: w.cfg.WorkerID, HttpAddr: w.httpAddr.Load().(string), AppliedRevision: w.Revision(),
		Started: timestamppb.New(w.started), ModulesLoaded: int32(w.loadedModules.Load()),
		Version: w.cfg.Version, Modules: w.moduleUsage(),
	}
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	for _, v := range w.versions {
		if !v.retired.IsZero() {
			continue
		}
		r.Versions = append(r.Versions, &registryv1.VersionStats{
			Host: v.host, PathPrefix: v.pathPrefix, ModuleDigest: v.digest,
			Requests: v.Requests, ServerErrors: v.Errors5xx, Traps: v.Traps, Timeouts: v.Timeouts,
			LatencyBuckets: append([]int64(nil), v.buckets...),
			Successes:      v.Classes[0], Redirects: v.Classes[1], ClientErrors: v.Classes[2],
			OutboundCalls: v.OutboundCalls, OutboundFailures: v.OutboundFailures,
		})
	}
	return r
}

// reportLoop sends a report every ReportInterval until ctx ends.
func (w *Worker) reportLoop(ctx context.Context) {
	t := time.NewTicker(w.cfg.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rctx, cancel := context.WithTimeout(ctx, w.cfg.ReportInterval)
			if err := w.reg.Report(rctx, w.report()); err != nil && ctx.Err() == nil {
				w.cfg.Logger.Debug("telemetry report failed", "err", err)
			}
			cancel()
		}
	}
}

// Status is a snapshot of what a worker serves.
type Status struct {
	Revision int64 `json:"revision"`
	Synced   bool  `json:"synced"`
	// StaleSince, when set, is since when the worker may serve a state
	// the registry moved past (it cannot follow it, or serves the state
	// saved on disk), and StaleReason why.
	StaleSince  *time.Time    `json:"stale_since,omitempty"`
	StaleReason string        `json:"stale_reason,omitempty"`
	Routes      []RouteStatus `json:"routes"`
	// LoadErrors maps module digests to why they could not be loaded.
	LoadErrors map[string]string `json:"load_errors,omitempty"`
}

// RouteStatus describes one served route.
type RouteStatus struct {
	Host         string     `json:"host"`
	PathPrefix   string     `json:"path_prefix"`
	Module       string     `json:"module"`
	Digest       string     `json:"digest"`
	Idle         int        `json:"idle_instances"`
	Instantiated int64      `json:"instantiated"`
	Recycled     int64      `json:"recycled"`
	Stats        routeStats `json:"stats"`
}

// Status returns what the worker serves now.
func (w *Worker) Status() Status {
	st := Status{Revision: w.Revision(), Synced: w.Synced(), LoadErrors: map[string]string{}}
	if since, why, stale := w.Stale(); stale {
		st.StaleSince, st.StaleReason = &since, why.Error()
	}
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	for _, es := range w.table.Load().byHost {
		for _, e := range es {
			rs := RouteStatus{
				Host: e.route.Host, PathPrefix: e.route.PathPrefix, Module: e.mod.name, Digest: e.mod.digest,
				Idle: e.mod.idleCount(), Instantiated: e.mod.instantiated.Load(), Recycled: e.mod.recycled.Load(),
			}
			if s := w.stats[routeKey(e.route.Host, e.route.PathPrefix)]; s != nil {
				rs.Stats = *s
			}
			st.Routes = append(st.Routes, rs)
		}
	}
	for d, msg := range w.loadErr {
		st.LoadErrors[d] = msg
	}
	sort.Slice(st.Routes, func(i, j int) bool {
		a, b := st.Routes[i], st.Routes[j]
		return a.Host < b.Host || a.Host == b.Host && a.PathPrefix < b.PathPrefix
	})
	return st
}

// moduleUsage reports the instances and memory of every routed module.
func (w *Worker) moduleUsage() []*registryv1.ModuleUsage {
	seen := map[string]bool{}
	var out []*registryv1.ModuleUsage
	for _, es := range w.table.Load().byHost {
		for _, e := range es {
			for _, m := range e.modules() {
				if seen[m.digest] {
					continue
				}
				seen[m.digest] = true
				live, idle, mem := m.usage()
				out = append(out, &registryv1.ModuleUsage{ModuleName: m.name, ModuleDigest: m.digest,
					Instances: int32(live), IdleInstances: int32(idle), MemoryBytes: int64(mem)})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ModuleDigest < out[j].ModuleDigest })
	return out
}
