package controlplane

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/latency"
)

// minSamples is how many requests to the new version a step needs before
// its error rate and latency are judged.
const minSamples = 20

func (t *telemetryServer) StartRollout(ctx context.Context, req *registryv1.StartRolloutRequest) (*registryv1.StartRolloutResponse, error) {
	if err := validateSteps(req); err != nil {
		return nil, err
	}
	st := t.s.rollouts
	if rev, ok := st.AppliedRequest(ctx); ok { // a retry: what the first try started
		ro, err := st.Rollout(req.Host, req.PathPrefix)
		return &registryv1.StartRolloutResponse{Rollout: ro, Revision: rev}, toStatus(err)
	}
	route, err := st.Route(req.Host, req.PathPrefix)
	if err != nil {
		return nil, toStatus(err)
	}
	m, err := st.ResolveModule(req.Module)
	if err != nil {
		return nil, toStatus(err)
	}
	if m.Digest == route.ModuleDigest && len(route.Versions) == 0 {
		return nil, status.Errorf(codes.FailedPrecondition, "controlplane: %s%s already serves %s", route.Host, route.PathPrefix, m.Digest)
	}
	if cur, err := st.Rollout(route.Host, route.PathPrefix); err == nil && inFlight(cur) {
		return nil, status.Errorf(codes.FailedPrecondition, "controlplane: a rollout of %s%s is %s; abort it first", route.Host, route.PathPrefix, cur.State)
	}
	baseline, first, err := baselineOf(route, m, req.Steps)
	if err != nil {
		return nil, err
	}
	ro := &registryv1.Rollout{
		Host: route.Host, PathPrefix: route.PathPrefix, Baseline: baseline, Step: first, Before: route,
		ModuleName: m.Name, ModuleDigest: m.Digest,
		Steps: req.Steps, IntervalMs: req.IntervalMs, MaxErrorRate: req.MaxErrorRate, MaxP99Ms: req.MaxP99Ms,
		State: registryv1.RolloutState_ROLLOUT_STATE_RUNNING, StepStarted: timestamppb.Now(),
	}
	r := stepRoute(route, ro)
	r.Previous = withoutPrevious(route) // what 'route rollback' returns to, from now on
	rev, err := st.PutRollout(ctx, ro, r)
	if err != nil {
		return nil, toStatus(err)
	}
	ro.ModRevision = rev
	t.s.cfg.Logger.InfoContext(ctx, "rollout started", "route", ro.Host+ro.PathPrefix, "module", m.Name+"@"+m.Digest, "steps", ro.Steps)
	return &registryv1.StartRolloutResponse{Rollout: ro, Revision: rev}, nil
}

func validateSteps(req *registryv1.StartRolloutRequest) error {
	prev := uint32(0)
	for _, s := range req.Steps {
		if s <= prev || s > 100 {
			return status.Errorf(codes.InvalidArgument, "controlplane: steps %v must increase, each in 1..100", req.Steps)
		}
		prev = s
	}
	switch {
	case prev != 100:
		return status.Errorf(codes.InvalidArgument, "controlplane: steps %v must end at 100", req.Steps)
	case req.IntervalMs < 100:
		return status.Errorf(codes.InvalidArgument, "controlplane: interval %d ms is under 100 ms", req.IntervalMs)
	case req.MaxErrorRate < 0 || req.MaxErrorRate > 1:
		return status.Errorf(codes.InvalidArgument, "controlplane: max error rate %v must be within 0..1", req.MaxErrorRate)
	case req.MaxP99Ms < 0:
		return status.Error(codes.InvalidArgument, "controlplane: max p99 must not be negative")
	}
	return nil
}

func (t *telemetryServer) ListRollouts(ctx context.Context, _ *registryv1.ListRolloutsRequest) (*registryv1.ListRolloutsResponse, error) {
	ros, err := t.s.rollouts.ListRollouts()
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.ListRolloutsResponse{Rollouts: ros}, nil
}

func (t *telemetryServer) AbortRollout(ctx context.Context, req *registryv1.AbortRolloutRequest) (*registryv1.AbortRolloutResponse, error) {
	ro, err := t.s.rollouts.Rollout(req.Host, req.PathPrefix)
	if err != nil {
		return nil, toStatus(err)
	}
	if _, ok := t.s.rollouts.AppliedRequest(ctx); ok {
		return &registryv1.AbortRolloutResponse{Rollout: ro}, nil // a retry of an abort that applied
	}
	if !inFlight(ro) {
		return nil, status.Errorf(codes.FailedPrecondition, "controlplane: the rollout of %s%s is %s", ro.Host, ro.PathPrefix, ro.State)
	}
	ro, err = t.s.endRollout(ctx, ro, registryv1.RolloutState_ROLLOUT_STATE_ABORTED, "aborted by "+registry.ActorFrom(ctx))
	if err != nil {
		return nil, err
	}
	return &registryv1.AbortRolloutResponse{Rollout: ro}, nil
}

// baselineOf is what a rollout of canary on route moves traffic from:
// the route's module, or its whole split. A split that already gives the
// canary a share starts at the first step above it.
func baselineOf(route *registryv1.Route, canary *registryv1.Module, steps []uint32) ([]*registryv1.RouteVersion, uint32, error) {
	if len(route.Versions) == 0 {
		return []*registryv1.RouteVersion{{ModuleName: route.ModuleName, ModuleDigest: route.ModuleDigest, Weight: 100}}, 0, nil
	}
	var baseline []*registryv1.RouteVersion
	var share uint32
	for _, v := range route.Versions {
		if v.ModuleDigest == canary.Digest {
			share += v.Weight
			continue
		}
		baseline = append(baseline, proto.Clone(v).(*registryv1.RouteVersion))
	}
	for i, s := range steps {
		if s > share {
			return baseline, uint32(i), nil
		}
	}
	return nil, 0, status.Errorf(codes.FailedPrecondition, "controlplane: %s%s already gives %s %d%%, no less than every step", route.Host, route.PathPrefix, canary.Name, share)
}

// stepRoute is the route as a rollout's current step shapes it: the new
// module at the step's share, the baseline's versions sharing the rest in
// their proportions. Everything else (rules, options) stays as it is.
func stepRoute(cur *registryv1.Route, ro *registryv1.Rollout) *registryv1.Route {
	r := proto.Clone(cur).(*registryv1.Route)
	share := ro.Steps[ro.Step]
	if share == 100 {
		r.ModuleName, r.ModuleDigest, r.Versions = ro.ModuleName, ro.ModuleDigest, nil
		return r
	}
	r.Versions = append([]*registryv1.RouteVersion{{ModuleName: ro.ModuleName, ModuleDigest: ro.ModuleDigest, Weight: share}},
		spread(ro.Baseline, 100-share)...)
	top := r.Versions[0]
	for _, v := range r.Versions {
		if v.Weight > top.Weight {
			top = v
		}
	}
	r.ModuleName, r.ModuleDigest = top.ModuleName, top.ModuleDigest
	return r
}

// spread shares total among versions in the proportions of their
// weights (largest remainders first); versions left with nothing drop.
func spread(versions []*registryv1.RouteVersion, total uint32) []*registryv1.RouteVersion {
	var sum uint32
	for _, v := range versions {
		sum += v.Weight
	}
	if sum == 0 {
		return nil
	}
	type part struct {
		v    *registryv1.RouteVersion
		rest uint32
	}
	parts := make([]part, len(versions))
	given := uint32(0)
	for i, v := range versions {
		w := total * v.Weight / sum
		parts[i] = part{&registryv1.RouteVersion{ModuleName: v.ModuleName, ModuleDigest: v.ModuleDigest, Weight: w}, total * v.Weight % sum}
		given += w
	}
	order := make([]int, len(parts))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return parts[order[a]].rest > parts[order[b]].rest })
	for i := 0; given < total; i++ {
		parts[order[i%len(order)]].v.Weight++
		given++
	}
	var out []*registryv1.RouteVersion
	for _, p := range parts {
		if p.v.Weight > 0 {
			out = append(out, p.v)
		}
	}
	return out
}

func withoutPrevious(r *registryv1.Route) *registryv1.Route {
	c := proto.Clone(r).(*registryv1.Route)
	c.Previous = nil
	return c
}

// endRollout restores the route's split from before the rollout (unless
// the rollout succeeded) and records the final state, in one write. The
// restored route's previous version is the one it had before the
// rollout: 'route rollback' then undoes the change before the rollout,
// not the rollout's last step.
func (s *Server) endRollout(ctx context.Context, ro *registryv1.Rollout, state registryv1.RolloutState, reason string) (*registryv1.Rollout, error) {
	cur, err := s.rollouts.Route(ro.Host, ro.PathPrefix)
	if err != nil {
		return nil, toStatus(err)
	}
	ro = proto.Clone(ro).(*registryv1.Rollout)
	ro.State, ro.Reason = state, reason
	r := proto.Clone(cur).(*registryv1.Route)
	if b := ro.Before; b != nil {
		r.ModuleName, r.ModuleDigest, r.Versions, r.Previous = b.ModuleName, b.ModuleDigest, b.Versions, b.Previous
	} else { // a rollout stored before routes kept their state from before it
		base := ro.Baseline[0]
		r.ModuleName, r.ModuleDigest, r.Versions = base.ModuleName, base.ModuleDigest, nil
	}
	if _, err := s.rollouts.PutRollout(ctx, ro, r); err != nil {
		return nil, toStatus(err)
	}
	s.cfg.Logger.WarnContext(ctx, "rollout ended", "route", ro.Host+ro.PathPrefix, "state", state, "reason", reason)
	return ro, nil
}

// RunRollouts drives running rollouts while this node leads, until ctx
// ends: each tick it judges the new version's traffic in the current step
// and rolls back, advances or waits.
func (s *Server) RunRollouts(ctx context.Context, tick time.Duration) {
	c := &controller{s: s, base: map[string]map[string]versionTotals{}}
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.rollouts.IsLeader() {
				c.tick(ctx)
			}
		}
	}
}

type controller struct {
	s    *Server
	mu   sync.Mutex
	base map[string]map[string]versionTotals // by rollout step: the new version's counters by token when the step began
	// held remembers why a step is held, to log it once.
	held map[string]string
}

func (c *controller) tick(ctx context.Context) {
	c.s.expireWorkers()
	// Judge the leader's current state: a new leader may not have applied
	// its predecessor's last steps yet.
	if err := c.s.cluster.LinearizableRead(ctx); err != nil {
		return
	}
	ros, err := c.s.rollouts.ListRollouts()
	if err != nil {
		return
	}
	for _, ro := range ros {
		if ro.State == registryv1.RolloutState_ROLLOUT_STATE_RUNNING {
			if err := c.judge(ctx, ro); err != nil {
				c.s.cfg.Logger.Warn("rollout step failed; retrying", "route", ro.Host+ro.PathPrefix, "err", err)
			}
		}
	}
}

// verdict is what one set of counters says of a step.
type verdict int

const (
	undecided verdict = iota // too few requests
	healthy
	failing
)

// judgeTotals judges counters against a rollout's thresholds; reason
// says why a failing step fails.
func judgeTotals(ro *registryv1.Rollout, d versionTotals) (verdict, string) {
	if d.requests < minSamples {
		return undecided, ""
	}
	if rate := float64(d.errors) / float64(d.requests); rate > ro.MaxErrorRate {
		return failing, fmt.Sprintf("error rate %.1f%% over %d requests passed %.1f%%", 100*rate, d.requests, 100*ro.MaxErrorRate)
	}
	if p99 := d.p99(); ro.MaxP99Ms > 0 && (p99 < 0 || p99 > ro.MaxP99Ms) {
		return failing, fmt.Sprintf("p99 over %d ms passed %d ms", max(p99, latency.BoundsMS[len(latency.BoundsMS)-1]), ro.MaxP99Ms)
	}
	return healthy, ""
}

// decide judges a step on the fleet's counters of the new version, by
// the token each worker reports with. A step with fewer than minSamples
// requests over the fleet has nothing to judge and advances on its
// interval. The verdict over all requests
// decides only if it stands with any one token's reports left out: one
// token's numbers, forged or an outlier, can hold a step (until an
// operator revokes the token or the others gather enough requests to
// outweigh it), never roll it back or advance it alone. A fleet with a
// single token trusts it.
func decide(ro *registryv1.Rollout, byToken map[string]versionTotals) (v verdict, reason, held string) {
	var all versionTotals
	for _, t := range byToken {
		all = all.plus(t)
	}
	v, reason = judgeTotals(ro, all)
	if v == undecided || len(byToken) < 2 {
		return v, reason, ""
	}
	for tok, t := range byToken {
		rest := all.minus(t)
		if rv, _ := judgeTotals(ro, rest); rv != v {
			return undecided, "", fmt.Sprintf("the fleet's %d requests say %s, but without token %s's %d they say %s", all.requests, v, tokenLabel(tok), t.requests, rv)
		}
	}
	return v, reason, ""
}

func (v verdict) String() string {
	return [...]string{"too few requests", "healthy", "failing"}[v]
}

func tokenLabel(id string) string {
	if id == "" {
		return "(anonymous)"
	}
	return id
}

func (c *controller) judge(ctx context.Context, ro *registryv1.Rollout) error {
	key := fmt.Sprintf("%s\x00%s\x00%d\x00%d", ro.Host, ro.PathPrefix, ro.ModRevision, ro.Step)
	now := c.s.fleet.totalsByToken(ro.Host, ro.PathPrefix, ro.ModuleDigest)
	c.mu.Lock()
	base, ok := c.base[key]
	if !ok && c.s.fleet.size() > 0 {
		// First look at this step, or a new leader's first look once
		// workers report to it: counters from here on are the step's.
		c.base[key], base, ok = now, now, true
	}
	c.mu.Unlock()
	if !ok {
		return nil
	}
	step := make(map[string]versionTotals, len(now))
	for tok, t := range now {
		step[tok] = t.minus(base[tok])
	}
	v, reason, held := decide(ro, step)
	c.noteHeld(key, ro, held)
	if held != "" {
		c.s.metrics.rolloutDecisions.WithLabelValues("held").Inc()
	}
	switch {
	case v == failing:
		c.s.metrics.rolloutDecisions.WithLabelValues("rolled_back").Inc()
		_, err := c.s.endRollout(ctx, ro, registryv1.RolloutState_ROLLOUT_STATE_ROLLED_BACK, fmt.Sprintf("%s at %d%%", reason, ro.Steps[ro.Step]))
		return err
	case held != "":
		return nil // disputed: one token's reports carry the verdict
	case time.Since(ro.StepStarted.AsTime()) < time.Duration(ro.IntervalMs)*time.Millisecond:
		return nil
	}
	cur, err := c.s.rollouts.Route(ro.Host, ro.PathPrefix)
	if err != nil {
		return err
	}
	next := proto.Clone(ro).(*registryv1.Rollout)
	next.StepStarted = timestamppb.Now()
	if int(ro.Step) == len(ro.Steps)-1 {
		// The last step already routes everything to the new module.
		next.State, next.Reason = registryv1.RolloutState_ROLLOUT_STATE_SUCCEEDED, "all steps passed"
		_, err = c.s.rollouts.PutRollout(ctx, next, nil)
		if err == nil {
			c.s.metrics.rolloutDecisions.WithLabelValues("succeeded").Inc()
		}
		return err
	}
	c.s.metrics.rolloutDecisions.WithLabelValues("advanced").Inc()
	next.Step++
	_, err = c.s.rollouts.PutRollout(ctx, next, stepRoute(cur, next))
	return err
}

// noteHeld logs once why a step is held.
func (c *controller) noteHeld(key string, ro *registryv1.Rollout, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if why == "" || c.held[key] == why {
		return
	}
	if c.held == nil {
		c.held = map[string]string{}
	}
	c.held[key] = why
	c.s.cfg.Logger.Warn("rollout step held: its verdict rests on one token's reports", "route", ro.Host+ro.PathPrefix, "step", ro.Steps[ro.Step], "why", why)
}

func (t *telemetryServer) PauseRollout(ctx context.Context, req *registryv1.PauseRolloutRequest) (*registryv1.PauseRolloutResponse, error) {
	ro, err := t.s.setRolloutState(ctx, req.Host, req.PathPrefix, registryv1.RolloutState_ROLLOUT_STATE_RUNNING, registryv1.RolloutState_ROLLOUT_STATE_PAUSED)
	return &registryv1.PauseRolloutResponse{Rollout: ro}, err
}

func (t *telemetryServer) ResumeRollout(ctx context.Context, req *registryv1.ResumeRolloutRequest) (*registryv1.ResumeRolloutResponse, error) {
	ro, err := t.s.setRolloutState(ctx, req.Host, req.PathPrefix, registryv1.RolloutState_ROLLOUT_STATE_PAUSED, registryv1.RolloutState_ROLLOUT_STATE_RUNNING)
	return &registryv1.ResumeRolloutResponse{Rollout: ro}, err
}

// setRolloutState moves a rollout from one state to another; a resumed
// step starts its interval over.
func (s *Server) setRolloutState(ctx context.Context, host, pathPrefix string, from, to registryv1.RolloutState) (*registryv1.Rollout, error) {
	ro, err := s.rollouts.Rollout(host, pathPrefix)
	if err != nil {
		return nil, toStatus(err)
	}
	if _, ok := s.rollouts.AppliedRequest(ctx); ok {
		return ro, nil // a retry of a change that applied
	}
	if ro.State != from {
		return nil, status.Errorf(codes.FailedPrecondition, "controlplane: the rollout of %s%s is %s, not %s", ro.Host, ro.PathPrefix, ro.State, from)
	}
	ro.State, ro.StepStarted = to, timestamppb.Now()
	rev, err := s.rollouts.PutRollout(ctx, ro, nil)
	if err != nil {
		return nil, toStatus(err)
	}
	ro.ModRevision = rev
	return ro, nil
}

// inFlight reports whether a rollout still owns its route.
func inFlight(ro *registryv1.Rollout) bool {
	return ro.State == registryv1.RolloutState_ROLLOUT_STATE_RUNNING || ro.State == registryv1.RolloutState_ROLLOUT_STATE_PAUSED
}
