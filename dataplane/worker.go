package dataplane

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/history"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// retryUnboundAfter is how long a route whose module could not be loaded
// first waits before the next try.
const retryUnboundAfter = 2 * time.Second

// ErrUntrusted: a module's signature does not verify with a known publisher
// key; the worker refuses to compile it.
var ErrUntrusted = errors.New("dataplane: module not trusted")

// Registry is what a worker needs from the control plane.
type Registry interface {
	ListRoutes(ctx context.Context) ([]*registryv1.Route, int64, error)
	// ListFlags returns the feature flags route rules follow.
	ListFlags(ctx context.Context) ([]*registryv1.Flag, int64, error)
	// Watch streams the events from revision start on, in order, until
	// ctx ends; its last response's Err, if the watch fails, matches
	// history.ErrCompacted when that history is gone.
	Watch(ctx context.Context, start int64) <-chan client.WatchResponse
	// FetchModule returns a module's bytes, verified against its digest.
	FetchModule(ctx context.Context, digest string) (*registryv1.Module, []byte, error)
	// ListKeys returns the publisher keys modules are verified with, and
	// the revision the list reflects.
	ListKeys(ctx context.Context) ([]*registryv1.PublisherKey, int64, error)
	// ListConfigs returns every module name's configuration, secret
	// values included (the worker's token receives them).
	ListConfigs(ctx context.Context) ([]*registryv1.Config, int64, error)
	// ListStores describes every edge data store; ReadStore reads one
	// in pages, returning the oldest revision a page reflected.
	ListStores(ctx context.Context) ([]*registryv1.KVStore, int64, error)
	ReadStore(ctx context.Context, store string, fn func([]*registryv1.KVEntry) error) (int64, error)
	// Report sends the worker's telemetry.
	Report(ctx context.Context, r *registryv1.WorkerReport) error
}

// Worker serves HTTP through the modules the registry routes to.
type Worker struct {
	cfg Config
	reg Registry
	eng engine.Engine

	table    atomic.Pointer[table]
	revision atomic.Int64 // the registry revision the table reflects
	synced   atomic.Bool  // the first full list has been applied
	// syncErr is why the worker last failed to follow the registry, and
	// since when; nil while it follows.
	syncErr atomic.Pointer[syncFailure]

	requestSeq atomic.Uint64

	// egress makes handlers' outbound calls; cpu holds a token per request
	// running guest code (Config.Concurrency).
	egress *egress
	cpu    chan struct{}
	waitFn func(func()) // w.wait, made once
	// keyOf maps a fetched module's digest to the key that signed it.
	keyOf sync.Map
	// moduleMeta maps digests to the metadata of modules fetched (or read
	// from the state directory); lastKeys are the keys last verified with.
	moduleMeta sync.Map
	lastKeys   atomic.Pointer[[]*registryv1.PublisherKey]
	// savedSince is when the state the worker serves was saved, while it
	// serves one read from disk and the registry has not answered yet.
	savedSince atomic.Pointer[time.Time]

	// Touched only by the sync goroutine.
	routes     map[string]*registryv1.Route
	unbound    int             // routes whose modules could not be loaded
	needList   bool            // the state came from disk: list at first contact
	dirty      bool            // applied since the state was last saved
	retryDelay time.Duration   // before they are tried again
	flags      map[string]bool // feature flag -> enabled
	// configs are module names' configurations, secret values included;
	// only ever in memory.
	configs map[string]*registryv1.Config
	// kv is the replica of the edge data stores, by name then key; a map
	// once published in edge is never changed, only replaced.
	kv map[string]map[string][]byte
	// preloadErr holds, during apply, the modules preload could not load.
	preloadErr map[string]error
	// edge is what handlers read through the host functions.
	edge    atomic.Pointer[edgeState]
	revoked map[string]bool    // publisher keys revoked, by id
	modules map[string]*module // by digest

	metrics       *metrics
	pre           prewarmed
	browser       browserModules // module bytes served to browsers
	started       time.Time
	httpAddr      atomic.Value // string: where Serve listens
	loadedModules atomic.Int64

	statsMu  sync.Mutex
	stats    map[string]*routeStats   // by route key
	versions map[string]*versionStats // by route key + digest
	loadErr  map[string]string        // digest -> why it could not be loaded
}

// New returns a worker that follows reg and runs modules on eng.
func New(cfg Config, reg Registry, eng engine.Engine) (*Worker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	w := &Worker{
		cfg: cfg, reg: reg, eng: eng,
		routes:   make(map[string]*registryv1.Route),
		flags:    make(map[string]bool),
		configs:  make(map[string]*registryv1.Config),
		kv:       make(map[string]map[string][]byte),
		revoked:  make(map[string]bool),
		modules:  make(map[string]*module),
		stats:    make(map[string]*routeStats),
		versions: make(map[string]*versionStats),
		loadErr:  make(map[string]string),
		started:  time.Now(),
	}
	w.httpAddr.Store("")
	w.metrics = newMetrics(w)
	w.egress = newEgress(cfg, w.metrics)
	w.cpu = make(chan struct{}, cfg.Concurrency)
	w.waitFn = w.wait
	w.pre = prewarmed{byDig: map[string]prewarmedModule{}, inflight: map[string]chan struct{}{}, slot: make(chan struct{}, 1)}
	w.table.Store(newTable(nil))
	return w, nil
}

// Revision is the registry revision the worker's routes reflect.
func (w *Worker) Revision() int64 { return w.revision.Load() }

// Synced reports whether the worker has applied the registry's routes once.
func (w *Worker) Synced() bool { return w.synced.Load() }

// Run follows the registry until ctx ends: list the routes, load their
// modules, then apply watched changes. A broken stream is resumed from the
// last applied revision; a compacted one starts over with a full list.
func (w *Worker) Run(ctx context.Context) error {
	go w.reapIdle(ctx)
	go w.reportLoop(ctx)
	w.serveSaved(ctx)
	const initialBackoff = 100 * time.Millisecond
	backoff := initialBackoff
	for {
		started := time.Now()
		err := w.follow(ctx)
		if ctx.Err() != nil {
			w.unloadAll()
			return nil
		}
		if time.Since(started) > healthyFollow {
			backoff = initialBackoff // it followed for a while: a new failure starts over
		}
		if errors.Is(err, history.ErrCompacted) {
			w.cfg.Logger.Info("watch history compacted; listing routes again", "err", err)
			w.revision.Store(0)
			continue
		}
		w.syncFailed(err)
		w.cfg.Logger.Warn("registry stream broken; retrying", "err", err, "backoff_ms", ms(backoff))
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			w.unloadAll()
			return nil
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

// follow lists the registry's state if the worker has none, then applies
// watched changes until the watch fails or ctx ends. Routes whose modules
// could not be loaded (a fetch from a node that had not caught up, say)
// are tried again on a timer, with the watch left running.
func (w *Worker) follow(ctx context.Context) error {
	if w.revision.Load() == 0 || w.needList {
		if err := w.list(ctx); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := w.reg.Watch(wctx, w.revision.Load()+1)
	// A node sends progress every few seconds when quiet; silence longer
	// than StallAfter means it stopped answering (paused, cut off), and
	// the worker follows another.
	stall := time.NewTimer(w.cfg.StallAfter)
	defer stall.Stop()
	save := time.NewTicker(time.Second)
	defer save.Stop()
	var retry *time.Timer
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		var retryC <-chan time.Time
		retry, retryC = w.armRetry(retry)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-stall.C:
			return fmt.Errorf("%w: no word from the registry for %v", errWatchStalled, w.cfg.StallAfter)
		case <-save.C:
			w.saveIfDirty()
		case <-retryC:
			retry = nil
			w.apply(ctx, w.revision.Load())
		case resp, ok := <-events:
			if !ok {
				return ctx.Err()
			}
			if resp.Err != nil {
				return resp.Err
			}
			stall.Reset(w.cfg.StallAfter)
			w.syncErr.Store(nil)
			w.metrics.registryRevision.Store(max(w.metrics.registryRevision.Load(), resp.Revision))
			w.applyEvents(ctx, resp.Events, resp.Revision)
		}
	}
}

// traceApply records, for each call whose change this batch applied, a
// span in that call's trace: a route change is one trace from the client
// to every worker that applied it.
func (w *Worker) traceApply(events []*registryv1.Event, start time.Time) {
	if w.cfg.Tracer == nil {
		return
	}
	seen := map[string]bool{}
	for _, e := range events {
		if e.Traceparent == "" || seen[e.Traceparent] {
			continue
		}
		seen[e.Traceparent] = true
		ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": e.Traceparent})
		_, span := w.cfg.Tracer.Start(ctx, "nanoedge.worker.apply", trace.WithTimestamp(start),
			trace.WithAttributes(attribute.Int64("nanoedge.revision", e.Revision), attribute.String("nanoedge.worker", w.cfg.WorkerID)))
		span.End()
	}
}

// armRetry keeps the timer that retries routes whose modules did not
// load: from 2 s, doubling to a minute while they keep failing, so a
// module that will never load is not fetched in a loop; none while every
// route is bound.
func (w *Worker) armRetry(t *time.Timer) (*time.Timer, <-chan time.Time) {
	if w.unbound == 0 {
		w.retryDelay = 0
		if t != nil {
			t.Stop()
		}
		return nil, nil
	}
	if t == nil {
		w.retryDelay = min(max(2*w.retryDelay, retryUnboundAfter), time.Minute)
		t = time.NewTimer(w.retryDelay)
	}
	return t, t.C
}

// list replaces the worker's state with the registry's: routes, flags and
// revoked keys, at the routes' revision.
func (w *Worker) list(ctx context.Context) error {
	routes, rev, err := w.reg.ListRoutes(ctx)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	// Flags and keys are listed after routes, and must be at least as
	// new (with stale reads, calls may reach different nodes): the watch
	// from the routes' revision replays what changed in between.
	flags, flagsRev, err := w.reg.ListFlags(ctx)
	if err != nil {
		return fmt.Errorf("list flags: %w", err)
	}
	keys, keysRev, err := w.reg.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("list publisher keys: %w", err)
	}
	configs, configsRev, err := w.reg.ListConfigs(ctx)
	if err != nil {
		return fmt.Errorf("list configurations: %w", err)
	}
	if flagsRev < rev || keysRev < rev || configsRev < rev {
		return fmt.Errorf("%w: listed routes at revision %d but flags at %d, keys at %d and configurations at %d (nodes at different revisions); listing again",
			errInconsistentList, rev, flagsRev, keysRev, configsRev)
	}
	kv, err := w.listStores(ctx, rev)
	if err != nil {
		return err
	}
	w.kv = kv
	clear(w.configs)
	for _, c := range configs {
		w.configs[c.ModuleName] = c
	}
	for _, m := range w.modules {
		m.env.Store(envOf(w.configs[m.name], false))
	}
	w.lastKeys.Store(&keys)
	clear(w.routes)
	for _, r := range routes {
		w.routes[routeKey(r.Host, r.PathPrefix)] = r
	}
	clear(w.flags)
	for _, f := range flags {
		w.flags[f.Name] = f.Enabled
	}
	clear(w.revoked)
	for _, k := range keys {
		if k.Revoked {
			w.revoked[k.Id] = true
		}
	}
	w.apply(ctx, rev)
	w.syncErr.Store(nil)
	if w.needList {
		w.needList = false
		w.savedSince.Store(nil)
		w.cfg.Logger.Info("registry answers: the saved state is replaced", "revision", rev)
	}
	w.saveIfDirty()
	if !w.synced.Swap(true) {
		w.cfg.Logger.Info("worker synced with registry", "revision", rev, "routes", len(routes))
	}
	return nil
}

// applyEvents applies one watched batch: routes, flags and revoked keys
// change the table; uploads are pre-warmed.
func (w *Worker) applyEvents(ctx context.Context, events []*registryv1.Event, rev int64) {
	defer w.traceApply(events, time.Now())
	changed, edgeChanged := false, false
	cloned := map[string]bool{}
	for _, e := range events {
		switch {
		case e.GetKv() != nil:
			edgeChanged = true
			w.applyKV(e, cloned)
		case e.GetModule() != nil:
			if e.Type == registryv1.EventType_EVENT_TYPE_PUT && w.cfg.Prewarm {
				w.prewarm(ctx, e.GetModule().Digest)
			}
		case e.GetKey() != nil:
			changed = true
			w.revoked[e.GetKey().Id] = e.GetKey().Revoked
		case e.GetConfig() != nil:
			c := e.GetConfig()
			if e.Type == registryv1.EventType_EVENT_TYPE_DELETE {
				delete(w.configs, c.ModuleName)
			} else {
				w.configs[c.ModuleName] = c
			}
			w.dirty, edgeChanged = true, true
			for _, m := range w.modules {
				if m.name == c.ModuleName {
					m.env.Store(envOf(w.configs[m.name], false))
				}
			}
		case e.GetFlag() != nil:
			changed = true
			if e.Type == registryv1.EventType_EVENT_TYPE_DELETE {
				delete(w.flags, e.GetFlag().Name)
			} else {
				w.flags[e.GetFlag().Name] = e.GetFlag().Enabled
			}
		case e.GetRoute() != nil:
			changed = true
			r := e.GetRoute()
			if e.Type == registryv1.EventType_EVENT_TYPE_DELETE {
				delete(w.routes, routeKey(r.Host, r.PathPrefix))
			} else {
				w.routes[routeKey(r.Host, r.PathPrefix)] = r
			}
		}
	}
	if changed {
		w.apply(ctx, max(rev, lastRevision(events)))
		return
	}
	if edgeChanged {
		w.publishEdge()
	}
	if n := lastRevision(events); n > w.revision.Load() {
		w.revision.Store(n)
	}
}

// envOf is the environment a configuration gives instances: variables,
// then secrets. fromDisk: cfg came from the saved state, which holds no
// secret values.
func envOf(cfg *registryv1.Config, fromDisk bool) *moduleEnv {
	if cfg == nil {
		return &moduleEnv{}
	}
	env := &moduleEnv{revision: cfg.ModRevision, header: []string{strconv.FormatInt(cfg.ModRevision, 10)}}
	// Stores are not saved either: a handler reading one would answer
	// as if it were empty.
	env.incomplete = fromDisk && len(cfg.Stores) > 0
	for k, v := range cfg.Vars {
		env.vars = append(env.vars, k+"="+v)
	}
	for k, sec := range cfg.Secrets {
		if fromDisk || sec.Value == nil {
			env.incomplete = true
			continue
		}
		env.vars = append(env.vars, k+"="+string(sec.Value))
	}
	sort.Strings(env.vars)
	return env
}

// errInconsistentList: the lists a sync reads came from nodes at
// different revisions.
var errInconsistentList = errors.New("dataplane: inconsistent list")

// serveSaved serves the state saved in StateDir, if any, until the
// registry answers: a worker restarted during an outage of the control
// plane answers as it did before, not 404 to everything.
func (w *Worker) serveSaved(ctx context.Context) {
	if w.cfg.StateDir == "" {
		return
	}
	rev, saved, err := w.loadState()
	if errors.Is(err, errNoSavedState) {
		return
	}
	if err != nil {
		w.cfg.Logger.Warn("saved state unusable; starting without it", "err", err)
		return
	}
	w.savedSince.Store(&saved)
	w.apply(ctx, rev)
	w.needList, w.dirty = true, false
	w.synced.Store(true)
	w.cfg.Logger.Warn("serving the state saved on disk until the registry answers", "revision", rev, "saved", saved.Format(time.RFC3339),
		"routes", len(w.routes), "unloaded", w.unbound)
}

// saveIfDirty saves the state if it changed since it was last saved.
func (w *Worker) saveIfDirty() {
	if !w.dirty || w.cfg.StateDir == "" {
		return
	}
	if err := w.saveState(); err != nil {
		w.cfg.Logger.Warn("cannot save the state to disk", "err", err)
		return
	}
	w.dirty = false
}

// healthyFollow is how long following must last for the reconnect
// backoff to start over.
const healthyFollow = 10 * time.Second

// errWatchStalled ends a watch on which nothing, not even progress,
// arrived for StallAfter.
var errWatchStalled = errors.New("dataplane: watch stalled")

// syncFailure is why a worker fails to follow the registry, and whether
// that is because no node answers (unreachable) rather than because the
// worker cannot apply what one says.
type syncFailure struct {
	err         error
	since       time.Time
	unreachable bool
}

func (w *Worker) syncFailed(err error) {
	f := &syncFailure{err: err, since: time.Now(), unreachable: unreachable(err)}
	if prev := w.syncErr.Load(); prev != nil {
		f.since = prev.since
	}
	w.syncErr.Store(f)
}

// unreachable reports whether err says no node answered: the connection
// failed, timed out or stalled, or the node said to try another.
func unreachable(err error) bool {
	if errors.Is(err, errWatchStalled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	code := status.Code(err)
	return code == codes.Unavailable || code == codes.DeadlineExceeded
}

// Ready reports whether the worker should take traffic: it has a
// registry state to serve, and it has not failed to apply what the
// registry says for longer than StaleAfter. A worker that cannot reach
// any node keeps serving its last state (see Stale): in an outage of the
// control plane the fleet keeps answering. Otherwise the error says why.
func (w *Worker) Ready() error {
	if !w.Synced() {
		if f := w.syncErr.Load(); f != nil {
			return fmt.Errorf("no registry state to serve yet: %v", f.err)
		}
		return errors.New("no registry state to serve yet")
	}
	if f := w.syncErr.Load(); f != nil && !f.unreachable && time.Since(f.since) > w.cfg.StaleAfter {
		return fmt.Errorf("cannot follow the registry since %s (serving revision %d): %v", f.since.UTC().Format(time.RFC3339), w.Revision(), f.err)
	}
	return nil
}

// Stale reports whether the worker serves a state the registry may have
// moved past: since when, and why.
func (w *Worker) Stale() (since time.Time, why error, stale bool) {
	if f := w.syncErr.Load(); f != nil {
		return f.since, f.err, true
	}
	if s := w.savedSince.Load(); s != nil {
		return *s, errors.New("serving the state saved on disk; the registry has not answered yet"), true
	}
	return time.Time{}, nil, false
}

// reapIdle closes instances idle past IdleTimeout, until ctx ends.
func (w *Worker) reapIdle(ctx context.Context) {
	t := time.NewTicker(w.cfg.IdleTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			for _, es := range w.table.Load().byHost {
				for _, e := range es {
					e.mod.reap(now.Add(-w.cfg.IdleTimeout))
				}
			}
		}
	}
}

func lastRevision(events []*registryv1.Event) int64 {
	if len(events) == 0 {
		return 0
	}
	return events[len(events)-1].Revision
}

// apply loads every module the routes need, swaps in a new table and unloads
// modules no route uses any more. A route whose module cannot be loaded
// keeps serving the version it had, if any.
func (w *Worker) apply(ctx context.Context, rev int64) {
	w.publishEdge()
	w.preload(ctx)
	defer func() { w.preloadErr = nil }()
	old := w.table.Load()
	oldByKey := make(map[string]*entry)
	for _, es := range old.byHost {
		for _, e := range es {
			oldByKey[routeKey(e.route.Host, e.route.PathPrefix)] = e
		}
	}
	var entries []*entry
	w.unbound = 0
	for key, r := range w.routes {
		e, err := w.bind(ctx, r)
		if err != nil {
			w.unbound++
			w.cfg.Logger.Error("cannot load a module of the route; it keeps its previous version", "host", r.Host, "path", r.PathPrefix, "err", err)
			if prev, ok := oldByKey[key]; ok {
				entries = append(entries, prev)
			}
			continue
		}
		entries = append(entries, e)
	}
	w.table.Store(newTable(entries))
	w.revision.Store(rev)
	w.dirty = true
	w.statsMu.Lock()
	w.retireVersions(entries, time.Now())
	w.statsMu.Unlock()
	used := make(map[string]bool)
	for _, e := range entries {
		for _, m := range e.modules() {
			used[m.digest] = true
		}
	}
	w.retire(used, time.Now())
	for _, m := range w.modules {
		if was := m.revoked.Swap(w.revoked[m.keyID]); !was && w.revoked[m.keyID] {
			w.cfg.Logger.Warn("module's publisher key revoked: its requests get 503", "module", m.name, "digest", shortDigest(m.digest), "key", m.keyID)
		}
	}
	w.loadedModules.Store(int64(len(w.modules)))
}

// retire keeps modules no route uses compiled and warm for a while, so
// that flipping a route back (a rollback, an aborted rollout) is instant;
// beyond RetainUnused time or MaxRetained modules, the oldest are closed.
func (w *Worker) retire(used map[string]bool, now time.Time) {
	var retired []*module
	for digest, m := range w.modules {
		switch {
		case used[digest]:
			m.unusedSince = time.Time{}
		case m.unusedSince.IsZero():
			m.unusedSince = now
			retired = append(retired, m)
		default:
			retired = append(retired, m)
		}
	}
	sort.Slice(retired, func(i, j int) bool { return retired[i].unusedSince.After(retired[j].unusedSince) })
	for i, m := range retired {
		if i >= w.cfg.MaxRetained || now.Sub(m.unusedSince) > w.cfg.RetainUnused {
			delete(w.modules, m.digest)
			m.close()
		}
	}
}

// bind loads every module a route can serve from and compiles its rules.
func (w *Worker) bind(ctx context.Context, r *registryv1.Route) (*entry, error) {
	mod, err := w.load(ctx, r.ModuleName, r.ModuleDigest)
	if err != nil {
		return nil, err
	}
	e := &entry{route: r, mod: mod, cors: newCors(r.GetOptions().GetCors()), outbound: newOutboundPolicy(r, w.cfg)}
	var upper uint32
	for _, v := range r.Versions {
		m, err := w.load(ctx, v.ModuleName, v.ModuleDigest)
		if err != nil {
			return nil, err
		}
		upper += v.Weight
		e.versions = append(e.versions, version{mod: m, upper: upper})
	}
	for _, rl := range r.Rules {
		re, err := regexp.Compile(rl.Pattern)
		if err != nil {
			return nil, fmt.Errorf("rule pattern %q: %w", rl.Pattern, err)
		}
		m, err := w.load(ctx, rl.ModuleName, rl.ModuleDigest)
		if err != nil {
			return nil, err
		}
		// A flag's state is bound into the table: flipping a flag builds
		// a new table, swapped in atomically like any route change.
		e.rules = append(e.rules, rule{kind: rl.Kind, name: rl.Name, re: re, mod: m, flagOn: w.flags[rl.Name]})
	}
	return e, nil
}

// load returns the module for digest, fetching, compiling and warming it
// the first time.
func (w *Worker) load(ctx context.Context, name, digest string) (*module, error) {
	if m, ok := w.modules[digest]; ok {
		return m, nil
	}
	if err, ok := w.preloadErr[digest]; ok {
		return nil, err
	}
	m, err := w.loadNew(ctx, name, digest)
	if err != nil {
		return nil, err
	}
	w.modules[digest] = m
	return m, nil
}

// preload loads, GOMAXPROCS at a time, the modules the routes name that
// are not loaded yet: a worker starting with many routes compiles (or
// reads from its cache) on every core, not one module after another.
// Failures are kept for load to answer until apply ends.
func (w *Worker) preload(ctx context.Context) {
	type want struct{ name, digest string }
	var todo []want
	seen := map[string]bool{}
	add := func(name, digest string) {
		if _, ok := w.modules[digest]; !ok && !seen[digest] && digest != "" {
			seen[digest] = true
			todo = append(todo, want{name, digest})
		}
	}
	for _, r := range w.routes {
		add(r.ModuleName, r.ModuleDigest)
		for _, v := range r.Versions {
			add(v.ModuleName, v.ModuleDigest)
		}
		for _, rl := range r.Rules {
			add(rl.ModuleName, rl.ModuleDigest)
		}
	}
	if len(todo) < 2 {
		return
	}
	mods, errs := make([]*module, len(todo)), make([]error, len(todo))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, t := range todo {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			mods[i], errs[i] = w.loadNew(ctx, t.name, t.digest)
		}()
	}
	wg.Wait()
	w.preloadErr = map[string]error{}
	for i, t := range todo {
		if errs[i] != nil {
			w.preloadErr[t.digest] = errs[i]
			continue
		}
		w.modules[t.digest] = mods[i]
	}
}

// loadNew fetches, compiles and warms a module. Only its caller may
// touch w.modules: preload runs several at once.
func (w *Worker) loadNew(ctx context.Context, name, digest string) (*module, error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.LoadTimeout)
	defer cancel()
	start := time.Now()
	compiled, size, fetched, err := w.takePrewarmed(ctx, digest)
	if compiled == nil {
		compiled, size, fetched, err = w.compile(ctx, digest)
	}
	if err != nil {
		return nil, w.loadFailed(digest, err)
	}
	compiledIn := time.Since(start) - fetched
	w.metrics.compile.Observe(compiledIn.Seconds())
	m := newModule(name, digest, compiled, w.cfg.MaxInstances, w.cfg.MaxRequestsPerInstance, w.cfg.RecycleMemory, w.cfg.Logger)
	if id, ok := w.keyOf.Load(digest); ok {
		m.keyID = id.(string)
	}
	m.outputDropped = w.metrics.outputDropped
	m.env.Store(envOf(w.configs[name], w.needList))
	if err := m.warm(ctx); err != nil {
		m.close()
		return nil, w.loadFailed(digest, fmt.Errorf("instantiate: %w", err))
	}
	instances := m.fit(w.cfg.ModuleMemory, w.cfg.MaxInstances)
	w.statsMu.Lock()
	delete(w.loadErr, digest)
	w.statsMu.Unlock()
	w.cfg.Logger.Info("module loaded", "module", name, "digest", shortDigest(digest), "bytes", size, "max_instances", instances,
		"fetch_ms", ms(fetched), "compile_ms", ms(compiledIn), "warm_ms", ms(time.Since(start)-fetched-compiledIn))
	return m, nil
}

// verify checks a module's signature again before any of its code is
// compiled: the control plane checked it at upload, but bytes and metadata
// cross the network and storage since.
func (w *Worker) verify(ctx context.Context, m *registryv1.Module) error {
	prov := m.GetProvenance()
	if prov.GetKeyId() == "" {
		return fmt.Errorf("%w: module %s@%s is unsigned", ErrUntrusted, m.Name, m.Digest)
	}
	var keys []*registryv1.PublisherKey
	if w.savedSince.Load() != nil {
		keys = w.keys() // serving the saved state: verify with the keys saved with it
	} else if live, _, err := w.reg.ListKeys(ctx); err == nil {
		keys = live
		w.lastKeys.Store(&keys)
	} else if keys = w.keys(); keys == nil || !unreachable(err) {
		return fmt.Errorf("list publisher keys: %w", err)
	} // no node answers: verify with the keys last seen
	for _, k := range keys {
		if k.Id == prov.KeyId {
			// A revoked key stops new uploads; modules it signed before keep
			// serving (reported by the control plane on revocation).
			if err := signing.Verify(k.PublicKey, m.Name, m.Digest, prov.Signature); err != nil {
				return fmt.Errorf("%w: %v", ErrUntrusted, err)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: module %s@%s is signed by unknown key %s", ErrUntrusted, m.Name, m.Digest, prov.KeyId)
}

// compile fetches, verifies and compiles a module.
func (w *Worker) compile(ctx context.Context, digest string) (compiled engine.Module, size int, fetched time.Duration, err error) {
	start := time.Now()
	meta, wasm, ok := w.savedModule(digest) // kept on disk, checked against its digest
	if !ok {
		if meta, wasm, err = w.reg.FetchModule(ctx, digest); err != nil {
			return nil, 0, 0, fmt.Errorf("fetch: %w", err)
		}
	}
	w.keyOf.Store(digest, meta.GetProvenance().GetKeyId())
	if w.cfg.RequireSignatures {
		if err := w.verify(ctx, meta); err != nil {
			return nil, 0, 0, err
		}
	}
	fetched = time.Since(start)
	if compiled, err = w.eng.Compile(ctx, wasm); err == nil {
		w.saveModule(meta, wasm)
	}
	return compiled, len(wasm), fetched, err
}

func (w *Worker) loadFailed(digest string, err error) error {
	w.metrics.loadFailures.Inc()
	w.statsMu.Lock()
	w.loadErr[digest] = err.Error()
	w.statsMu.Unlock()
	return err
}

func (w *Worker) unloadAll() {
	w.closePrewarmed()
	w.table.Store(newTable(nil))
	for digest, m := range w.modules {
		delete(w.modules, digest)
		m.close()
	}
}

// Serve answers HTTP on ln until ctx ends, then shuts down gracefully.
func (w *Worker) Serve(ctx context.Context, ln net.Listener) error {
	w.httpAddr.Store(ln.Addr().String())
	srv := w.cfg.HTTPServer(w)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shutdownCtx, cancel := context.WithTimeout(context.Background(), w.cfg.RequestTimeout)
		defer cancel()
		err := srv.Shutdown(shutdownCtx)
		<-errc // http.ErrServerClosed
		return err
	}
}
