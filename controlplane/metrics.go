package controlplane

import (
	"errors"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ready reports whether this node can serve the API: it knows a leader.
func (s *Server) Ready() error {
	if id, _ := s.cluster.Leader(); id == "" {
		return errors.New("controlplane: no leader known")
	}
	return nil
}

// MetricsHandler serves the node's metrics in the Prometheus format: its
// registry revision, whether it leads, and the fleet it hears from.
func (s *Server) MetricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	b2f := func(b bool) float64 {
		if b {
			return 1
		}
		return 0
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nanoedge_registry_revision", Help: "Newest revision this node has applied.",
		}, func() float64 { return float64(s.cluster.Revision()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nanoedge_raft_leader", Help: "1 if this node is the Raft leader.",
		}, func() float64 { return b2f(s.cluster.IsLeader()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "nanoedge_fleet_workers", Help: "Workers that reported to this node recently (the leader hears from all).",
		}, func() float64 { return float64(s.fleet.size()) }),
		s.telemetryRefused,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}
