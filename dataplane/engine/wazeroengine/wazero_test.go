package wazeroengine

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/testing/enginetest"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

func newEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

// TestEngineSuite holds the wazero engine to what every engine must do.
func TestEngineSuite(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) engine.Engine {
		cfg := testConfig()
		cfg.MemoryLimit = enginetest.MemoryLimit
		e, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

// TestEngineSuitePreInitialized: instances started from snapshots taken
// after _initialize behave the same.
func TestEngineSuitePreInitialized(t *testing.T) {
	enginetest.Run(t, func(t *testing.T) engine.Engine {
		cfg := testConfig()
		cfg.MemoryLimit, cfg.PreInitialize = enginetest.MemoryLimit, true
		e, err := New(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
}

// TestCompileRefusesMemoryBomb: a module declaring more memory than the
// limit is refused before it runs.
func TestCompileRefusesMemoryBomb(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	_, err := e.Compile(context.Background(), []byte("\x00asm\x01\x00\x00\x00\x05\x05\x01\x00\x80\x80\x04"))
	if !errors.Is(err, engine.ErrInvalidModule) || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("exp ErrInvalidModule about memory, got %v", err)
	}
}

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.CacheDir = guests.CacheDir()
	return cfg
}

// FuzzValidate: the validator refuses or accepts any bytes without
// panicking, and everything it accepts has the handler exports.
func FuzzValidate(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(enginetest.ModuleImporting("env", "f"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x05\x05\x01\x00\x80\x80\x04"))
	v, err := NewValidator(context.Background())
	if err != nil {
		f.Fatal(err)
	}
	defer v.Close(context.Background())
	f.Fuzz(func(t *testing.T, wasm []byte) {
		err := v.Validate(context.Background(), wasm)
		if err != nil && !errors.Is(err, engine.ErrInvalidModule) {
			t.Fatalf("exp ErrInvalidModule, got %v", err)
		}
		if err == nil {
			t.Fatalf("accepted %d random bytes as a handler module", len(wasm))
		}
	})
}

// BenchmarkDeadlineEnforcement measures what stopping runaway guests
// costs a request to the hello handler, each call with a deadline: the
// engine as workers run it (instrumented loops checking an interrupt flag
// raised by a callback on the context), wazero's own mechanism (compiled
// checks for a closed module and a goroutine watching each call's
// context), and no enforcement at all, which could not stop a runaway
// guest.
func BenchmarkDeadlineEnforcement(b *testing.B) {
	ctx := context.Background()
	wasm := guests.Build(b, guests.Hello)
	req := abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "/hello", Host: "bench", Header: http.Header{}})
	e := newEngine(b, testConfig())
	unchecked := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(mustCache(b)))
	wasi_snapshot_preview1.MustInstantiate(ctx, unchecked)
	b.Cleanup(func() { unchecked.Close(ctx) })
	compileOn := func(rt wazero.Runtime) engine.Module {
		cm, err := rt.CompileModule(ctx, wasm)
		if err != nil {
			b.Fatal(err)
		}
		return &module{rt: rt, cm: cm}
	}
	instrumented, err := e.Compile(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		m    engine.Module
	}{
		{"interrupt-flag", instrumented},
		{"wazero-close-on-done", compileOn(e.checked)},
		{"none", compileOn(unchecked)},
	} {
		b.Cleanup(func() { bc.m.Close(ctx) })
		b.Run(bc.name, func(b *testing.B) {
			inst, err := bc.m.Instantiate(ctx, engine.InstanceConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer inst.Close(ctx)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if _, err := inst.Handle(cctx, req); err != nil {
					b.Fatal(err)
				}
				cancel()
			}
		})
	}
}

func mustCache(b *testing.B) wazero.CompilationCache {
	c, err := wazero.NewCompilationCacheWithDir(guests.CacheDir())
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkEngine(b *testing.B) {
	enginetest.Bench(b, newEngine(b, testConfig()))
}

func BenchmarkEnginePreInitialized(b *testing.B) {
	cfg := testConfig()
	cfg.PreInitialize = true
	enginetest.Bench(b, newEngine(b, cfg))
}

// TestSnapshotMemoryIsShared: instances of a pre-initialized module map
// the snapshot's memory copy-on-write, so a new instance adds to the
// process only what it writes, not the snapshot; the module advises
// renewal for that reason (engine.Renewer). Without pre-initialization
// there is no advice.
func TestSnapshotMemoryIsShared(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("memory images need Linux")
	}
	ctx := context.Background()
	wasm := guests.Build(t, guests.Hello)
	compile := func(pre bool) engine.Module {
		cfg := testConfig()
		cfg.PreInitialize = pre
		m, err := newEngine(t, cfg).Compile(ctx, wasm)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close(ctx) })
		return m
	}
	if got := compile(false).(engine.Renewer).RenewAfter(); got != 0 {
		t.Fatalf("not pre-initialized: RenewAfter %d, exp 0", got)
	}
	m := compile(true)
	if got := m.(engine.Renewer).RenewAfter(); got != engine.RenewSnapshotsAfter {
		t.Fatalf("pre-initialized: RenewAfter %d, exp %d", got, engine.RenewSnapshotsAfter)
	}

	const n = 32
	insts := make([]engine.Instance, 0, n)
	t.Cleanup(func() {
		for _, inst := range insts {
			inst.Close(ctx)
		}
	})
	debug.FreeOSMemory()
	before, ok := enginetest.ResidentBytes()
	if !ok {
		t.Skip("no /proc/self/statm")
	}
	for i := 0; i < n; i++ {
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, inst)
	}
	after, _ := enginetest.ResidentBytes()
	perInstance := (after - before) / n
	snapshot := int64(insts[0].MemorySize())
	t.Logf("%d KiB resident per new instance, snapshot memory %d KiB", perInstance>>10, snapshot>>10)
	if perInstance > snapshot/4 {
		t.Fatalf("each new instance added %d KiB to the process, exp well under its %d KiB of memory", perInstance>>10, snapshot>>10)
	}
	// Each instance still has its own copy of what it writes.
	resp, err := enginetest.Call(ctx, insts[0], "GET", "/hello", nil)
	if err != nil || resp.Status != 200 {
		t.Fatalf("request on a mapped instance: %v %v", resp, err)
	}
}

// An instance's linear memory grows in place, within address space
// reserved up to the cap, instead of being copied to a larger slice at
// each growth (which made a guest growing to its cap quadratic); past the
// cap it does not grow.
func TestMemoryGrowsInPlace(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reserved memory needs Linux")
	}
	ctx := context.Background()
	wasm := guests.Build(t, guests.Hello)
	for _, pre := range []bool{false, true} {
		t.Run(map[bool]string{false: "initialized", true: "pre-initialized"}[pre], func(t *testing.T) {
			cfg := testConfig()
			cfg.MemoryLimit = 64 << 20
			cfg.PreInitialize = pre
			m, err := newEngine(t, cfg).Compile(ctx, wasm)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close(ctx) })
			inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { inst.Close(ctx) })
			mem := inst.(*instance).mod.Memory()
			base := func() *byte { b, _ := mem.Read(0, 1); return &b[0] }
			before, size := base(), mem.Size()
			free := (uint32(cfg.MemoryLimit) - size) >> 16
			if _, ok := mem.Grow(free); !ok {
				t.Fatalf("growing %d pages to the cap failed", free)
			}
			if base() != before {
				t.Fatal("memory moved as it grew")
			}
			if !mem.WriteByte(mem.Size()-1, 7) {
				t.Fatal("the last grown byte is not writable")
			}
			if b, _ := mem.ReadByte(size); b != 0 {
				t.Fatalf("grown memory reads %d, exp 0", b)
			}
			if _, ok := mem.Grow(1); ok {
				t.Fatal("memory grew past its cap")
			}
			if resp, err := enginetest.Call(ctx, inst, "GET", "/hello", nil); err != nil || resp.Status != 200 {
				t.Fatalf("request after growing: %v %v", resp, err)
			}
		})
	}
}

// A closed instance's memory reservation serves the next instance, which
// finds none of what the first one left there.
func TestReusedMemoryIsZeroed(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reserved memory needs Linux")
	}
	ctx := context.Background()
	m, err := newEngine(t, testConfig()).Compile(ctx, guests.Build(t, guests.Hello))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(ctx) })
	const grow, marker = 16, 0xa5 // pages, byte
	var firstBase *byte
	for i := range 2 {
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		mem := inst.(*instance).mod.Memory()
		top, ok := mem.Grow(grow)
		if !ok {
			t.Fatal("grow failed")
		}
		grown, _ := mem.Read(top<<16, grow<<16)
		if b, _ := mem.Read(0, 1); i == 0 {
			firstBase = &b[0]
		} else if &b[0] != firstBase {
			t.Fatal("the second instance did not reuse the first one's reservation")
		}
		for j, b := range grown {
			if b != 0 {
				t.Fatalf("instance %d: grown byte %d reads %#x, exp 0", i, j, b)
			}
		}
		for j := range grown {
			grown[j] = marker
		}
		if resp, err := enginetest.Call(ctx, inst, "GET", "/hello", nil); err != nil || resp.Status != 200 {
			t.Fatalf("instance %d: %v %v", i, resp, err)
		}
		inst.Close(ctx)
	}
}
