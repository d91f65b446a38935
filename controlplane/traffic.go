package controlplane

import (
	"context"
	"sort"
	"sync"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/latency"
)

// maxTrafficWindow is the longest window GetTraffic looks back over, and
// maxTrafficHistory the longest history it charts.
const (
	maxTrafficWindow  = 60 * time.Second
	maxTrafficHistory = 15 * time.Minute
	maxTrafficSamples = 300
)

type versionKey struct{ host, pathPrefix, digest string }

// delta is what one version served in one second, over the fleet.
type delta struct {
	requests, errors, traps, timeouts int64
	outbound, outboundFailures        int64
	buckets                           []int64
	workers                           map[string]bool
}

func (d *delta) add(o *delta) {
	d.requests += o.requests
	d.errors += o.errors
	d.traps += o.traps
	d.timeouts += o.timeouts
	d.outbound += o.outbound
	d.outboundFailures += o.outboundFailures
	if d.buckets == nil {
		d.buckets = make([]int64, len(latency.BoundsMS)+1)
	}
	for i := range min(len(o.buckets), len(d.buckets)) {
		d.buckets[i] += o.buckets[i]
	}
	if d.workers == nil {
		d.workers = make(map[string]bool)
	}
	for w := range o.workers {
		d.workers[w] = true
	}
}

// traffic turns the cumulative counters workers report into per-second
// deltas, kept for maxTrafficWindow. A worker's first report on this node
// only sets its baseline, so a new leader does not count a worker's whole
// history as one second's traffic.
type traffic struct {
	mu      sync.Mutex
	last    map[string]map[versionKey]*registryv1.VersionStats // by worker
	seconds map[int64]map[versionKey]*delta                    // by unix second
}

func (t *traffic) observe(workerID string, r *registryv1.WorkerReport, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[string]map[versionKey]*registryv1.VersionStats)
		t.seconds = make(map[int64]map[versionKey]*delta)
	}
	prev, known := t.last[workerID]
	cur := make(map[versionKey]*registryv1.VersionStats, len(r.Versions))
	sec := now.Unix()
	for _, v := range r.Versions {
		k := versionKey{v.Host, v.PathPrefix, v.ModuleDigest}
		cur[k] = v
		if !known {
			continue
		}
		d := &delta{requests: v.Requests, errors: v.ServerErrors, traps: v.Traps, timeouts: v.Timeouts,
			outbound: v.OutboundCalls, outboundFailures: v.OutboundFailures, buckets: append([]int64(nil), v.LatencyBuckets...)}
		// A counter that went down means the worker restarted: all it
		// reports is new.
		if p := prev[k]; p != nil && v.Requests >= p.Requests {
			d.requests -= p.Requests
			d.errors -= p.ServerErrors
			d.traps -= p.Traps
			d.timeouts -= p.Timeouts
			d.outbound -= p.OutboundCalls
			d.outboundFailures -= p.OutboundFailures
			for i := range min(len(d.buckets), len(p.LatencyBuckets)) {
				d.buckets[i] -= p.LatencyBuckets[i]
			}
		}
		if d.requests == 0 {
			continue
		}
		d.workers = map[string]bool{workerID: true}
		if t.seconds[sec] == nil {
			t.seconds[sec] = make(map[versionKey]*delta)
		}
		if t.seconds[sec][k] == nil {
			t.seconds[sec][k] = &delta{}
		}
		t.seconds[sec][k].add(d)
	}
	t.last[workerID] = cur
	for s, vs := range t.seconds {
		switch {
		case s <= sec-int64(maxTrafficHistory/time.Second):
			delete(t.seconds, s)
		case s <= sec-int64(maxTrafficWindow/time.Second):
			for _, d := range vs {
				d.workers = nil // history charts rates, not who served them
			}
		}
	}
}

// forget drops a worker that stopped reporting.
func (t *traffic) forget(workerID string) {
	t.mu.Lock()
	delete(t.last, workerID)
	t.mu.Unlock()
}

// history sums each version's seconds in (now-span, now] by step, oldest
// first: span/step samples per version that served in the span.
func (t *traffic) history(span, step time.Duration, now time.Time) map[versionKey][]*delta {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int64(span / step)
	stepS := int64(step / time.Second)
	from := now.Unix() - n*stepS
	out := make(map[versionKey][]*delta)
	for s, vs := range t.seconds {
		if s <= from || s > now.Unix() {
			continue
		}
		i := (s - from - 1) / stepS
		for k, v := range vs {
			if out[k] == nil {
				out[k] = make([]*delta, n)
				for j := range out[k] {
					out[k][j] = &delta{}
				}
			}
			out[k][i].add(v)
		}
	}
	return out
}

// window sums the seconds in (now-d, now].
func (t *traffic) window(d time.Duration, now time.Time) map[versionKey]*delta {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[versionKey]*delta)
	from := now.Unix() - int64(d/time.Second)
	for s, vs := range t.seconds {
		if s <= from || s > now.Unix() {
			continue
		}
		for k, v := range vs {
			if out[k] == nil {
				out[k] = &delta{}
			}
			out[k].add(v)
		}
	}
	return out
}

// GetTraffic implements TelemetryServiceServer.
func (t *telemetryServer) GetTraffic(ctx context.Context, req *registryv1.GetTrafficRequest) (*registryv1.GetTrafficResponse, error) {
	w := time.Duration(req.WindowSeconds) * time.Second
	switch {
	case w == 0:
		w = 10 * time.Second
	case w < time.Second || w > maxTrafficWindow:
		return nil, statusInvalid("controlplane: window_seconds must be between 1 and 60")
	}
	span, step := time.Duration(req.HistorySeconds)*time.Second, time.Duration(req.StepSeconds)*time.Second
	if step == 0 {
		step = 10 * time.Second
	}
	switch {
	case span < 0 || span > maxTrafficHistory:
		return nil, statusInvalid("controlplane: history_seconds must be between 0 and 900")
	case span > 0 && (step < time.Second || step > span || span/step > maxTrafficSamples):
		return nil, statusInvalid("controlplane: step_seconds must be at least 1, at most history_seconds, and give at most 300 samples")
	}
	now := time.Now()
	resp := &registryv1.GetTrafficResponse{WindowSeconds: int64(w / time.Second)}
	versions := make(map[versionKey]*registryv1.VersionTraffic)
	for k, d := range t.s.fleet.traffic.window(w, now) {
		vt := &registryv1.VersionTraffic{
			Requests: d.requests, ServerErrors: d.errors, Traps: d.traps, Timeouts: d.timeouts,
			RequestsPerSecond: float64(d.requests) / w.Seconds(),
			P99Ms:             versionTotals{requests: d.requests, buckets: d.buckets}.p99(),
			Workers:           int32(len(d.workers)),
			OutboundCalls:     d.outbound, OutboundFailures: d.outboundFailures,
			OutboundPerSecond: float64(d.outbound) / w.Seconds(),
		}
		if d.requests > 0 {
			vt.ErrorRate = float64(d.errors) / float64(d.requests)
		}
		versions[k] = vt
	}
	if span > 0 {
		end := now.Unix()
		for k, steps := range t.s.fleet.traffic.history(span, step, now) {
			vt := versions[k]
			if vt == nil {
				vt = &registryv1.VersionTraffic{}
				versions[k] = vt
			}
			for i, d := range steps {
				sm := &registryv1.TrafficSample{
					TimeUnix:          end - int64(len(steps)-1-i)*int64(step/time.Second),
					RequestsPerSecond: float64(d.requests) / step.Seconds(),
				}
				if d.requests > 0 {
					sm.ErrorRate = float64(d.errors) / float64(d.requests)
					sm.P99Ms = versionTotals{requests: d.requests, buckets: d.buckets}.p99()
				}
				vt.History = append(vt.History, sm)
			}
		}
	}
	for k, vt := range versions {
		vt.Host, vt.PathPrefix, vt.ModuleDigest = k.host, k.pathPrefix, k.digest
		if m, err := t.s.rollouts.Module(k.digest); err == nil {
			vt.ModuleName = m.Name
		}
		resp.Versions = append(resp.Versions, vt)
	}
	sort.Slice(resp.Versions, func(i, j int) bool {
		a, b := resp.Versions[i], resp.Versions[j]
		if a.Host+"\x00"+a.PathPrefix != b.Host+"\x00"+b.PathPrefix {
			return a.Host+"\x00"+a.PathPrefix < b.Host+"\x00"+b.PathPrefix
		}
		return a.RequestsPerSecond > b.RequestsPerSecond
	})
	return resp, nil
}
