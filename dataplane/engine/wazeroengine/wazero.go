package wazeroengine

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

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
	// down to 64 KiB pages). A guest that grows past it traps.
	MemoryLimit uint64
	// CacheDir, if set, keeps compiled machine code and instrumented
	// modules on disk across restarts.
	CacheDir string
	// Interpreter selects wazero's interpreter instead of its compiler:
	// slower to run, much faster to compile. Useful for validation.
	Interpreter bool
	// PreInitialize runs each handler module's _initialize once, at
	// compile time, and starts every instance from a snapshot of the
	// result (as Wizer does): instantiation then maps the snapshot's
	// memory copy-on-write (on Linux; elsewhere it copies it) instead of
	// starting the guest's runtime. Every instance of a module
	// starts from the same state, including the guest runtime's own
	// random seed: math/rand sequences repeat across instances (crypto
	// randomness does not, it comes from the host on each call).
	PreInitialize bool
}

// DefaultConfig returns a 128 MiB memory cap, compiler, no disk cache.
func DefaultConfig() Config {
	return Config{MemoryLimit: 128 << 20}
}

// Validate reports every problem with c.
func (c Config) Validate() error {
	if err := engine.CheckMemoryLimit(c.MemoryLimit); err != nil {
		return fmt.Errorf("wazeroengine: %w", err)
	}
	return nil
}

// Engine is an engine.Engine backed by wazero. Modules are instrumented
// (dataplane/engine/internal/rewrite) so that a deadline stops them through a flag their
// loops check; the few the instrumenter cannot walk run on a second
// runtime whose compiled code checks for a closed module instead, which
// costs more per call.
type Engine struct {
	cfg     Config
	rt      wazero.Runtime // instrumented modules
	checked wazero.Runtime // the rest: wazero closes them when a call's context ends
	dog     *watchdog.Watchdog
	// memories holds instances' memory reservations for reuse.
	memories *memoryPool
	// instrumented keeps instrumented modules on disk (nil without a
	// CacheDir).
	instrumented *instrumentedCache
}

var _ engine.Engine = (*Engine)(nil)

// New creates an engine.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rc := wazero.NewRuntimeConfigCompiler()
	if cfg.Interpreter {
		rc = wazero.NewRuntimeConfigInterpreter()
	}
	rc = rc.WithMemoryLimitPages(uint32(cfg.MemoryLimit >> 16))
	if cfg.CacheDir != "" {
		cache, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wazeroengine: compilation cache: %w", err)
		}
		rc = rc.WithCompilationCache(cache)
	}
	e := &Engine{cfg: cfg, rt: wazero.NewRuntimeWithConfig(ctx, rc), checked: wazero.NewRuntimeWithConfig(ctx, rc.WithCloseOnContextDone(true)), dog: watchdog.New(),
		instrumented: newInstrumentedCache(cfg.CacheDir)}
	e.memories = newMemoryPool(e.memoryLimit())
	for _, rt := range []wazero.Runtime{e.rt, e.checked} {
		if err := instantiateWASI(ctx, rt); err != nil {
			e.Close(ctx)
			return nil, fmt.Errorf("wazeroengine: wasi: %w", err)
		}
		if err := instantiateHost(ctx, rt); err != nil {
			e.Close(ctx)
			return nil, fmt.Errorf("wazeroengine: host functions: %w", err)
		}
	}
	return e, nil
}

// memoryLimit is the configured cap in whole pages' bytes.
func (e *Engine) memoryLimit() int { return int(e.cfg.MemoryLimit &^ 0xffff) }

// Close releases every module compiled by e.
func (e *Engine) Close(ctx context.Context) error {
	e.dog.Close()
	err := errors.Join(e.rt.Close(ctx), e.checked.Close(ctx))
	e.memories.Close() // after the instances gave theirs back
	return err
}

// Compile implements engine.Engine.
func (e *Engine) Compile(ctx context.Context, wasm []byte) (engine.Module, error) {
	// wazero's decoder sizes what it reads by declared counts: a module of
	// a few bytes declaring billions of entries would exhaust memory.
	if err := rewrite.CheckBounds(wasm); err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	rt, interruptible := e.rt, true
	code, err := e.instrumented.instrument(wasm)
	if err != nil {
		// Not a module the instrumenter walks: wazero judges it, and if
		// it runs, it runs checked.
		rt, interruptible, code = e.checked, false, wasm
	}
	if e.cfg.PreInitialize && interruptible {
		if m, err := e.compileInitialized(ctx, code); err != nil || m != nil {
			return m, err
		}
		// A CGI module, or one whose initialization failed here: compiled
		// as without the option.
	}
	cm, err := rt.CompileModule(ctx, code)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	cgi, err := checkShape(cm)
	if err != nil {
		cm.Close(ctx)
		return nil, err
	}
	return &module{rt: rt, cm: cm, cgi: cgi, dog: e.dog, interruptible: interruptible, memories: e.memories}, nil
}

// compileInitialized compiles an instrumented module as a snapshot taken
// after its _initialize ran. The module with its globals exported is
// checked and run as the template; the module itself is never compiled.
// It returns nil and no error for a module to compile as usual: a CGI
// module, or one whose initialization fails here (its instances then
// fail the same way, each with the request that asked).
func (e *Engine) compileInitialized(ctx context.Context, code []byte) (engine.Module, error) {
	exported, names, err := rewrite.ExportGlobals(code)
	if err != nil {
		return nil, nil
	}
	tcm, err := e.rt.CompileModule(ctx, exported)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrInvalidModule, err)
	}
	defer tcm.Close(ctx)
	if cgi, err := checkShape(tcm); err != nil || cgi {
		return nil, err
	}
	snap, image, states, err := e.preInitialize(ctx, tcm, exported, names)
	if err != nil {
		return nil, nil
	}
	return &module{rt: e.rt, cm: snap, initialized: true, image: image, randomStates: states, dog: e.dog, interruptible: true, memories: e.memories}, nil
}

// preInitialize compiles the snapshot of the template tcm (the module
// with its globals exported) after its _initialize ran,
// in a deterministic environment (wazero's fixed clocks and random
// source), so that the snapshot's bytes, and their compilation cache
// entry, are the same in every process. Where it can, it keeps the
// snapshot's memory as an image to map rather than as data segments to
// copy: the module it compiles then starts with zeroed memory of the
// right size, and the image is nil otherwise.
func (e *Engine) preInitialize(ctx context.Context, tcm wazero.CompiledModule, exported []byte, names []string) (wazero.CompiledModule, *memoryImage, []int, error) {
	tmpl := &module{rt: e.rt, cm: tcm, dog: e.dog, interruptible: true, memories: e.memories}
	mc := wazero.NewModuleConfig().WithName("").WithNanosleep(sliceSleep)
	mod, _, err := tmpl.start(ctx, mc, abi.ExportInitialize, &guestio.TailWriter{})
	if err != nil {
		return nil, nil, nil, err
	}
	defer mod.Close(ctx)
	values := make([]uint64, len(names))
	for i, n := range names {
		values[i] = mod.ExportedGlobal(n).Get()
	}
	// The same initialization with another random source tells where the
	// runtime keeps its random generators: each instance gets its own.
	var states []int
	if other, _, err := tmpl.start(ctx, mc.WithRandSource(rewrite.OtherRandom(0x5a)), abi.ExportInitialize, &guestio.TailWriter{}); err == nil {
		a, _ := mod.Memory().Read(0, mod.Memory().Size())
		b, _ := other.Memory().Read(0, other.Memory().Size())
		states = rewrite.RandomStates(a, b)
		other.Close(ctx)
	}
	mem, _ := mod.Memory().Read(0, mod.Memory().Size())
	image, err := newMemoryImage(mem, e.memoryLimit())
	segments := make([]byte, len(mem)) // zeros: no data segments
	if err != nil {
		image, segments = nil, bytes.Clone(mem)
	}
	snap, err := rewrite.Snapshot(exported, values, segments)
	if err == nil {
		var cm wazero.CompiledModule
		if cm, err = e.rt.CompileModule(ctx, snap); err == nil {
			return cm, image, states, nil
		}
	}
	if image != nil {
		image.Close()
	}
	return nil, nil, nil, err
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

// exports lists the functions ABI v1 requires, with their signatures.
var exports = []struct {
	name            string
	params, results []api.ValueType
}{
	{abi.ExportVersion, nil, []api.ValueType{i32}},
	{abi.ExportAlloc, []api.ValueType{i32}, []api.ValueType{i32}},
	{abi.ExportHandle, []api.ValueType{i32, i32}, []api.ValueType{i64}},
}

// checkShape refuses modules that import anything but WASI or are neither
// kind of handler, before any of their code runs: an ABI module exports
// the handler functions; a CGI (WAGI) module is a WASI command exporting
// _start and nothing of the ABI.
func checkShape(cm wazero.CompiledModule) (cgi bool, err error) {
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		switch {
		case mod == wasi_snapshot_preview1.ModuleName:
		case mod == abi.ImportModule && wasishim.HostFunc(name, kindsOf(imp.ParamTypes()), kindsOf(imp.ResultTypes())):
		default:
			return false, fmt.Errorf("%w: imports %s.%s; handler modules may import only %s and the functions of %s that docs/abi.md lists, as it lists them",
				engine.ErrInvalidModule, mod, name, wasi_snapshot_preview1.ModuleName, abi.ImportModule)
		}
	}
	fns := cm.ExportedFunctions()
	if start, ok := fns[exportStart]; ok {
		if _, abiToo := fns[abi.ExportHandle]; !abiToo {
			if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
				return false, fmt.Errorf("%w: export %s has the wrong signature", engine.ErrInvalidModule, exportStart)
			}
			return true, nil
		}
	}
	for _, want := range exports {
		fn, ok := fns[want.name]
		if !ok {
			return false, fmt.Errorf("%w: no exported function %s: build with the Nanoedge guest SDK and -buildmode=c-shared, or as a WASI command (_start) for CGI", engine.ErrInvalidModule, want.name)
		}
		if !slices.Equal(fn.ParamTypes(), want.params) || !slices.Equal(fn.ResultTypes(), want.results) {
			return false, fmt.Errorf("%w: export %s has the wrong signature", engine.ErrInvalidModule, want.name)
		}
	}
	return false, nil
}

// exportStart is a WASI command's entry point.
const exportStart = "_start"

type module struct {
	rt  wazero.Runtime
	cm  wazero.CompiledModule
	cgi bool // a WASI command run once per request (WAGI)
	dog *watchdog.Watchdog
	// interruptible: instrumented, stopped through its interrupt global.
	interruptible bool
	// initialized: cm is a snapshot taken after _initialize.
	initialized bool
	// image, if not nil, holds the snapshot's memory, which cm lacks.
	image *memoryImage
	// memories reserves the memory of instances without an image.
	memories *memoryPool
	// randomStates are the offsets of the Go runtime's random generators
	// in a snapshot's memory (rewrite.RandomStates), refilled for each
	// instance.
	randomStates []int
}

func (m *module) Close(ctx context.Context) error {
	if m.image != nil {
		m.image.Close()
	}
	return m.cm.Close(ctx)
}

// RenewAfter implements engine.Renewer. An instance of a snapshot whose
// memory is an image maps it copy-on-write and starts in about 0.5 ms.
func (m *module) RenewAfter() int {
	if m.image != nil {
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
		entry = "" // the snapshot holds its effects
	}
	mc := moduleConfig(stderr).WithStdout(guestio.OrDiscard(cfg.Stdout))
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		mc = mc.WithEnv(k, v)
	}
	mod, stop, err := m.start(ctx, mc, entry, stderr)
	if err != nil {
		return nil, err
	}
	if err := reseed(mod.Memory(), m.randomStates); err != nil {
		mod.Close(ctx)
		return nil, err
	}
	inst := &instance{
		mod:       mod,
		alloc:     mod.ExportedFunction(abi.ExportAlloc),
		handle:    mod.ExportedFunction(abi.ExportHandle),
		stderr:    stderr,
		interrupt: stop,
	}
	stack := []uint64{0}
	if err := interruptible(ctx, stop, func(ctx context.Context) error {
		return mod.ExportedFunction(abi.ExportVersion).CallWithStack(ctx, stack)
	}); err != nil {
		mod.Close(ctx)
		return nil, classify(err, stderr)
	}
	if v := api.DecodeI32(stack[0]); v != abi.Version {
		mod.Close(ctx)
		return nil, fmt.Errorf("%w: module speaks ABI version %d; this worker speaks %d", engine.ErrInvalidModule, v, abi.Version)
	}
	return inst, nil
}

// reseed gives an instance of a snapshot random generators of its own.
func reseed(mem api.Memory, offsets []int) error {
	var fresh [rewrite.RandomStateSize]byte
	for _, off := range offsets {
		rand.Read(fresh[:])
		if mem == nil || !mem.Write(uint32(off), fresh[:]) {
			return fmt.Errorf("%w: random state at %d lies outside the snapshot's memory", engine.ErrInvalidModule, off)
		}
	}
	return nil
}

// moduleConfig is what every instance gets: clocks, sliced sleeps, random
// bytes, stderr; no arguments, environment, files or stdin.
func moduleConfig(stderr io.Writer) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithName(""). // anonymous: many instances of one module coexist
		WithStderr(stderr).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(sliceSleep).
		WithRandSource(rand.Reader)
}

type instance struct {
	mod           api.Module
	alloc, handle api.Function
	stderr        *guestio.TailWriter
	interrupt     *interrupt // nil: wazero watches each call's context
	stack         [2]uint64
	out           []byte
}

func (i *instance) MemorySize() uint64 { return uint64(i.mod.Memory().Size()) }

func (i *instance) Close(ctx context.Context) error { return i.mod.Close(ctx) }

// Handle implements engine.Instance.
func (i *instance) Handle(ctx context.Context, req []byte) ([]byte, error) {
	var out []byte
	err := interruptible(ctx, i.interrupt, func(ctx context.Context) (err error) {
		out, err = i.handleCall(ctx, req)
		return err
	})
	return out, err
}

// start instantiates m and runs its entry point, if it exports one,
// under ctx.
func (m *module) start(ctx context.Context, mc wazero.ModuleConfig, entry string, stderr *guestio.TailWriter) (api.Module, *interrupt, error) {
	if !m.interruptible {
		mod, err := m.rt.InstantiateModule(ctx, m.cm, mc.WithStartFunctions(entry))
		if err != nil {
			return nil, nil, classify(err, stderr)
		}
		return mod, nil, nil
	}
	ictx := ctx
	var mem *mappedMemory
	var err error
	if m.image != nil {
		mem, err = m.image.mapping()
	} else {
		mem, err = m.memories.get()
	}
	if err != nil {
		return nil, nil, err
	}
	if mem != nil {
		ictx = experimental.WithMemoryAllocator(ctx, mem)
	}
	mod, err := m.rt.InstantiateModule(ictx, m.cm, mc.WithStartFunctions())
	if err != nil {
		if mem != nil {
			mem.Free() // wazero frees it only with an instance
		}
		return nil, nil, classify(err, stderr)
	}
	if mem != nil && mod.Memory() == nil {
		mem.Free() // a module without memory never took it
	}
	flag, ok1 := mod.ExportedGlobal(rewrite.GlobalName).(api.MutableGlobal)
	countdown, ok2 := mod.ExportedGlobal(rewrite.CountdownName).(api.MutableGlobal)
	if !ok1 || !ok2 {
		mod.Close(ctx)
		return nil, nil, fmt.Errorf("%w: instrumented module lacks %s or %s", engine.ErrInvalidModule, rewrite.GlobalName, rewrite.CountdownName)
	}
	stop := &interrupt{flag: flag, countdown: countdown}
	stop.watch = m.dog.NewWatch(stop.raise)
	if fn := mod.ExportedFunction(entry); fn != nil {
		err := interruptible(ctx, stop, func(ctx context.Context) error {
			_, err := fn.Call(ctx)
			return err
		})
		var exit *sys.ExitError
		if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) { // exit(0) is a clean end
			mod.Close(ctx)
			return nil, nil, classify(err, stderr)
		}
	}
	return mod, stop, nil
}

// interrupt is an instrumented instance's pair of globals (see
// rewrite.Instrument), and its standing with the engine's watchdog.
type interrupt struct {
	flag, countdown api.MutableGlobal
	watch           *watchdog.Watch
}

// raise makes the guest trap at its next function call or loop iteration.
func (i *interrupt) raise() {
	i.flag.Set(1)
	i.countdown.Set(0)
}

// interruptible runs call. For an instrumented instance the engine's
// watchdog raises the instance's interrupt when ctx ends, which traps the
// guest at its next call or loop iteration, and that is reported as
// ErrDeadline; the instance is unusable afterwards. The call itself gets
// a context with none of ctx's values but its engine.Call: wazero asks its
// context for values on every call, which would arm a lazy deadline's
// timer. Otherwise wazero watches ctx itself.
func interruptible(ctx context.Context, it *interrupt, call func(context.Context) error) error {
	if it == nil {
		return call(ctx)
	}
	return it.watch.Call(ctx, func() error { return call(engine.WithCall(context.Background(), engine.CallFrom(ctx))) })
}

func (i *instance) handleCall(ctx context.Context, req []byte) ([]byte, error) {
	i.stack[0] = uint64(len(req))
	if err := i.alloc.CallWithStack(ctx, i.stack[:]); err != nil {
		return nil, classify(err, i.stderr)
	}
	ptr := uint32(i.stack[0])
	if len(req) > 0 && (ptr == 0 || !i.mod.Memory().Write(ptr, req)) {
		return nil, fmt.Errorf("%w: %s returned a buffer outside guest memory", engine.ErrBadResponse, abi.ExportAlloc)
	}
	i.stack[0], i.stack[1] = uint64(ptr), uint64(len(req))
	if err := i.handle.CallWithStack(ctx, i.stack[:]); err != nil {
		return nil, classify(err, i.stderr)
	}
	p, n := uint32(i.stack[0]>>32), uint32(i.stack[0])
	view, ok := i.mod.Memory().Read(p, n)
	if !ok {
		return nil, fmt.Errorf("%w: response at %d+%d lies outside guest memory", engine.ErrBadResponse, p, n)
	}
	i.out = append(i.out[:0], view...)
	return i.out, nil
}

// classify turns a wazero call error into the engine's sentinels.
func classify(err error, stderr *guestio.TailWriter) error {
	if errors.Is(err, engine.ErrDeadline) || errors.Is(err, engine.ErrTrap) {
		return err // classified already
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return fmt.Errorf("%w: %v", engine.ErrDeadline, err)
		}
		return fmt.Errorf("%w: exit code %d%s", engine.ErrTrap, exit.ExitCode(), stderr.Suffix())
	}
	return fmt.Errorf("%w: %v%s", engine.ErrTrap, err, stderr.Suffix())
}

// maxSleepSlice bounds one host sleep. A guest's sleep returns to guest code
// at least this often, where wazero notices a closed context: a guest that
// sleeps for an hour is still stopped at its deadline.
const maxSleepSlice = 5 * time.Millisecond

func sliceSleep(ns int64) { time.Sleep(min(time.Duration(ns), maxSleepSlice)) }

// Validator checks that bytes are a handler module without running them. It
// compiles with wazero's interpreter, which validates every function body
// at a fraction of the compiler's cost.
type Validator struct {
	e  *Engine
	mu sync.RWMutex // Close waits for validations still compiling
}

// NewValidator returns a Validator; Close it when done.
func NewValidator(ctx context.Context) (*Validator, error) {
	cfg := DefaultConfig()
	cfg.Interpreter = true
	e, err := New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &Validator{e: e}, nil
}

// Validate returns an error wrapping engine.ErrInvalidModule if wasm is not
// a module this engine would run.
func (v *Validator) Validate(ctx context.Context, wasm []byte) error {
	v.mu.RLock()
	defer v.mu.RUnlock()
	m, err := v.e.Compile(ctx, wasm)
	if err != nil {
		return err
	}
	return m.Close(ctx)
}

// Close releases the validator.
func (v *Validator) Close(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.e.Close(ctx)
}

// instantiateHost offers rt's modules the functions of abi.ImportModule.
func instantiateHost(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	for i := range wasishim.Host {
		exportShim(b, &wasishim.Host[i], true)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// instantiateWASI offers rt's modules wazero's WASI, but for poll_oneoff,
// the shim's: a guest's sleep then waits through its request's
// engine.Call, outside the worker's CPU share.
func instantiateWASI(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(wasi_snapshot_preview1.ModuleName)
	wasi_snapshot_preview1.NewFunctionExporter().ExportFunctions(b)
	for i := range wasishim.Funcs {
		if f := &wasishim.Funcs[i]; f.Name == "poll_oneoff" {
			exportShim(b, f, false)
		}
	}
	_, err := b.Instantiate(ctx)
	return err
}

// exportShim exports f to b, calling it with the engine.Call of the call's
// context; a Host function (traps) traps on a bad pointer.
func exportShim(b wazero.HostModuleBuilder, f *wasishim.Func, traps bool) {
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		var mem []byte
		if m := mod.Memory(); m != nil {
			mem, _ = m.Read(0, m.Size())
		}
		sys := &wasishim.System{Call: engine.CallFrom(ctx)}
		call := f.Call
		if traps {
			call = f.CallHost
		}
		res, err := call(sys, mem, stack[:len(f.Params)])
		if err != nil {
			panic(err) // wazero makes it the call's error: a trap
		}
		stack[0] = uint64(res)
	}), valueTypes(f.Params), valueTypes(f.Results)).Export(f.Name)
}

func valueTypes(ks []wasishim.Kind) []api.ValueType {
	out := make([]api.ValueType, len(ks))
	for i, k := range ks {
		out[i] = i32
		if k == wasishim.I64 {
			out[i] = i64
		}
	}
	return out
}

func kindsOf(ts []api.ValueType) []wasishim.Kind {
	out := make([]wasishim.Kind, len(ts))
	for i, t := range ts {
		out[i] = wasishim.I32
		if t == i64 {
			out[i] = wasishim.I64
		} else if t != i32 {
			out[i] = wasishim.Kind(255) // matches no host function
		}
	}
	return out
}
