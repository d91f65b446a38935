package controlplane

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/digest"
	"github.com/nanoedge/nanoedge/sdk/latency"
)

// workerTTL is how long a worker that stopped reporting is still listed.
const workerTTL = 30 * time.Second

// Bounds of one report. A worker reports the route versions it served
// since it started; workers drop the ones no route uses any more.
const (
	maxReportVersions = 512
	maxReportModules  = 512
	maxReportBytes    = 128 << 10
	maxAddrLen        = 256
	maxVersionLen     = 64
)

// listPageBytes bounds one ListWorkers page.
const listPageBytes = 2 << 20

// reporter is a worker as the leader knows it: its identity is bound to
// the token it reports with.
type reporter struct {
	status  *registryv1.WorkerStatus
	tokenID string
}

// fleet holds the latest report of every worker. It lives on the leader,
// where workers' reports are forwarded; a new leader rebuilds it from the
// next round of reports.
type fleet struct {
	mu      sync.Mutex
	workers map[string]*reporter // by identity: "<token name>/<worker id>"
	traffic traffic
}

// report records r as the report of identity id, made with token tokenID.
// It refuses counters that went back within one incarnation of the worker,
// and a new worker past a token's or the fleet's bound.
func (f *fleet) report(id, tokenID string, r *registryv1.WorkerReport, now time.Time, perToken, total int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.workers == nil {
		f.workers = make(map[string]*reporter)
	}
	prev := f.workers[id]
	if prev == nil {
		n := 0
		for _, w := range f.workers {
			if w.tokenID == tokenID {
				n++
			}
		}
		if n >= perToken {
			return status.Errorf(codes.ResourceExhausted, "controlplane: token reports for %d workers already; the limit is %d (give workers tokens of their own)", n, perToken)
		}
		if len(f.workers) >= total {
			return status.Errorf(codes.ResourceExhausted, "controlplane: %d workers report already; the limit is %d", len(f.workers), total)
		}
	} else if proto.Equal(prev.status.Report.Started, r.Started) {
		if err := notBackwards(prev.status.Report, r); err != nil {
			return err
		}
	}
	f.workers[id] = &reporter{status: &registryv1.WorkerStatus{Report: r, LastSeen: timestamppb.New(now)}, tokenID: tokenID}
	f.traffic.observe(id, r, now)
	return nil
}

// notBackwards refuses a report whose cumulative counters are lower than
// the same incarnation reported before.
func notBackwards(prev, cur *registryv1.WorkerReport) error {
	old := make(map[versionKey]*registryv1.VersionStats, len(prev.Versions))
	for _, v := range prev.Versions {
		old[versionKey{v.Host, v.PathPrefix, v.ModuleDigest}] = v
	}
	for _, v := range cur.Versions {
		p := old[versionKey{v.Host, v.PathPrefix, v.ModuleDigest}]
		if p == nil {
			continue
		}
		if v.Requests < p.Requests || v.ServerErrors < p.ServerErrors || v.Traps < p.Traps || v.Timeouts < p.Timeouts ||
			v.OutboundCalls < p.OutboundCalls || v.OutboundFailures < p.OutboundFailures ||
			v.Successes < p.Successes || v.Redirects < p.Redirects || v.ClientErrors < p.ClientErrors {
			return statusInvalid(fmt.Sprintf("controlplane: report: counters of %s%s %s went back within one worker incarnation", v.Host, v.PathPrefix, v.ModuleDigest))
		}
		for i := range min(len(v.LatencyBuckets), len(p.LatencyBuckets)) {
			if v.LatencyBuckets[i] < p.LatencyBuckets[i] {
				return statusInvalid(fmt.Sprintf("controlplane: report: latency counts of %s%s %s went back within one worker incarnation", v.Host, v.PathPrefix, v.ModuleDigest))
			}
		}
	}
	return nil
}

// expire drops workers that stopped reporting and workers whose token is
// no longer valid.
func (f *fleet) expire(now time.Time, valid func(tokenID string) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, w := range f.workers {
		if now.Sub(w.status.LastSeen.AsTime()) > workerTTL || !valid(w.tokenID) {
			delete(f.workers, id)
			f.traffic.forget(id)
		}
	}
}

// list returns the workers after the identity after, in order, at most n
// and about maxBytes of them, and whether more follow.
func (f *fleet) list(after string, n, maxBytes int) (out []*registryv1.WorkerStatus, more bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.workers))
	for id := range f.workers {
		if id > after {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	size := 0
	for i, id := range ids {
		w := f.workers[id].status
		if len(out) == n || len(out) > 0 && size+proto.Size(w) > maxBytes {
			return out, i < len(ids)
		}
		out = append(out, w)
		size += proto.Size(w)
	}
	return out, false
}

// size is how many workers have reported to this node.
func (f *fleet) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.workers)
}

// versionTotals is a version's counters summed over some workers.
type versionTotals struct {
	requests, errors int64
	buckets          []int64
}

// totalsByToken sums a version's counters over the workers of each token
// in the fleet, with zero totals for tokens whose workers have not
// reported the version: they are part of the fleet the verdict must
// stand without any one token of. (A token that alone had reported the
// route, before the others' next report, once counted as a fleet of one,
// and a forger's numbers decided a rollout.)
func (f *fleet) totalsByToken(host, pathPrefix, digest string) map[string]versionTotals {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]versionTotals{}
	for _, w := range f.workers {
		// Every token in the fleet counts, with nothing if its workers
		// have not reported the route yet: a token alone on a route is
		// not a fleet of one.
		if _, ok := out[w.tokenID]; !ok {
			out[w.tokenID] = versionTotals{}
		}
		for _, v := range w.status.Report.Versions {
			if v.Host != host || v.PathPrefix != pathPrefix {
				continue
			}
			t := out[w.tokenID]
			if v.ModuleDigest == digest {
				t = t.plus(versionTotals{requests: v.Requests, errors: v.ServerErrors, buckets: v.LatencyBuckets})
			}
			out[w.tokenID] = t
		}
	}
	return out
}

func (t versionTotals) plus(o versionTotals) versionTotals {
	s := versionTotals{requests: t.requests + o.requests, errors: t.errors + o.errors, buckets: make([]int64, len(latency.BoundsMS)+1)}
	for i := range s.buckets {
		if i < len(t.buckets) {
			s.buckets[i] += t.buckets[i]
		}
		if i < len(o.buckets) {
			s.buckets[i] += o.buckets[i]
		}
	}
	return s
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
	r := req.GetReport()
	if err := validateReport(r); err != nil {
		t.s.metrics.telemetryRefused.WithLabelValues("invalid").Inc()
		return nil, statusInvalid("controlplane: report: " + err.Error())
	}
	// Only versions of stored modules on existing routes are kept: no
	// report can make the leader hold traffic of made-up routes.
	r = proto.Clone(r).(*registryv1.WorkerReport)
	kept := r.Versions[:0]
	for _, v := range r.Versions {
		if _, err := t.s.rollouts.Route(v.Host, v.PathPrefix); err == nil && t.s.rollouts.HasModule(v.ModuleDigest) {
			kept = append(kept, v)
		}
	}
	if dropped := len(r.Versions) - len(kept); dropped > 0 {
		t.s.metrics.telemetryRefused.WithLabelValues("unknown_version").Add(float64(dropped))
	}
	r.Versions = kept
	c := callerFrom(ctx)
	r.WorkerId = c.name + "/" + r.WorkerId
	if err := t.s.fleet.report(r.WorkerId, c.id, r, time.Now(), t.s.cfg.MaxWorkersPerToken, t.s.cfg.MaxWorkers); err != nil {
		t.s.metrics.telemetryRefused.WithLabelValues(strings.ToLower(status.Code(err).String())).Inc()
		return nil, err
	}
	return &registryv1.ReportResponse{}, nil
}

// validateReport checks a report's sizes and that its counters are
// non-negative and add up.
func validateReport(r *registryv1.WorkerReport) error {
	switch {
	case r == nil:
		return fmt.Errorf("no report")
	case r.WorkerId == "":
		return fmt.Errorf("a report needs a worker_id")
	case proto.Size(r) > maxReportBytes:
		return fmt.Errorf("%d bytes; the limit is %d", proto.Size(r), maxReportBytes)
	case len(r.Versions) > maxReportVersions:
		return fmt.Errorf("%d versions; the limit is %d", len(r.Versions), maxReportVersions)
	case len(r.Modules) > maxReportModules:
		return fmt.Errorf("%d modules; the limit is %d", len(r.Modules), maxReportModules)
	case len(r.HttpAddr) > maxAddrLen || len(r.Version) > maxVersionLen:
		return fmt.Errorf("http_addr or version too long")
	case r.AppliedRevision < 0 || r.ModulesLoaded < 0:
		return fmt.Errorf("negative applied_revision or modules_loaded")
	}
	if err := registry.LimitWorkerReported.Check(r.WorkerId); err != nil {
		return err
	}
	for _, v := range r.Versions {
		if err := registry.LimitHost.Check(v.Host); err != nil {
			return err
		}
		if err := registry.LimitPathPrefix.Check(v.PathPrefix); err != nil {
			return err
		}
		name := v.Host + v.PathPrefix + " " + v.ModuleDigest
		if !digest.Valid(v.ModuleDigest) {
			return fmt.Errorf("module_digest %.80q is not a digest", v.ModuleDigest)
		}
		if v.Requests < 0 || v.ServerErrors < 0 || v.Traps < 0 || v.Timeouts < 0 || v.Successes < 0 || v.Redirects < 0 || v.ClientErrors < 0 ||
			v.OutboundCalls < 0 || v.OutboundFailures < 0 {
			return fmt.Errorf("%s: negative counter", name)
		}
		if v.OutboundFailures > v.OutboundCalls {
			return fmt.Errorf("%s: outbound failures outnumber the outbound calls", name)
		}
		if v.Successes+v.Redirects+v.ClientErrors+v.ServerErrors > v.Requests || v.Traps+v.Timeouts > v.Requests {
			return fmt.Errorf("%s: responses by class or failures outnumber the requests", name)
		}
		if len(v.LatencyBuckets) != len(latency.BoundsMS)+1 {
			return fmt.Errorf("%s: %d latency buckets, want %d", name, len(v.LatencyBuckets), len(latency.BoundsMS)+1)
		}
		var n int64
		for _, b := range v.LatencyBuckets {
			if b < 0 {
				return fmt.Errorf("%s: negative latency count", name)
			}
			n += b
		}
		if n != v.Requests {
			return fmt.Errorf("%s: latency counts add up to %d, not the %d requests", name, n, v.Requests)
		}
	}
	for _, m := range r.Modules {
		if len(m.ModuleName) > registry.LimitName.Max || len(m.ModuleDigest) > 71 || m.Instances < 0 || m.IdleInstances < 0 || m.MemoryBytes < 0 {
			return fmt.Errorf("module usage of %.80q is malformed", m.ModuleDigest)
		}
	}
	return nil
}

func (t *telemetryServer) ListWorkers(ctx context.Context, req *registryv1.ListWorkersRequest) (*registryv1.ListWorkersResponse, error) {
	t.s.expireWorkers()
	n := int(req.PageSize)
	if n <= 0 || n > 1000 {
		n = 1000
	}
	ws, more := t.s.fleet.list(req.PageToken, n, listPageBytes)
	resp := &registryv1.ListWorkersResponse{Workers: ws}
	if more {
		resp.NextPageToken = ws[len(ws)-1].Report.WorkerId
	}
	return resp, nil
}

// expireWorkers forgets workers that stopped reporting or whose token was
// revoked.
func (s *Server) expireWorkers() {
	s.fleet.expire(time.Now(), s.tokenValid)
}

// tokenValid reports whether a reporting token still exists (always, when
// calls are not authenticated).
func (s *Server) tokenValid(id string) bool {
	if id == "" {
		return !s.cfg.Auth
	}
	_, err := s.access.Token(id)
	return err == nil
}
