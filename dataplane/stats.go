package dataplane

import (
	"errors"
	"sort"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
)

// routeStats counts what one route served since the worker started.
type routeStats struct {
	Requests  int64   `json:"requests"`
	Errors5xx int64   `json:"errors_5xx"`
	Traps     int64   `json:"traps"`
	Timeouts  int64   `json:"timeouts"`
	TotalMs   float64 `json:"total_ms"`
}

func (w *Worker) record(e *entry, status int, err error, d time.Duration) {
	key := routeKey(e.route.Host, e.route.PathPrefix)
	w.statsMu.Lock()
	defer w.statsMu.Unlock()
	s := w.stats[key]
	if s == nil {
		s = &routeStats{}
		w.stats[key] = s
	}
	s.Requests++
	s.TotalMs += float64(d) / float64(time.Millisecond)
	if status >= 500 {
		s.Errors5xx++
	}
	switch {
	case errors.Is(err, engine.ErrTrap):
		s.Traps++
	case errors.Is(err, engine.ErrDeadline):
		s.Timeouts++
	}
}

// Status is a snapshot of what a worker serves.
type Status struct {
	Revision int64         `json:"revision"`
	Synced   bool          `json:"synced"`
	Routes   []RouteStatus `json:"routes"`
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
