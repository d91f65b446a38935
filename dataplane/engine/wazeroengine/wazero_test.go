package wazeroengine

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/abi"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
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

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.CacheDir = wasmtest.CacheDir()
	return cfg
}

func compile(t *testing.T, e *Engine, rel string) engine.Module {
	t.Helper()
	ctx := context.Background()
	m, err := e.Compile(ctx, wasmtest.Build(t, rel))
	if err != nil {
		t.Fatalf("compile %s: %v", rel, err)
	}
	t.Cleanup(func() { m.Close(ctx) })
	return m
}

func instantiate(t *testing.T, m engine.Module, stderr *bytes.Buffer) engine.Instance {
	t.Helper()
	ctx := context.Background()
	cfg := engine.InstanceConfig{}
	if stderr != nil {
		cfg.Stderr = stderr
	}
	inst, err := m.Instantiate(ctx, cfg)
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	t.Cleanup(func() { inst.Close(ctx) })
	return inst
}

func call(ctx context.Context, inst engine.Instance, method, uri string, body []byte) (abi.Response, error) {
	req := abi.AppendRequest(nil, &abi.Request{Method: method, URI: uri, Host: "test", Header: http.Header{}, Body: body})
	out, err := inst.Handle(ctx, req)
	if err != nil {
		return abi.Response{}, err
	}
	return abi.DecodeResponse(out)
}

func TestCompileRefusesInvalidModules(t *testing.T) {
	e := newEngine(t, DefaultConfig())
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), "invalid magic number"},
		{"empty module", []byte("\x00asm\x01\x00\x00\x00"), "no exported function nanoedge_abi_version"},
		{"truncated", []byte("\x00asm\x01\x00\x00"), "invalid"},
		{"foreign import", moduleImporting("env", "escape"), "imports env.escape"},
		{"memory bomb declared", []byte("\x00asm\x01\x00\x00\x00\x05\x05\x01\x00\x80\x80\x04"), "memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Compile(context.Background(), tt.wasm)
			if !errors.Is(err, engine.ErrInvalidModule) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exp ErrInvalidModule mentioning %q, got %v", tt.want, err)
			}
		})
	}
}

// moduleImporting is a minimal module importing one function () -> ().
func moduleImporting(mod, name string) []byte {
	b := []byte("\x00asm\x01\x00\x00\x00")
	b = append(b, 1, 4, 1, 0x60, 0, 0) // type section: one func type () -> ()
	imp := []byte{1, byte(len(mod))}
	imp = append(imp, mod...)
	imp = append(imp, byte(len(name)))
	imp = append(imp, name...)
	imp = append(imp, 0, 0) // func, type 0
	b = append(b, 2, byte(len(imp)))
	return append(b, imp...)
}

func TestEchoRoundTrip(t *testing.T) {
	e := newEngine(t, testConfig())
	inst := instantiate(t, compile(t, e, wasmtest.Echo), nil)
	body := bytes.Repeat([]byte{0, 1, 2, 0xff}, 64<<10)
	for i := 0; i < 3; i++ { // the instance stays usable across calls
		resp, err := call(context.Background(), inst, "PUT", "/a/b?x=1&set=X-Out:v", body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 200 || !bytes.Equal(resp.Body, body) {
			t.Fatalf("exp 200 with the body back, got %d and %d bytes", resp.Status, len(resp.Body))
		}
		if got := resp.Header.Get("X-Echo-Method") + " " + resp.Header.Get("X-Echo-Uri") + " " + resp.Header.Get("X-Out"); got != "PUT /a/b?x=1&set=X-Out:v v" {
			t.Fatalf("unexpected echo %q", got)
		}
	}
	if inst.MemorySize() == 0 {
		t.Fatal("exp a non-zero memory size")
	}
}

func TestMisbehavingGuests(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 64 << 20
	m := compile(t, newEngine(t, cfg), wasmtest.Misbehave)
	tests := []struct {
		path    string
		timeout time.Duration
		wantErr error
		status  int
		stderr  string
	}{
		{"/panic", time.Minute, nil, 500, "asked to panic"},
		{"/loop", 300 * time.Millisecond, engine.ErrDeadline, 0, ""},
		{"/sleep", 300 * time.Millisecond, engine.ErrDeadline, 0, ""},
		{"/oom", time.Minute, engine.ErrTrap, 0, "out of memory"},
		{"/exit", time.Minute, engine.ErrTrap, 0, "exit code 3"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var stderr bytes.Buffer
			inst := instantiate(t, m, &stderr)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			resp, err := call(ctx, inst, "GET", tt.path, nil)
			if time.Since(start) > tt.timeout+10*time.Second {
				t.Fatalf("call took %v", time.Since(start))
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !engine.Broken(err) {
					t.Fatalf("exp %v, got %v", tt.wantErr, err)
				}
			} else if err != nil || resp.Status != tt.status {
				t.Fatalf("exp status %d, got %d, %v", tt.status, resp.Status, err)
			}
			if !strings.Contains(stderr.String()+errString(err), tt.stderr) {
				t.Fatalf("exp stderr or error to mention %q, got %q / %v", tt.stderr, stderr.String(), err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestInstancesAreIsolated(t *testing.T) {
	ctx := context.Background()
	m := compile(t, newEngine(t, testConfig()), wasmtest.Echo)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
			if err != nil {
				errs <- err
				return
			}
			defer inst.Close(ctx)
			body := bytes.Repeat([]byte{byte(g)}, 1000+g)
			for i := 0; i < 20; i++ {
				resp, err := call(ctx, inst, "POST", "/", body)
				if err != nil || !bytes.Equal(resp.Body, body) {
					errs <- errors.New("instance returned another instance's body")
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// FuzzValidate: the validator refuses or accepts any bytes without
// panicking, and everything it accepts has the handler exports.
func FuzzValidate(f *testing.F) {
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add(moduleImporting("env", "f"))
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

// TestCGIModule runs a C module built as a WASI command: CGI in, CGI out,
// the same limits as any guest.
func TestCGIModule(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryLimit = 32 << 20
	e := newEngine(t, cfg)
	m, err := e.Compile(context.Background(), wasmtest.BuildC(t, wasmtest.CEcho))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	tests := []struct {
		path    string
		timeout time.Duration
		wantErr error
		status  int
	}{
		{"/c/x?status=201", time.Minute, nil, 201},
		{"/c/loop", 300 * time.Millisecond, engine.ErrDeadline, 0},
		{"/c/oom", time.Minute, engine.ErrTrap, 0},
		{"/c/exit3", time.Minute, engine.ErrTrap, 0},
		{"/c/garbage", time.Minute, engine.ErrBadResponse, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			inst := instantiate(t, m, nil)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			resp, err := call(ctx, inst, "GET", tt.path, nil)
			t.Logf("%s: %v in %v", tt.path, err, time.Since(start))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("exp %v, got %v", tt.wantErr, err)
				}
			} else if err != nil || resp.Status != tt.status {
				t.Fatalf("exp status %d, got %d, %v", tt.status, resp.Status, err)
			}
		})
	}
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
	wasm := wasmtest.Build(b, wasmtest.Hello)
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
	c, err := wazero.NewCompilationCacheWithDir(wasmtest.CacheDir())
	if err != nil {
		b.Fatal(err)
	}
	return c
}
