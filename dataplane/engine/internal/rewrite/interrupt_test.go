package rewrite

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
)

// spin is a module with a memory, exporting "spin", a function that
// loops forever: (func (export "spin") (loop (br 0))).
var spin = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type: () -> ()
	"\x03\x02\x01\x00" + // function 0 has type 0
	"\x05\x03\x01\x00\x01" + // one memory of one page
	"\x07\x08\x01\x04spin\x00\x00" + // export "spin" = function 0
	"\x0a\x09\x01\x07\x00\x03\x40\x0c\x00\x0b\x0b") // body: loop br 0 end end

func TestInterruptStopsALoop(t *testing.T) {
	ctx := context.Background()
	wasm, err := Instrument(spin)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		t.Fatal(err)
	}
	g, ok := mod.ExportedGlobal(GlobalName).(api.MutableGlobal)
	if !ok {
		t.Fatalf("no mutable global %s", GlobalName)
	}
	done := make(chan error, 1)
	go func() { _, err := mod.ExportedFunction("spin").Call(ctx); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("spin returned before the interrupt: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	// The loop yields: the garbage collector can stop the world while the
	// guest spins (compiled code Go cannot preempt otherwise), and so can
	// the goroutine that raises the flag run.
	collected := make(chan struct{})
	go func() { runtime.GC(); close(collected) }()
	select {
	case <-collected:
	case <-time.After(5 * time.Second):
		t.Fatal("a garbage collection could not stop the spinning guest")
	}
	g.Set(1)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("exp a trap, got %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the interrupt did not stop the loop")
	}
}

// ticker imports env.tick and exports "spin", a loop that calls it
// forever: (loop (call $tick) (br 0)).
var ticker = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type: () -> ()
	"\x02\x0c\x01\x03env\x04tick\x00\x00" + // import env.tick, type 0
	"\x03\x02\x01\x00" + // function 1 has type 0
	"\x05\x03\x01\x00\x01" + // one memory of one page
	"\x07\x08\x01\x04spin\x00\x01" + // export "spin" = function 1
	"\x0a\x0b\x01\x09\x00\x03\x40\x10\x00\x0c\x00\x0b\x0b") // loop call 0 br 0 end end

// TestInterruptTakesEffect counts the iterations a loop runs after the
// host acts, from inside the loop so that the count is exact.
func TestInterruptTakesEffect(t *testing.T) {
	tests := []struct {
		name string
		// act runs at each tick; the loop must then trap by tick max.
		act      func(t *testing.T, tick int, flag, countdown api.MutableGlobal)
		min, max int
	}{
		{"flag and countdown: the next iteration", func(t *testing.T, tick int, flag, countdown api.MutableGlobal) {
			if tick == 100 {
				flag.Set(1)
				countdown.Set(0)
			}
		}, 100, 100},
		{"flag alone: within YieldInterval iterations", func(t *testing.T, tick int, flag, _ api.MutableGlobal) {
			if tick == 100 {
				flag.Set(1)
			}
		}, 101, 100 + YieldInterval},
		{"countdown alone: counting starts again", func(t *testing.T, tick int, flag, countdown api.MutableGlobal) {
			switch tick {
			case 100:
				countdown.Set(0)
			case 150: // reset at iteration 101, counted down since
				if got := countdown.Get(); got != YieldInterval-49 {
					t.Errorf("countdown %d at iteration 150, exp %d", got, YieldInterval-49)
				}
			case 200:
				flag.Set(1)
				countdown.Set(0)
			}
		}, 200, 200},
	}
	ctx := context.Background()
	wasm, err := Instrument(ticker)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			var guest api.Module
			ticks := 0
			_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().WithFunc(func(context.Context) {
				ticks++
				tt.act(t, ticks, guest.ExportedGlobal(GlobalName).(api.MutableGlobal), guest.ExportedGlobal(CountdownName).(api.MutableGlobal))
			}).Export("tick").Instantiate(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if guest, err = rt.Instantiate(ctx, wasm); err != nil {
				t.Fatal(err)
			}
			_, err = guest.ExportedFunction("spin").Call(ctx)
			if err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Fatalf("exp a trap, got %v", err)
			}
			if ticks < tt.min || ticks > tt.max {
				t.Fatalf("trapped after %d iterations, exp %d to %d", ticks, tt.min, tt.max)
			}
		})
	}
}

// TestInstrumentedModulesRun: real modules, Go and C, still validate once
// instrumented (wazero's interpreter validates every body; the engine's
// tests run them compiled).
func TestInstrumentedModulesRun(t *testing.T) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	instantiateNoEdge(t, rt)
	for _, m := range []struct {
		name string
		wasm []byte
	}{
		{"hello (Go)", guests.Build(t, guests.Hello)},
		{"misbehave (Go)", guests.Build(t, guests.Misbehave)},
		{"echo (C)", guests.BuildC(t, guests.CEcho)},
	} {
		t.Run(m.name, func(t *testing.T) {
			wasm, err := Instrument(m.wasm)
			if err != nil {
				t.Fatal(err)
			}
			cm, err := rt.CompileModule(ctx, wasm)
			if err != nil {
				t.Fatalf("instrumented module does not compile: %v", err)
			}
			defer cm.Close(ctx)
			mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
			if err != nil {
				t.Fatal(err)
			}
			defer mod.Close(ctx)
			if _, ok := mod.ExportedGlobal(GlobalName).(api.MutableGlobal); !ok {
				t.Fatalf("no mutable %s export", GlobalName)
			}
			for name := range wazeroExports(t, rt, m.wasm) {
				if _, ok := cm.ExportedFunctions()[name]; !ok {
					t.Fatalf("export %s lost", name)
				}
			}
		})
	}
}

func wazeroExports(t *testing.T, rt wazero.Runtime, wasm []byte) map[string]api.FunctionDefinition {
	cm, err := rt.CompileModule(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	defer cm.Close(context.Background())
	return cm.ExportedFunctions()
}

func TestInstrumentRefuses(t *testing.T) {
	tests := []struct {
		name string
		wasm []byte
		err  error
	}{
		{"not wasm", []byte("hello"), ErrMalformed},
		{"truncated section", []byte("\x00asm\x01\x00\x00\x00\x01\x10\x01"), ErrMalformed},
		{"no memory", []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x09\x01\x07\x00\x03\x40\x0c\x00\x0b\x0b"), ErrUnsupported},
		{"SIMD", []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x06\x01\x04\x00\xfd\x00\x0b"), ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Instrument(tt.wasm); !errors.Is(err, tt.err) {
				t.Fatalf("exp %v, got %v", tt.err, err)
			}
		})
	}
}

// FuzzInstrument: no input makes Instrument panic, and what it accepts
// from a module wazero compiles, wazero compiles too.
func FuzzInstrument(f *testing.F) {
	f.Add(spin)
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, wasm []byte) {
		out, err := Instrument(wasm)
		if err != nil || CheckBounds(wasm) != nil { // as engines do, before wazero sees it
			return
		}
		if cm, err := rt.CompileModule(ctx, wasm); err == nil {
			cm.Close(ctx)
			cm2, err := rt.CompileModule(ctx, out)
			if err != nil {
				t.Fatalf("original compiles, instrumented does not: %v", err)
			}
			cm2.Close(ctx)
		}
	})
}

func TestCapMemory(t *testing.T) {
	ctx := context.Background()
	// (memory 1) exported as "memory", with no maximum.
	mem := []byte("\x00asm\x01\x00\x00\x00\x05\x03\x01\x00\x01\x07\x0a\x01\x06memory\x02\x00")
	capped, err := CapMemory(mem, 4)
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, capped)
	if err != nil {
		t.Fatal(err)
	}
	m := mod.ExportedMemory("memory")
	if max, ok := m.Definition().Max(); !ok || max != 4 {
		t.Fatalf("max %d %v, want 4", max, ok)
	}
	if _, ok := m.Grow(3); !ok {
		t.Fatal("growing to the cap failed")
	}
	if _, ok := m.Grow(1); ok {
		t.Fatal("grew past the cap")
	}
	if _, err := CapMemory(mem, 0); !errors.Is(err, ErrTooMuchMemory) {
		t.Fatalf("a module needing more than the cap: %v", err)
	}
}

// recurse exports "spin", which calls env.started, then computes fib(63)
// by plain recursion: a runaway without a single loop.
var recurse = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x09\x02\x60\x01\x7f\x01\x7f\x60\x00\x00" + // types: (i32) -> i32, () -> ()
	"\x02\x0f\x01\x03env\x07started\x00\x01" + // import env.started, type 1
	"\x03\x03\x02\x00\x01" + // fib (1) has type 0, spin (2) type 1
	"\x05\x03\x01\x00\x01" + // one memory of one page
	"\x07\x08\x01\x04spin\x00\x02" + // export "spin" = function 2
	"\x0a\x28\x02" +
	// fib: n < 2 ? n : fib(n-1) + fib(n-2)
	"\x1c\x00\x20\x00\x41\x02\x48\x04\x7f\x20\x00\x05" +
	"\x20\x00\x41\x01\x6b\x10\x01\x20\x00\x41\x02\x6b\x10\x01\x6a\x0b\x0b" +
	// spin: started(); drop fib(63)
	"\x09\x00\x10\x00\x41\x3f\x10\x01\x1a\x0b")

// recurseAfterBlock is recurse with a count that a branch skips: f(n)
// calls g inside a block that br_if always leaves first, then itself
// twice. The count before g dominates nothing after the block.
var recurseAfterBlock = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x08\x02\x60\x01\x7f\x00\x60\x00\x00" + // types: (i32) -> (), () -> ()
	"\x02\x0f\x01\x03env\x07started\x00\x01" + // import env.started, type 1
	"\x03\x04\x03\x00\x01\x01" + // f (1): type 0; g (2), spin (3): type 1
	"\x05\x03\x01\x00\x01" + // one memory of one page
	"\x07\x08\x01\x04spin\x00\x03" + // export "spin" = function 3
	"\x0a\x2c\x03" +
	// f: if n { block; br_if 0 (1); call g; end; f(n-1); f(n-1) }
	"\x1e\x00\x20\x00\x04\x40\x02\x40\x41\x01\x0d\x00\x10\x02\x0b" +
	"\x20\x00\x41\x01\x6b\x10\x01\x20\x00\x41\x01\x6b\x10\x01\x0b\x0b" +
	"\x02\x00\x0b" + // g: nothing
	"\x08\x00\x10\x00\x41\x3f\x10\x01\x0b") // spin: started(); f(63)

// TestInterruptStopsRecursion: a guest that never loops but calls itself
// is stopped too, since an invocation counts before its first call. The
// flag is raised once the guest is running.
func TestInterruptStopsRecursion(t *testing.T) {
	ctx := context.Background()
	for name, module := range map[string][]byte{"recurse": recurse, "recurse after a skipped count": recurseAfterBlock} {
		t.Run(name, func(t *testing.T) {
			wasm, err := Instrument(module)
			if err != nil {
				t.Fatal(err)
			}
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			started := make(chan struct{})
			if _, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
				WithFunc(func(context.Context) { close(started) }).Export("started").Instantiate(ctx); err != nil {
				t.Fatal(err)
			}
			mod, err := rt.Instantiate(ctx, wasm)
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := mod.ExportedFunction("spin").Call(ctx); done <- err }()
			<-started
			mod.ExportedGlobal(GlobalName).(api.MutableGlobal).Set(1)
			mod.ExportedGlobal(CountdownName).(api.MutableGlobal).Set(0)
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("exp a trap, got %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the interrupt did not stop the recursion")
			}
		})
	}
}
