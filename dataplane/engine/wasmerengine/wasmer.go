//go:build wasmer

package wasmerengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/wasmerio/wasmer-go/wasmer"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/cgi"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/guestio"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/rewrite"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/wasishim"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/watchdog"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// Config configures an Engine.
type Config struct {
	// MemoryLimit caps each instance's linear memory, in bytes (rounded
	// down to 64 KiB pages).
	MemoryLimit uint64

	// noDeadlines leaves modules uninstrumented, so that a benchmark can
	// measure what the interrupt flag costs. Guests then cannot be stopped.
	noDeadlines bool
}

// DefaultConfig returns a 128 MiB memory cap.
func DefaultConfig() Config { return Config{MemoryLimit: 128 << 20} }

// Validate reports every problem with c.
func (c Config) Validate() error {
	if err := engine.CheckMemoryLimit(c.MemoryLimit); err != nil {
		return fmt.Errorf("wasmerengine: %w", err)
	}
	return nil
}

// Engine is an engine.Engine on wasmer.
type Engine struct {
	cfg   Config
	store *wasmer.Store
	mu    sync.Mutex // wasmer's store is not documented as safe for concurrent compiles
	dog   *watchdog.Watchdog
}

var _ engine.Engine = (*Engine)(nil)

// New creates an engine.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, store: wasmer.NewStore(wasmer.NewEngine()), dog: watchdog.New()}, nil
}

// Close implements engine.Engine.
func (e *Engine) Close(ctx context.Context) error {
	e.dog.Close()
	return nil
}

const (
	exportStart      = "_start"
	exportMemoryName = "memory"
)

// Compile implements engine.Engine: it caps the module's memory, adds the
// interrupt flag, checks the module is a handler and compiles it.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (engine.Module, error) {
	code, err := rewrite.CapMemory(wasm, uint32(e.cfg.MemoryLimit>>16))
	if err == nil && !e.cfg.noDeadlines {
		code, err = rewrite.Instrument(code)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		// Say first what keeps the module from being a handler at all.
		if m, cerr := wasmer.NewModule(e.store, wasm); cerr == nil {
			_, serr := checkShape(m)
			m.Close()
			if serr != nil {
				return nil, serr
			}
		}
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	m, err := wasmer.NewModule(e.store, code)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	cgi, err := checkShape(m)
	if err != nil {
		m.Close()
		return nil, err
	}
	return &module{e: e, m: m, cgi: cgi}, nil
}

// checkShape is the wazero engine's: WASI imports only; the ABI exports,
// or a WASI command's _start for CGI.
func checkShape(m *wasmer.Module) (cgi bool, err error) {
	for _, imp := range m.Imports() {
		if !wasishim.Importable(imp.Module(), imp.Name()) {
			return false, fmt.Errorf("%w: imports %s.%s; handler modules may import only wasi_snapshot_preview1 and the functions of %s that docs/abi.md lists",
				engine.ErrInvalidModule, imp.Module(), imp.Name(), abi.ImportModule)
		}
	}
	exports := map[string]bool{}
	for _, exp := range m.Exports() {
		exports[exp.Name()] = true
	}
	if exports[exportStart] && !exports[abi.ExportHandle] {
		return true, nil
	}
	for _, name := range []string{abi.ExportVersion, abi.ExportAlloc, abi.ExportHandle} {
		if !exports[name] {
			return false, fmt.Errorf("%w: no exported function %s: build with the Nanoedge guest SDK and -buildmode=c-shared, or as a WASI command (_start) for CGI", engine.ErrInvalidModule, name)
		}
	}
	return false, nil
}

type module struct {
	e   *Engine
	m   *wasmer.Module
	cgi bool
}

func (m *module) Close(ctx context.Context) error {
	m.m.Close()
	return nil
}

// Instantiate implements engine.Module.
func (m *module) Instantiate(ctx context.Context, cfg engine.InstanceConfig) (engine.Instance, error) {
	stderr := &guestio.TailWriter{W: cfg.Stderr}
	if m.cgi {
		return &cgi.Instance{Run: m.runCGI(stderr), Env: cfg.Env}, nil
	}
	run, err := m.start(ctx, &wasi{System: wasishim.System{Env: cfg.Env, Stdout: cfg.Stdout, Stderr: stderr}}, abi.ExportInitialize, stderr)
	if err != nil {
		return nil, err
	}
	inst := &instance{run: run, stderr: stderr}
	if inst.alloc, err = run.inst.Exports.GetRawFunction(abi.ExportAlloc); err == nil {
		inst.handle, err = run.inst.Exports.GetRawFunction(abi.ExportHandle)
	}
	if err != nil {
		run.close()
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	var v any
	if err := run.call(ctx, func() (err error) {
		v, err = callRaw(run.inst, abi.ExportVersion)
		return err
	}); err != nil {
		run.close()
		return nil, err
	}
	if n, _ := v.(int32); n != abi.Version {
		run.close()
		return nil, fmt.Errorf("%w: module speaks ABI version %v; this worker speaks %d", engine.ErrInvalidModule, v, abi.Version)
	}
	return inst, nil
}

func callRaw(inst *wasmer.Instance, name string, args ...any) (any, error) {
	f, err := inst.Exports.GetRawFunction(name)
	if err != nil {
		return nil, err
	}
	return f.Call(args...)
}

// running is an instantiated module with its WASI and interrupt.
type running struct {
	inst      *wasmer.Instance
	wasi      *wasi
	interrupt *interrupt // nil if the module is not instrumented
	watch     *watchdog.Watch
	stderr    *guestio.TailWriter
}

// interrupt is an instrumented instance's pair of globals (see
// rewrite.Instrument).
type interrupt struct{ flag, countdown *wasmer.Global }

// raise makes the guest trap at its next function call or loop iteration.
func (i *interrupt) raise() {
	if i != nil {
		i.flag.Set(int32(1), wasmer.I32)
		i.countdown.Set(int32(0), wasmer.I32)
	}
}

func (r *running) close() { r.inst.Close() }

// start instantiates m with w and runs entry, if the module exports it.
func (m *module) start(ctx context.Context, w *wasi, entry string, stderr *guestio.TailWriter) (*running, error) {
	inst, err := wasmer.NewInstance(m.m, w.imports(m.e.store))
	if err != nil {
		return nil, fmt.Errorf("%w: %v%s", engine.ErrTrap, err, stderr.Suffix())
	}
	r := &running{inst: inst, wasi: w, stderr: stderr}
	if w.memory, err = inst.Exports.GetMemory(exportMemoryName); err != nil {
		inst.Close()
		return nil, fmt.Errorf("%w: no exported memory", engine.ErrInvalidModule)
	}
	if !m.e.cfg.noDeadlines {
		flag, err1 := inst.Exports.GetGlobal(rewrite.GlobalName)
		countdown, err2 := inst.Exports.GetGlobal(rewrite.CountdownName)
		if err1 != nil || err2 != nil {
			inst.Close()
			return nil, fmt.Errorf("%w: instrumented module lacks %s or %s", engine.ErrInvalidModule, rewrite.GlobalName, rewrite.CountdownName)
		}
		r.interrupt = &interrupt{flag: flag, countdown: countdown}
		r.watch = m.e.dog.NewWatch(r.interrupt.raise)
	}
	w.interrupt = r.interrupt
	if _, err := inst.Exports.GetRawFunction(entry); err == nil {
		if err := r.call(ctx, func() error { _, err := callRaw(inst, entry); return err }); err != nil {
			if w.Exit == nil || w.Exit.Code != 0 { // exit(0) is a clean end
				inst.Close()
				return nil, err
			}
		}
	}
	return r, nil
}

// call runs fn, the engine's watchdog raising the interrupt flag if ctx
// ends first, and turns what went wrong into the engine's errors.
func (r *running) call(ctx context.Context, fn func() error) error {
	if r.interrupt == nil {
		return r.failure(fn())
	}
	err := r.watch.Call(ctx, fn)
	if errors.Is(err, engine.ErrDeadline) {
		return err // the watchdog stopped the guest
	}
	return r.failure(err)
}

// failure turns the outcome of a call into the engine's errors.
func (r *running) failure(err error) error {
	switch w := r.wasi; {
	case w.Exit != nil && w.Exit.Code == 0:
		return err // the caller decides what a clean exit means
	case w.Exit != nil:
		return fmt.Errorf("%w: %v%s", engine.ErrTrap, w.Exit, r.stderr.Suffix())
	case w.failed != nil:
		return fmt.Errorf("%w: %v", engine.ErrTrap, w.failed)
	case err != nil:
		return fmt.Errorf("%w: %v%s", engine.ErrTrap, err, r.stderr.Suffix())
	}
	return nil
}

type instance struct {
	run           *running
	alloc, handle *wasmer.Function
	stderr        *guestio.TailWriter
	out           []byte
}

func (i *instance) MemorySize() uint64 { return uint64(i.run.wasi.memory.DataSize()) }

func (i *instance) Close(ctx context.Context) error {
	i.run.close()
	return nil
}

// Handle implements engine.Instance.
func (i *instance) Handle(ctx context.Context, req []byte) ([]byte, error) {
	i.run.wasi.Call = engine.CallFrom(ctx)
	defer func() { i.run.wasi.Call = nil }()
	var bad error // a broken ABI, kept apart from the call's errors, which are traps
	err := i.run.call(ctx, func() error {
		p, err := i.alloc.Call(int32(len(req)))
		if err != nil {
			return err
		}
		ptr := uint32(p.(int32))
		mem := i.run.wasi.mem()
		if uint64(ptr)+uint64(len(req)) > uint64(len(mem)) {
			bad = fmt.Errorf("%w: %s returned a buffer outside guest memory", engine.ErrBadResponse, abi.ExportAlloc)
			return nil
		}
		copy(mem[ptr:], req)
		packed, err := i.handle.Call(int32(ptr), int32(len(req)))
		if err != nil {
			return err
		}
		v := uint64(packed.(int64))
		p2, n := uint32(v>>32), uint32(v)
		mem = i.run.wasi.mem()
		if uint64(p2)+uint64(n) > uint64(len(mem)) {
			bad = fmt.Errorf("%w: response at %d+%d lies outside guest memory", engine.ErrBadResponse, p2, n)
			return nil
		}
		i.out = append(i.out[:0], mem[p2:p2+n]...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	return i.out, nil
}

// runCGI runs the command once for a request (see cgi.Instance).
func (m *module) runCGI(stderr *guestio.TailWriter) cgi.Run {
	return func(ctx context.Context, env []string, stdin io.Reader, stdout io.Writer) (uint64, error) {
		run, err := m.start(ctx, &wasi{System: wasishim.System{Env: env, Stdin: stdin, Stdout: stdout, Stderr: stderr}}, exportStart, stderr)
		if err != nil {
			return 0, err
		}
		defer run.close()
		return uint64(run.wasi.memory.DataSize()), nil
	}
}
