package controlplane

import (
	"errors"
	"net/http"
	"strings"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// Ready reports whether this node can serve the API: it knows a leader
// and has heard from it recently (or leads).
func (s *Server) Ready() error {
	if id, _ := s.cluster.Leader(); id == "" {
		return errors.New("controlplane: no leader known")
	}
	if !s.cluster.InTouch(s.cfg.OutOfTouch) {
		return errors.New("controlplane: no word from the leader for " + s.cfg.OutOfTouch.String())
	}
	return nil
}

// serverMetrics are the node's own series, on a registry of its own so
// several nodes can live in one process.
type serverMetrics struct {
	reg              *prometheus.Registry
	grpc             *grpcprom.ServerMetrics
	telemetryRefused *prometheus.CounterVec
	uploadBytes      prometheus.Counter
	uploadSeconds    prometheus.Histogram
	uploadsRefused   *prometheus.CounterVec
	watches          prometheus.Gauge
	rolloutDecisions *prometheus.CounterVec
}

func newServerMetrics(s *Server) *serverMetrics {
	m := &serverMetrics{
		reg: prometheus.NewRegistry(),
		grpc: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
			grpcprom.WithHistogramBuckets([]float64{.001, .005, .01, .05, .1, .5, 1, 5, 10}))),
		telemetryRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nanoedge_telemetry_refused_total", Help: "Worker reports refused, and versions dropped from reports, by reason.",
		}, []string{"reason"}),
		uploadBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nanoedge_upload_bytes_total", Help: "Module bytes received by uploads this node ran.",
		}),
		uploadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nanoedge_upload_duration_seconds", Help: "Time from an upload's first message to its answer, on the node that ran it.",
			Buckets: []float64{.1, .5, 1, 2, 5, 10, 30, 60},
		}),
		uploadsRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nanoedge_uploads_refused_total", Help: "Uploads refused, by gRPC code.",
		}, []string{"code"}),
		watches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nanoedge_watch_streams", Help: "Watch streams this node serves now.",
		}),
		rolloutDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nanoedge_rollout_decisions_total", Help: "Rollout steps judged by this node as leader: advanced, succeeded, rolled_back, held.",
		}, []string{"decision"}),
	}
	m.reg.MustRegister(m.grpc, m.telemetryRefused, m.uploadBytes, m.uploadSeconds, m.uploadsRefused, m.watches, m.rolloutDecisions,
		storeCollector{s}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RegisterCollector adds c to the node's metrics.
func (s *Server) RegisterCollector(c prometheus.Collector) error { return s.metrics.reg.Register(c) }

// MetricsHandler serves the node's metrics in the Prometheus format: gRPC
// calls, Raft, the registry's state, uploads, watches, rollouts and the
// fleet.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{})
}

var (
	descRevision    = prometheus.NewDesc("nanoedge_registry_revision", "Newest revision this node has applied.", nil, nil)
	descObjects     = prometheus.NewDesc("nanoedge_registry_objects", "Objects the registry holds, by kind.", []string{"kind"}, nil)
	descDBBytes     = prometheus.NewDesc("nanoedge_registry_db_bytes", "Size of the state database file.", nil, nil)
	descLeader      = prometheus.NewDesc("nanoedge_raft_leader", "1 if this node is the Raft leader.", nil, nil)
	descTerm        = prometheus.NewDesc("nanoedge_raft_term", "Raft term this node is in.", nil, nil)
	descCommit      = prometheus.NewDesc("nanoedge_raft_commit_index", "Highest log index this node knows is committed.", nil, nil)
	descApplied     = prometheus.NewDesc("nanoedge_raft_applied_index", "Highest log index this node has applied.", nil, nil)
	descLogEntries  = prometheus.NewDesc("nanoedge_raft_log_entries", "Entries the Raft log holds (the rest are in snapshots).", nil, nil)
	descContact     = prometheus.NewDesc("nanoedge_raft_last_contact_seconds", "Seconds since this follower last heard from its leader (0 on the leader).", nil, nil)
	descSnapshots   = prometheus.NewDesc("nanoedge_raft_snapshots", "Raft snapshots kept.", nil, nil)
	descSnapBytes   = prometheus.NewDesc("nanoedge_raft_snapshot_bytes", "Size of the newest Raft snapshot.", nil, nil)
	descWorkers     = prometheus.NewDesc("nanoedge_fleet_workers", "Workers that reported to this node recently (the leader hears from all).", nil, nil)
	descRolloutStep = prometheus.NewDesc("nanoedge_rollout_step_percent", "Traffic share of a running or paused rollout's new version.", []string{"route", "module"}, nil)
	descRolloutSt   = prometheus.NewDesc("nanoedge_rollout_state", "1 for the state each rollout is in.", []string{"route", "module", "state"}, nil)
)

// storeCollector reads Raft and registry figures at each scrape.
type storeCollector struct{ s *Server }

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRevision, descObjects, descDBBytes, descLeader, descTerm, descCommit, descApplied,
		descLogEntries, descContact, descSnapshots, descSnapBytes, descWorkers, descRolloutStep, descRolloutSt} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.cluster.Stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(descRevision, float64(st.Revision))
	for kind, n := range st.Objects {
		gauge(descObjects, float64(n), kind)
	}
	gauge(descDBBytes, float64(st.DBBytes))
	leader := 0.0
	if st.Leader {
		leader = 1
	}
	gauge(descLeader, leader)
	gauge(descTerm, float64(st.Term))
	gauge(descCommit, float64(st.CommitIndex))
	gauge(descApplied, float64(st.AppliedIndex))
	if st.LastLogIndex >= st.FirstLogIndex && st.FirstLogIndex > 0 {
		gauge(descLogEntries, float64(st.LastLogIndex-st.FirstLogIndex+1))
	} else {
		gauge(descLogEntries, 0)
	}
	contact := 0.0
	if !st.LastContact.IsZero() {
		contact = time.Since(st.LastContact).Seconds()
	}
	gauge(descContact, contact)
	gauge(descSnapshots, float64(st.Snapshots))
	gauge(descSnapBytes, float64(st.SnapshotSize))
	gauge(descWorkers, float64(c.s.fleet.size()))
	if ros, err := c.s.rollouts.ListRollouts(); err == nil {
		for _, ro := range ros {
			route, module := ro.Host+ro.PathPrefix, ro.ModuleName+"@"+shortDigest(ro.ModuleDigest)
			state := strings.ToLower(strings.TrimPrefix(ro.State.String(), "ROLLOUT_STATE_"))
			gauge(descRolloutSt, 1, route, module, state)
			if inFlight(ro) {
				gauge(descRolloutStep, float64(ro.Steps[ro.Step]), route, module)
			}
		}
	}
}

func shortDigest(d string) string {
	if n := len("sha256:") + 12; len(d) > n {
		return d[:n]
	}
	return d
}

// watchHealth keeps gRPC health true: SERVING while the node knows a
// leader it hears from, NOT_SERVING otherwise, until stop is closed.
func (s *Server) watchHealth(hs *health.Server, stop <-chan struct{}) {
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	last := healthpb.HealthCheckResponse_UNKNOWN
	for {
		want := healthpb.HealthCheckResponse_SERVING
		if s.Ready() != nil {
			want = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if want != last {
			hs.SetServingStatus("", want)
			hs.SetServingStatus(registryv1.RegistryService_ServiceDesc.ServiceName, want)
			last = want
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}
