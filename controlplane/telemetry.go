package controlplane

import (
	"context"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nanoedge/nanoedge/internal/latency"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// workerTTL is how long a worker that stopped reporting is still listed.
const workerTTL = 30 * time.Second

// fleet holds the latest report of every worker. It lives on the leader,
// where workers' reports are forwarded; a new leader rebuilds it from the
// next round of reports.
type fleet struct {
	mu      sync.Mutex
	workers map[string]*registryv1.WorkerStatus
	traffic traffic
}

func (f *fleet) report(r *registryv1.WorkerReport, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.workers == nil {
		f.workers = make(map[string]*registryv1.WorkerStatus)
	}
	f.workers[r.WorkerId] = &registryv1.WorkerStatus{Report: r, LastSeen: timestamppb.New(now)}
	f.traffic.observe(r, now)
}

func (f *fleet) list(now time.Time) []*registryv1.WorkerStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*registryv1.WorkerStatus
	for id, w := range f.workers {
		if now.Sub(w.LastSeen.AsTime()) > workerTTL {
			delete(f.workers, id)
			f.traffic.forget(id)
			continue
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Report.WorkerId < out[j].Report.WorkerId })
	return out
}

// size is how many workers have reported to this node.
func (f *fleet) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.workers)
}

// versionTotals is a version's counters summed over the fleet.
type versionTotals struct {
	requests, errors int64
	buckets          []int64
}

func (f *fleet) totals(host, pathPrefix, digest string) versionTotals {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := versionTotals{buckets: make([]int64, len(latency.BoundsMS)+1)}
	for _, w := range f.workers {
		for _, v := range w.Report.Versions {
			if v.Host != host || v.PathPrefix != pathPrefix || v.ModuleDigest != digest {
				continue
			}
			t.requests += v.Requests
			t.errors += v.ServerErrors
			for i := range min(len(v.LatencyBuckets), len(t.buckets)) {
				t.buckets[i] += v.LatencyBuckets[i]
			}
		}
	}
	return t
}

func (t versionTotals) minus(base versionTotals) versionTotals {
	d := versionTotals{requests: t.requests - base.requests, errors: t.errors - base.errors, buckets: make([]int64, len(t.buckets))}
	for i := range t.buckets {
		d.buckets[i] = t.buckets[i]
		if i < len(base.buckets) {
			d.buckets[i] -= base.buckets[i]
		}
	}
	return d
}

// p99 returns the upper bound of the bucket holding the 99th percentile,
// or -1 when it is past the last bound.
func (t versionTotals) p99() int64 {
	if t.requests <= 0 {
		return 0
	}
	rank := (t.requests*99 + 99) / 100
	var seen int64
	for i, n := range t.buckets {
		if seen += n; seen >= rank {
			if i < len(latency.BoundsMS) {
				return latency.BoundsMS[i]
			}
			return -1
		}
	}
	return -1
}

// telemetryServer implements TelemetryService.
type telemetryServer struct {
	registryv1.UnsafeTelemetryServiceServer
	s *Server
}

func (t *telemetryServer) Report(ctx context.Context, req *registryv1.ReportRequest) (*registryv1.ReportResponse, error) {
	if req.Report.GetWorkerId() == "" {
		return nil, statusInvalid("controlplane: a report needs a worker_id")
	}
	t.s.fleet.report(req.Report, time.Now())
	return &registryv1.ReportResponse{}, nil
}

func (t *telemetryServer) ListWorkers(ctx context.Context, _ *registryv1.ListWorkersRequest) (*registryv1.ListWorkersResponse, error) {
	return &registryv1.ListWorkersResponse{Workers: t.s.fleet.list(time.Now())}, nil
}
