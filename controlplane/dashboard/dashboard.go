package dashboard

import (
	"context"
	"embed"
	"encoding/json"
	"io/fs"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

//go:embed static
var static embed.FS

// trafficWindow is how far back the page's rates look; its charts show
// historySpan in samples historyStep apart.
const (
	trafficWindow = 10 * time.Second
	historySpan   = 10 * time.Minute
	historyStep   = 10 * time.Second
)

// maxWorkers bounds the workers the page lists.
const maxWorkers = 200

// API is what the dashboard reads, as the control plane's client offers it.
type API interface {
	Members(ctx context.Context) ([]*registryv1.Member, int64, error)
	Workers(ctx context.Context) ([]*registryv1.WorkerStatus, error)
	ListRoutes(ctx context.Context) ([]*registryv1.Route, int64, error)
	TrafficHistory(ctx context.Context, window, span, step time.Duration) ([]*registryv1.VersionTraffic, error)
	Rollouts(ctx context.Context) ([]*registryv1.Rollout, error)
	ListFlags(ctx context.Context) ([]*registryv1.Flag, int64, error)
}

var _ API = (*client.Client)(nil)

// New returns the dashboard's handler: the page at /, its data at
// /api/overview.
func New(api API, logger *slog.Logger) http.Handler {
	files, _ := fs.Sub(static, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(files))
	mux.HandleFunc("GET /api/overview", func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			http.Error(w, "dashboard: send a token with the reader role or above as Authorization: Bearer <token>", http.StatusUnauthorized)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
		ov, err := overview(ctx, api)
		if err != nil {
			code := httpStatus(err)
			if code >= 500 {
				logger.Warn("dashboard overview failed", "err", err)
			}
			http.Error(w, "dashboard: "+status.Convert(err).Message(), code)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(ov)
	})
	return secure(mux)
}

// CSP is the dashboard's Content-Security-Policy: its own scripts,
// styles and API, nothing inline, never framed.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// secure adds the headers that keep a browser from running, framing or
// sniffing anything the dashboard did not mean to serve.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		if r.TLS != nil {
			hd.Set("Strict-Transport-Security", "max-age=31536000")
		}
		h.ServeHTTP(w, r)
	})
}

func httpStatus(err error) int {
	switch status.Code(err) {
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unavailable, codes.DeadlineExceeded:
		return http.StatusServiceUnavailable
	default:
		return http.StatusBadGateway
	}
}

// Overview is everything the page shows.
type Overview struct {
	Time     time.Time `json:"time"`
	Revision int64     `json:"revision"`
	Members  []Member  `json:"members"`
	Workers  []Worker  `json:"workers"`
	// WorkersTotal counts every worker; Workers holds at most maxWorkers,
	// the most recently seen first.
	WorkersTotal int       `json:"workers_total"`
	Routes       []Route   `json:"routes"`
	Rollouts     []Rollout `json:"rollouts"`
	Flags        []Flag    `json:"flags"`
	// HistoryStepS is the seconds between a version's history samples.
	HistoryStepS int `json:"history_step_s"`
}

// Flag is a feature flag and the routes whose rules follow it.
type Flag struct {
	Name        string   `json:"name"`
	Enabled     bool     `json:"enabled"`
	Description string   `json:"description"`
	Routes      []string `json:"routes"`
}

// Member is a control plane node.
type Member struct {
	ID     string `json:"id"`
	Addr   string `json:"addr"`
	Leader bool   `json:"leader"`
	Voter  bool   `json:"voter"`
}

// Worker is a worker that reported recently.
type Worker struct {
	ID          string  `json:"id"`
	Version     string  `json:"version"`
	Revision    int64   `json:"revision"`
	UptimeS     float64 `json:"uptime_s"`
	Modules     int32   `json:"modules"`
	Instances   int32   `json:"instances"`
	MemoryBytes int64   `json:"memory_bytes"`
	LastSeenS   float64 `json:"last_seen_s"`
}

// Route is a route with its versions: the weighted split, then the
// modules its rules send matching requests to.
type Route struct {
	Route    string    `json:"route"`
	Versions []Version `json:"versions"`
	Rules    []Rule    `json:"rules"`
	Sticky   string    `json:"sticky"`
	// Options are the route's limits and switches, in words.
	Options []string `json:"options"`
}

// Rule sends requests that match it to a module, before the split.
type Rule struct {
	Match  string `json:"match"`
	Module string `json:"module"`
}

// Point is one step of a version's history.
type Point struct {
	T         int64   `json:"t"`
	RPS       float64 `json:"rps"`
	ErrorRate float64 `json:"error_rate"`
	P99Ms     int64   `json:"p99_ms"`
}

// Version is one module behind a route, with its share and live traffic.
type Version struct {
	Module     string  `json:"module"`
	Digest     string  `json:"digest"`
	Weight     uint32  `json:"weight"`
	RPS        float64 `json:"rps"`
	ErrorRate  float64 `json:"error_rate"`
	P99Ms      int64   `json:"p99_ms"`
	Traps      int64   `json:"traps"`
	Timeouts   int64   `json:"timeouts"`
	WorkerSeen int32   `json:"workers"`
	// Source says how requests reach it: "split", or "rule" for a rule's
	// target outside the split.
	Source string `json:"source"`
	// Role is "canary" or "baseline" while a rollout moves the route.
	Role    string  `json:"role"`
	History []Point `json:"history"`
}

// Rollout is a rollout, running or finished.
type Rollout struct {
	Route  string   `json:"route"`
	Module string   `json:"module"`
	Step   uint32   `json:"step"`
	Steps  []uint32 `json:"steps"`
	State  string   `json:"state"`
	Reason string   `json:"reason"`
}

func overview(ctx context.Context, api API) (*Overview, error) {
	now := time.Now()
	ov := &Overview{Time: now}
	members, _, err := api.Members(ctx)
	if err != nil {
		return nil, err
	}
	for _, m := range members {
		ov.Members = append(ov.Members, Member{ID: m.Id, Addr: m.GrpcAddr, Leader: m.Leader, Voter: m.Voter})
	}
	workers, err := api.Workers(ctx)
	if err != nil {
		return nil, err
	}
	for _, w := range workers {
		r := w.Report
		wk := Worker{ID: r.WorkerId, Version: r.Version, Revision: r.AppliedRevision, Modules: r.ModulesLoaded,
			UptimeS: now.Sub(r.Started.AsTime()).Seconds(), LastSeenS: now.Sub(w.LastSeen.AsTime()).Seconds()}
		for _, m := range r.Modules {
			wk.Instances += m.Instances
			wk.MemoryBytes += m.MemoryBytes
		}
		ov.Workers = append(ov.Workers, wk)
	}
	ov.WorkersTotal = len(ov.Workers)
	sort.SliceStable(ov.Workers, func(i, j int) bool { return ov.Workers[i].LastSeenS < ov.Workers[j].LastSeenS })
	ov.Workers = ov.Workers[:min(len(ov.Workers), maxWorkers)]
	routes, rev, err := api.ListRoutes(ctx)
	if err != nil {
		return nil, err
	}
	ov.Revision = rev
	traffic, err := api.TrafficHistory(ctx, trafficWindow, historySpan, historyStep)
	if err != nil {
		return nil, err
	}
	ov.HistoryStepS = int(historyStep / time.Second)
	live := make(map[string]*registryv1.VersionTraffic)
	for _, t := range traffic {
		live[t.Host+t.PathPrefix+"\x00"+t.ModuleDigest] = t
	}
	rollouts, err := api.Rollouts(ctx)
	if err != nil {
		return nil, err
	}
	canary := make(map[string]string) // route key -> digest of a rollout in flight
	for _, ro := range rollouts {
		if ro.State == registryv1.RolloutState_ROLLOUT_STATE_RUNNING || ro.State == registryv1.RolloutState_ROLLOUT_STATE_PAUSED {
			canary[ro.Host+"\x00"+ro.PathPrefix] = ro.ModuleDigest
		}
	}
	followers := make(map[string][]string) // flag -> routes
	for _, r := range routes {
		ov.Routes = append(ov.Routes, routeView(r, live, canary[r.Host+"\x00"+r.PathPrefix], followers))
	}
	flags, _, err := api.ListFlags(ctx)
	if err != nil {
		return nil, err
	}
	for _, f := range flags {
		ov.Flags = append(ov.Flags, Flag{Name: f.Name, Enabled: f.Enabled, Description: f.Description, Routes: followers[f.Name]})
	}
	for _, ro := range rollouts {
		ov.Rollouts = append(ov.Rollouts, Rollout{Route: ro.Host + ro.PathPrefix, Module: ro.ModuleName + "@" + ro.ModuleDigest,
			Step: ro.Step, Steps: ro.Steps, State: strings.TrimPrefix(ro.State.String(), "ROLLOUT_STATE_"), Reason: ro.Reason})
	}
	sort.SliceStable(ov.Rollouts, func(i, j int) bool { return ov.Rollouts[i].Route < ov.Rollouts[j].Route })
	return ov, nil
}

// routeView is a route as the page shows it; it notes in followers the
// flags its rules follow.
func routeView(r *registryv1.Route, live map[string]*registryv1.VersionTraffic, canary string, followers map[string][]string) Route {
	name := r.Host + r.PathPrefix
	if r.Host == "" {
		name = "*" + r.PathPrefix
	}
	rt := Route{Route: name, Sticky: r.StickyKey, Options: r.GetOptions().Describe()}
	version := func(module, digest string, weight uint32, source string) Version {
		v := Version{Module: module, Digest: digest, Weight: weight, Source: source}
		if canary != "" && source == "split" {
			v.Role = "baseline"
			if digest == canary {
				v.Role = "canary"
			}
		}
		if t := live[r.Host+r.PathPrefix+"\x00"+digest]; t != nil {
			v.RPS, v.ErrorRate, v.P99Ms = t.RequestsPerSecond, t.ErrorRate, t.P99Ms
			v.Traps, v.Timeouts, v.WorkerSeen = t.Traps, t.Timeouts, t.Workers
			for _, h := range t.History {
				v.History = append(v.History, Point{T: h.TimeUnix, RPS: h.RequestsPerSecond, ErrorRate: h.ErrorRate, P99Ms: h.P99Ms})
			}
		}
		return v
	}
	seen := make(map[string]bool)
	if len(r.Versions) == 0 {
		rt.Versions = append(rt.Versions, version(r.ModuleName, r.ModuleDigest, 100, "split"))
		seen[r.ModuleDigest] = true
	}
	for _, v := range r.Versions {
		rt.Versions = append(rt.Versions, version(v.ModuleName, v.ModuleDigest, v.Weight, "split"))
		seen[v.ModuleDigest] = true
	}
	for _, rl := range r.Rules {
		if rl.Kind == registryv1.MatchKind_MATCH_KIND_FLAG {
			followers[rl.Name] = append(followers[rl.Name], name)
		}
		match := rl.Match()
		rt.Rules = append(rt.Rules, Rule{Match: match, Module: rl.ModuleName + "@" + rl.ModuleDigest})
		if !seen[rl.ModuleDigest] {
			rt.Versions = append(rt.Versions, version(rl.ModuleName, rl.ModuleDigest, 0, "rule"))
			seen[rl.ModuleDigest] = true
		}
	}
	return rt
}
