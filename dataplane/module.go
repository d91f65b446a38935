package dataplane

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// errModuleClosed: the module was unloaded while a request waited for it.
var errModuleClosed = errors.New("dataplane: module unloaded")

// module is a compiled module version with its pool of warm instances.
// Instances serve one request at a time; at most cap(slots) exist at once.
type module struct {
	name, digest string
	version      string   // name@short digest, as responses and metrics name it
	versionValue []string // VersionHeader's value, shared by responses
	compiled     engine.Module
	maxUses      int
	maxMemory    uint64 // recycle an instance whose memory grew past this
	logger       *slog.Logger

	slots chan struct{} // a token per instance that may be in use

	unusedSince time.Time // when the last route left it; touched by the sync goroutine only

	// keyID is the publisher key that signed the module; revoked is set
	// while that key is revoked, and requests then get 503.
	keyID   string
	revoked atomic.Bool

	// outputDropped counts guest output bytes past requests' budgets.
	outputDropped prometheus.Counter

	mu     sync.Mutex
	idle   []*instance
	live   int    // instances created and not yet closed
	memory uint64 // linear memory of live instances, as of their last release
	closed bool

	instantiated atomic.Int64 // instances created, for status
	recycled     atomic.Int64 // instances discarded after a trap or their use limit

	// env is the module name's configuration: the environment of new
	// instances. An instance started with an older one is retired when
	// next taken from the pool.
	env atomic.Pointer[moduleEnv]
}

// moduleEnv is a module's environment at one configuration revision.
type moduleEnv struct {
	revision int64
	vars     []string // NAME=value, sorted
	// header is X-Nanoedge-Config's value ("" without a configuration).
	header []string
	// incomplete: the configuration has secrets this worker does not hold
	// (it started from its saved state, which keeps no secret): the
	// module answers 503 until the registry sends them.
	incomplete bool
}

type instance struct {
	engine.Instance
	envRevision    int64 // the configuration revision it started with
	uses           int
	mem            uint64 // linear memory at the last release
	idleSince      time.Time
	stdout, stderr *lineLogger
	req            []byte // the last request's encoding; its buffer serves the next
}

// maxKeptRequest bounds the request buffer an instance keeps between
// requests.
const maxKeptRequest = 64 << 10

// encode encodes ar for the instance, in the buffer the last request
// used unless it is large, when the buffer comes from the pool and done
// gives it back: engines copy a request into the guest before Handle
// returns.
func (i *instance) encode(ar *abi.Request) (req []byte, done func()) {
	n := abi.RequestSize(ar)
	if n > maxKeptRequest {
		b := abi.AppendRequest(getBuf(n), ar)
		return b, func() { putBuf(b) }
	}
	if cap(i.req) < n {
		i.req = make([]byte, 0, n)
	}
	i.req = abi.AppendRequest(i.req[:0], ar)
	return i.req, func() {}
}

// setRequest ties the guest output that follows to a request and its
// trace, and gives it a fresh output budget. It reports what the previous
// request dropped past its budget.
func (i *instance) setRequest(id string, tc traceContext) (dropped int) {
	if b := i.stdout.budget; b != nil {
		if dropped = b.dropped; dropped > 0 {
			i.stdout.logger.Warn("guest output over its limit: dropped the rest", "request", i.stdout.request,
				"trace_id", i.stdout.traceID, "span_id", i.stdout.spanID, "dropped_bytes", dropped, "limit_bytes", maxRequestOutput)
		}
		*b = outputBudget{left: maxRequestOutput}
	}
	for _, l := range []*lineLogger{i.stdout, i.stderr} {
		l.request, l.traceID, l.spanID = id, tc.traceID, tc.spanID
	}
	return dropped
}

func newModule(name, digest string, compiled engine.Module, maxInstances, maxUses int, maxMemory uint64, logger *slog.Logger) *module {
	if maxUses == 0 {
		maxUses = DefaultMaxRequestsPerInstance
		if r, ok := compiled.(engine.Renewer); ok && r.RenewAfter() > 0 {
			maxUses = r.RenewAfter()
		}
	}
	version := name + "@" + shortDigest(digest)
	return &module{
		name: name, digest: digest, version: version, versionValue: []string{version}[:1:1], compiled: compiled, maxUses: maxUses, maxMemory: maxMemory,
		logger: logger.With("module", name, "digest", shortDigest(digest)),
		slots:  make(chan struct{}, maxInstances),
	}
}

// acquire returns an idle instance or creates one, waiting for a free slot
// until ctx ends.
func (m *module) acquire(ctx context.Context) (*instance, error) {
	select {
	case m.slots <- struct{}{}:
	default: // all slots taken: wait, which needs ctx's Done channel
		select {
		case m.slots <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		<-m.slots
		return nil, errModuleClosed
	}
	env := m.env.Load()
	if env != nil && env.incomplete {
		m.mu.Unlock()
		<-m.slots
		return nil, errConfigIncomplete
	}
	var stale []*instance
	for n := len(m.idle); n > 0; n = len(m.idle) {
		inst := m.idle[n-1]
		m.idle = m.idle[:n-1]
		if env == nil || inst.envRevision == env.revision {
			m.mu.Unlock()
			closeStale(m, stale)
			return inst, nil
		}
		stale = append(stale, inst) // started with an older configuration
		m.live--
		m.memory -= inst.mem
	}
	m.live++
	m.mu.Unlock()
	closeStale(m, stale)
	budget := newOutputBudget()
	stdout, stderr := &lineLogger{logger: m.logger, stream: "stdout", budget: budget}, &lineLogger{logger: m.logger, stream: "stderr", budget: budget}
	cfg := engine.InstanceConfig{Stdout: stdout, Stderr: stderr}
	var rev int64
	if env != nil {
		cfg.Env, rev = env.vars, env.revision
	}
	inst, err := m.compiled.Instantiate(ctx, cfg)
	if err != nil {
		m.release(nil, true)
		return nil, err
	}
	m.instantiated.Add(1)
	return &instance{Instance: inst, envRevision: rev, stdout: stdout, stderr: stderr}, nil
}

// closeStale closes instances retired for an older configuration.
func closeStale(m *module, stale []*instance) {
	for _, inst := range stale {
		m.recycled.Add(1)
		inst.Close(context.Background())
	}
}

// errConfigIncomplete: the module's configuration has secrets this worker
// does not hold yet.
var errConfigIncomplete = errors.New("nanoedge: this module's secrets or stores are not here yet: the worker started from its saved state, which keeps neither, and waits for the registry")

// release returns inst to the pool, or closes it if it is broken, used up,
// grown past its memory budget, or the module is closed.
func (m *module) release(inst *instance, broken bool) {
	discard := broken
	var size uint64
	if inst != nil {
		inst.uses++
		if n := inst.setRequest("", traceContext{}); n > 0 && m.outputDropped != nil {
			m.outputDropped.Add(float64(n))
		}
		size = inst.MemorySize()
		discard = discard || inst.uses >= m.maxUses || size > m.maxMemory
	}
	m.mu.Lock()
	discard = discard || m.closed
	if !discard {
		inst.idleSince = time.Now()
		m.memory += size - inst.mem
		inst.mem = size
		m.idle = append(m.idle, inst)
	} else {
		m.live--
		if inst != nil {
			m.memory -= inst.mem
		}
	}
	last := m.closed && m.live == 0
	m.mu.Unlock()
	<-m.slots
	if discard && inst != nil {
		m.recycled.Add(1)
		inst.Close(context.Background())
	}
	if last {
		m.compiled.Close(context.Background())
	}
}

// warm creates one idle instance so the first request does not pay for it.
func (m *module) warm(ctx context.Context) error {
	inst, err := m.acquire(ctx)
	if err != nil {
		return err
	}
	inst.uses-- // warming is not a use
	m.release(inst, false)
	return nil
}

// fit bounds the module's instances to what budget holds at the memory
// of its one warm instance, at most limit. It runs before the module
// serves, with no instance in use.
func (m *module) fit(budget uint64, limit int) int {
	m.mu.Lock()
	size := m.memory
	m.mu.Unlock()
	n := limit
	if size > 0 && budget/size < uint64(limit) {
		n = max(int(budget/size), 1)
	}
	m.slots = make(chan struct{}, n)
	return n
}

// close unloads the module once its in-flight requests finish.
func (m *module) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	idle := m.idle
	m.idle = nil
	m.live -= len(idle)
	for _, inst := range idle {
		m.memory -= inst.mem
	}
	last := m.live == 0
	m.mu.Unlock()
	for _, inst := range idle {
		inst.Close(context.Background())
	}
	if last {
		m.compiled.Close(context.Background())
	}
}

// reap closes instances idle since before cutoff, keeping one warm.
func (m *module) reap(cutoff time.Time) {
	m.mu.Lock()
	var keep, stale []*instance
	for i, inst := range m.idle {
		if inst.idleSince.Before(cutoff) && i < len(m.idle)-1 {
			stale = append(stale, inst)
		} else {
			keep = append(keep, inst)
		}
	}
	m.idle = keep
	m.live -= len(stale)
	for _, inst := range stale {
		m.memory -= inst.mem
	}
	m.mu.Unlock()
	for _, inst := range stale {
		m.recycled.Add(1)
		inst.Close(context.Background())
	}
}

func (m *module) idleCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.idle)
}

// usage reports the module's instances and their linear memory.
func (m *module) usage() (live, idle int, memory uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live, len(m.idle), m.memory
}

// lineLogger logs guest output line by line, tied to the module and to the
// request the instance is serving.
type lineLogger struct {
	logger  *slog.Logger
	stream  string
	request string
	traceID string
	spanID  string
	buf     []byte
	// budget is shared by an instance's stdout and stderr: what one
	// request may log.
	budget *outputBudget
}

// maxLine cuts a guest's output lines; maxRequestOutput bounds what one
// request logs, stdout and stderr together. What passes it is counted
// and dropped, so a guest cannot flood the worker's log.
const (
	maxLine          = 4 << 10
	maxRequestOutput = 64 << 10
)

// outputBudget is what one request may still log, and what it dropped.
type outputBudget struct {
	left, dropped int
}

func newOutputBudget() *outputBudget { return &outputBudget{left: maxRequestOutput} }

func (l *lineLogger) Write(p []byte) (int, error) {
	if l.budget != nil && l.budget.left <= 0 {
		l.budget.dropped += len(p)
		return len(p), nil
	}
	l.buf = append(l.buf, p...)
	for {
		i, skip := bytes.IndexByte(l.buf, '\n'), 1
		if i < 0 {
			if len(l.buf) <= maxLine {
				return len(p), nil
			}
			i, skip = maxLine, 0 // an endless line is cut, not buffered forever
		}
		line := l.buf[:i]
		if l.budget != nil {
			if len(line) > l.budget.left {
				l.budget.dropped += len(line) - l.budget.left
				line = line[:l.budget.left]
			}
			l.budget.left -= len(line)
		}
		l.logger.Info("guest output", "stream", l.stream, "request", l.request, "trace_id", l.traceID, "span_id", l.spanID, "line", string(line))
		l.buf = l.buf[i+skip:]
		if l.budget != nil && l.budget.left <= 0 {
			l.budget.dropped += len(l.buf)
			l.buf = l.buf[:0]
			return len(p), nil
		}
	}
}

func shortDigest(d string) string {
	const n = len("sha256:") + 12
	if len(d) > n {
		return d[:n]
	}
	return d
}
