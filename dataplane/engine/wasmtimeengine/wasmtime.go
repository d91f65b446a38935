//go:build wasmtime

package wasmtimeengine

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/cgi"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/guestio"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/rewrite"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/wasishim"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// Version names the wasmtime release compiled code belongs to; the disk
// cache keys on it.
const Version = "wasmtime-go/v39.0.1"

// EpochTick is how often the engine advances wasmtime's epoch: the
// precision of deadlines.
const EpochTick = time.Millisecond

// Config configures an Engine.
type Config struct {
	// MemoryLimit caps each instance's linear memory, in bytes.
	MemoryLimit uint64
	// CacheDir, if set, keeps compiled machine code on disk.
	CacheDir string
	// PreInitialize starts instances from a snapshot taken after the
	// module's _initialize (see wazeroengine.Config.PreInitialize).
	PreInitialize bool

	// noDeadlines turns epoch interruption off, so that a benchmark can
	// measure what it costs. Guests then cannot be stopped.
	noDeadlines bool
}

// DefaultConfig returns a 128 MiB memory cap, no disk cache.
func DefaultConfig() Config { return Config{MemoryLimit: 128 << 20} }

// Validate reports every problem with c.
func (c Config) Validate() error {
	if err := engine.CheckMemoryLimit(c.MemoryLimit); err != nil {
		return fmt.Errorf("wasmtimeengine: %w", err)
	}
	return nil
}

// Engine is an engine.Engine on wasmtime.
type Engine struct {
	cfg    Config
	engine *wasmtime.Engine
	linker *wasmtime.Linker
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
}

var _ engine.Engine = (*Engine)(nil)

// New creates an engine and starts its epoch ticker.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wc := wasmtime.NewConfig()
	wc.SetEpochInterruption(!cfg.noDeadlines)
	wc.SetWasmThreads(false)
	e := &Engine{cfg: cfg, engine: wasmtime.NewEngineWithConfig(wc), stop: make(chan struct{}), done: make(chan struct{})}
	e.linker = wasmtime.NewLinker(e.engine)
	if err := defineWASI(e.linker); err != nil {
		return nil, err
	}
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("wasmtimeengine: cache: %w", err)
		}
	}
	go e.tick()
	return e, nil
}

func (e *Engine) tick() {
	defer close(e.done)
	t := time.NewTicker(EpochTick)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.engine.IncrementEpoch()
		}
	}
}

// Close stops the epoch ticker.
func (e *Engine) Close(ctx context.Context) error {
	e.once.Do(func() { close(e.stop) })
	<-e.done
	return nil
}

// Compile implements engine.Engine.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (engine.Module, error) {
	// load validates what it compiles; the cache holds only code compiled
	// from these very bytes.
	m, err := e.load(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	cgi, err := checkShape(m)
	if err != nil {
		m.Close()
		return nil, err
	}
	mod := &module{e: e, m: m, cgi: cgi}
	if e.cfg.PreInitialize && !cgi {
		if snap, states, err := e.preInitialize(ctx, wasm); err == nil {
			m.Close()
			mod.m, mod.initialized, mod.randomStates = snap, true, states
		}
		// Otherwise instances initialize themselves.
	}
	return mod, nil
}

// cachePath is where compiled code derived from wasm is kept: key tells
// derived modules (snapshots) apart from wasm's own code. "" without a
// cache directory.
func (e *Engine) cachePath(wasm []byte, key string) string {
	if e.cfg.CacheDir == "" {
		return ""
	}
	sum := sha256.Sum256(append([]byte(Version+"\x00"+key+"\x00"), wasm...))
	return filepath.Join(e.cfg.CacheDir, hex.EncodeToString(sum[:])+".cwasm")
}

// cached maps compiled code from path, if it is there.
func (e *Engine) cached(path string) *wasmtime.Module {
	if path == "" {
		return nil
	}
	m, err := wasmtime.NewModuleDeserializeFile(e.engine, path)
	if err != nil {
		return nil
	}
	return m
}

// keep writes m's compiled code to path; a failed write costs a compile
// next time.
func keep(m *wasmtime.Module, path string) {
	if path == "" {
		return
	}
	if code, err := m.Serialize(); err == nil && os.WriteFile(path+".tmp", code, 0o600) == nil {
		os.Rename(path+".tmp", path)
	}
}

// load compiles wasm, or maps its compiled code from the disk cache.
func (e *Engine) load(wasm []byte) (*wasmtime.Module, error) {
	path := e.cachePath(wasm, "")
	if m := e.cached(path); m != nil {
		return m, nil
	}
	m, err := wasmtime.NewModule(e.engine, wasm)
	if err == nil {
		keep(m, path)
	}
	return m, err
}

// preInitialize compiles a snapshot of wasm after its _initialize ran,
// and finds the Go runtime's random generators in it (see
// rewrite.RandomStates) by running the initialization again with another
// random source. Snapshots are cached under wasm's own digest, the
// generators' offsets beside them, so a cached one needs no run.
func (e *Engine) preInitialize(ctx context.Context, wasm []byte) (*wasmtime.Module, []int, error) {
	path := e.cachePath(wasm, "snapshot")
	if states, err := readOffsets(path); err == nil {
		if m := e.cached(path); m != nil {
			return m, states, nil
		}
	}
	exported, names, err := rewrite.ExportGlobals(wasm)
	if err != nil {
		return nil, nil, err
	}
	tm, err := wasmtime.NewModule(e.engine, exported)
	if err != nil {
		return nil, nil, err
	}
	defer tm.Close()
	tmpl := &module{e: e, m: tm}
	run, err := tmpl.start(ctx, &wasishim.System{}, abi.ExportInitialize)
	if err != nil {
		return nil, nil, err
	}
	defer run.close()
	values := make([]uint64, len(names))
	for i, n := range names {
		v := run.inst.GetExport(run.store, n).Global().Get(run.store)
		switch v.Kind() {
		case wasmtime.KindI32:
			values[i] = uint64(uint32(v.I32()))
		case wasmtime.KindI64:
			values[i] = uint64(v.I64())
		default:
			return nil, nil, fmt.Errorf("global %s is not an integer", n)
		}
	}
	var states []int
	if other, err := tmpl.start(ctx, &wasishim.System{Random: rewrite.OtherRandom(0x5a)}, abi.ExportInitialize); err == nil {
		states = rewrite.RandomStates(run.mem(), other.mem())
		other.close()
	}
	snap, err := rewrite.Snapshot(exported, values, bytes.Clone(run.mem()))
	if err != nil {
		return nil, nil, err
	}
	m, err := wasmtime.NewModule(e.engine, snap)
	if err == nil {
		keep(m, path)
		writeOffsets(path, states)
	}
	return m, states, err
}

// readOffsets reads the generators' offsets kept beside a cached
// snapshot.
func readOffsets(path string) ([]int, error) {
	if path == "" {
		return nil, os.ErrNotExist
	}
	b, err := os.ReadFile(path + ".random")
	if err != nil {
		return nil, err
	}
	var states []int
	return states, json.Unmarshal(b, &states)
}

func writeOffsets(path string, states []int) {
	if path == "" {
		return
	}
	if b, err := json.Marshal(states); err == nil && os.WriteFile(path+".random.tmp", b, 0o600) == nil {
		os.Rename(path+".random.tmp", path+".random")
	}
}

const (
	exportStart  = "_start"
	exportMemory = "memory"
)

// abiExports lists the functions ABI v1 requires.
var abiExports = []string{abi.ExportVersion, abi.ExportAlloc, abi.ExportHandle}

// checkShape: WASI imports only; the ABI exports, or a WASI command's
// _start for CGI.
func checkShape(m *wasmtime.Module) (cgi bool, err error) {
	for _, imp := range m.Imports() {
		name := ""
		if imp.Name() != nil {
			name = *imp.Name()
		}
		if !wasishim.Importable(imp.Module(), name) {
			return false, fmt.Errorf("%w: imports %s.%s; handler modules may import only wasi_snapshot_preview1 and the functions of %s that docs/abi.md lists",
				engine.ErrInvalidModule, imp.Module(), name, abi.ImportModule)
		}
	}
	exports := map[string]bool{}
	for _, exp := range m.Exports() {
		exports[exp.Name()] = true
	}
	if exports[exportStart] && !exports[abi.ExportHandle] {
		return true, nil
	}
	for _, name := range abiExports {
		if !exports[name] {
			return false, fmt.Errorf("%w: no exported function %s: build with the Nanoedge guest SDK and -buildmode=c-shared, or as a WASI command (_start) for CGI", engine.ErrInvalidModule, name)
		}
	}
	return false, nil
}

type module struct {
	e           *Engine
	m           *wasmtime.Module
	cgi         bool
	initialized bool // a snapshot: _initialize already ran
	// randomStates are the offsets of the Go runtime's random generators
	// in a snapshot's memory, refilled for each instance.
	randomStates []int
}

func (m *module) Close(ctx context.Context) error {
	m.m.Close()
	return nil
}

// RenewAfter implements engine.Renewer. An instance of a snapshot maps
// its memory copy-on-write and starts in about 0.1 ms.
func (m *module) RenewAfter() int {
	if m.initialized {
		return engine.RenewSnapshotsAfter
	}
	return 0
}

// Instantiate implements engine.Module.
func (m *module) Instantiate(ctx context.Context, cfg engine.InstanceConfig) (engine.Instance, error) {
	stderr := &guestio.TailWriter{W: cfg.Stderr}
	if m.cgi {
		return &cgi.Instance{Run: m.runCGI(stderr), Env: cfg.Env}, nil
	}
	entry := abi.ExportInitialize
	if m.initialized {
		entry = ""
	}
	run, err := m.start(ctx, &wasishim.System{Env: cfg.Env, Stdout: cfg.Stdout, Stderr: stderr}, entry)
	if err != nil {
		return nil, err
	}
	// An instance of a snapshot gets random generators of its own.
	for _, off := range m.randomStates {
		mem := run.mem()
		if off+rewrite.RandomStateSize > len(mem) {
			run.close()
			return nil, fmt.Errorf("%w: random state at %d lies outside the snapshot's memory", engine.ErrInvalidModule, off)
		}
		rand.Read(mem[off : off+rewrite.RandomStateSize])
	}
	alloc := run.inst.GetFunc(run.store, abi.ExportAlloc)
	handle := run.inst.GetFunc(run.store, abi.ExportHandle)
	version := run.inst.GetFunc(run.store, abi.ExportVersion)
	if alloc == nil || handle == nil || version == nil {
		run.close()
		return nil, fmt.Errorf("%w: missing ABI exports", engine.ErrInvalidModule)
	}
	v := []rawVal{{}}
	if err := run.call(ctx, func() error { return callUnchecked(run.store, version, v) }); err != nil {
		run.close()
		return nil, err
	}
	if n := v[0].i32(); n != abi.Version {
		run.close()
		return nil, fmt.Errorf("%w: module speaks ABI version %d; this worker speaks %d", engine.ErrInvalidModule, n, abi.Version)
	}
	return &instance{run: run, x: newExchanger(run, alloc, handle)}, nil
}

// running is an instantiated module in its own store.
type running struct {
	noDeadlines bool
	store       *wasmtime.Store
	ctx         unsafe.Pointer // the store's context, for exchange
	inst        *wasmtime.Instance
	host        *host
	memory      *wasmtime.Memory
}

func (r *running) close() { r.store.Close() }

func (r *running) mem() []byte { return r.memory.UnsafeData(r.store) }

// start instantiates m in a new store with sys and runs entry, if set and
// exported.
func (m *module) start(ctx context.Context, sys *wasishim.System, entry string) (*running, error) {
	h := &host{sys: sys}
	store := wasmtime.NewStoreWithData(m.e.engine, h)
	store.Limiter(int64(m.e.cfg.MemoryLimit), -1, -1, -1, -1)
	store.SetEpochDeadline(deadlineTicks(ctx))
	r := &running{noDeadlines: m.e.cfg.noDeadlines, store: store, ctx: storeContext(store), host: h}
	var err error
	if r.inst, err = m.e.linker.Instantiate(store, m.m); err != nil {
		store.Close()
		return nil, r.classify(ctx, err)
	}
	ext := r.inst.GetExport(store, exportMemory)
	if ext == nil || ext.Memory() == nil {
		store.Close()
		return nil, fmt.Errorf("%w: no exported memory", engine.ErrInvalidModule)
	}
	r.memory = ext.Memory()
	h.memory = r.memory
	if entry == "" {
		return r, nil
	}
	if f := r.inst.GetFunc(store, entry); f != nil {
		if err := r.call(ctx, func() error { _, err := f.Call(store); return err }); err != nil {
			if sys.Exit == nil || sys.Exit.Code != 0 { // exit(0) is a clean end
				store.Close()
				return nil, err
			}
		}
	}
	return r, nil
}

// noDeadline is the epoch deadline of a call whose context has none.
const noDeadline = 1 << 62

// deadlineTicks is how many epoch ticks ctx leaves: at least the time to
// its deadline, at most one tick more.
func deadlineTicks(ctx context.Context) uint64 {
	dl, ok := ctx.Deadline()
	if !ok {
		return noDeadline
	}
	left := time.Until(dl)
	if left <= 0 {
		return 1
	}
	return uint64((left+EpochTick-1)/EpochTick) + 1
}

// call runs fn with the store's epoch deadline set from ctx, and turns
// what went wrong into the engine's errors.
func (r *running) call(ctx context.Context, fn func() error) error {
	ticks, err := r.deadline(ctx)
	if err != nil {
		return err
	}
	if ticks != 0 {
		r.store.SetEpochDeadline(ticks)
	}
	err = fn()
	if err == nil {
		return nil
	}
	return r.classify(ctx, err)
}

// deadline returns the epoch ticks ctx leaves a call (0 if the engine
// does not enforce deadlines), or ErrDeadline if ctx has ended.
func (r *running) deadline(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("%w: %v", engine.ErrDeadline, context.Cause(ctx))
	}
	if r.noDeadlines {
		return 0, nil
	}
	return deadlineTicks(ctx), nil
}

func (r *running) classify(ctx context.Context, err error) error {
	var trap *wasmtime.Trap
	if errors.As(err, &trap) {
		if c := trap.Code(); c != nil && *c == wasmtime.Interrupt {
			return fmt.Errorf("%w: %v", engine.ErrDeadline, context.Cause(ctx))
		}
	}
	var ce *callError
	if errors.As(err, &ce) && ce.interrupted() {
		return fmt.Errorf("%w: %v", engine.ErrDeadline, context.Cause(ctx))
	}
	stderr := ""
	if t, ok := r.host.sys.Stderr.(*guestio.TailWriter); ok {
		stderr = t.Suffix()
	}
	if exit := r.host.sys.Exit; exit != nil {
		if exit.Code == 0 {
			return err // the caller decides what a clean exit means
		}
		return fmt.Errorf("%w: %v%s", engine.ErrTrap, exit, stderr)
	}
	return fmt.Errorf("%w: %v%s", engine.ErrTrap, err, stderr)
}

type instance struct {
	run  *running
	x    *exchanger
	out  []byte
	size uint64 // memory size after the last request, 0 if unknown
}

func (i *instance) MemorySize() uint64 {
	if i.size != 0 {
		return i.size // memory changes only while the guest runs
	}
	return uint64(i.run.memory.DataSize(i.run.store))
}

func (i *instance) Close(ctx context.Context) error {
	i.run.close()
	i.x.free()
	return nil
}

// Handle implements engine.Instance.
func (i *instance) Handle(ctx context.Context, req []byte) ([]byte, error) {
	ticks, err := i.run.deadline(ctx)
	if err != nil {
		return nil, err
	}
	i.run.host.sys.Call = engine.CallFrom(ctx)
	resp, size, err := i.x.exchange(ticks, req)
	i.run.host.sys.Call = nil
	i.size = size
	if errors.Is(err, engine.ErrBadResponse) {
		return nil, err
	}
	if err != nil {
		return nil, i.run.classify(ctx, err)
	}
	i.out = append(i.out[:0], resp...)
	return i.out, nil
}

// runCGI runs the command once for a request (see cgi.Instance).
func (m *module) runCGI(stderr *guestio.TailWriter) cgi.Run {
	return func(ctx context.Context, env []string, stdin io.Reader, stdout io.Writer) (uint64, error) {
		run, err := m.start(ctx, &wasishim.System{Env: env, Stdin: stdin, Stdout: stdout, Stderr: stderr}, exportStart)
		if err != nil {
			return 0, err
		}
		defer run.close()
		return uint64(run.memory.DataSize(run.store)), nil
	}
}
