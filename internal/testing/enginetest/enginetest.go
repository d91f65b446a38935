package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// MemoryLimit is the per-instance memory cap the suite asks engines for.
const MemoryLimit = 64 << 20

// Run runs the suite. newEngine returns an engine capping each instance's
// memory at MemoryLimit; Run closes it.
func Run(t *testing.T, newEngine func(t *testing.T) engine.Engine) {
	e := newEngine(t)
	t.Cleanup(func() { e.Close(context.Background()) })
	t.Run("refuses modules that are not handlers", func(t *testing.T) { refuses(t, e) })
	t.Run("passes requests through", func(t *testing.T) { echo(t, e) })
	t.Run("answers the nanoedge host functions", func(t *testing.T) { hostFunctions(t, e) })
	t.Run("calls out and streams through its Call", func(t *testing.T) { outboundAndStreams(t, e) })
	t.Run("gives each instance its own random state", func(t *testing.T) { ownRandomState(t, e) })
	t.Run("keeps instances apart", func(t *testing.T) { isolated(t, e) })
	t.Run("stops misbehaving guests", func(t *testing.T) { misbehave(t, e) })
	t.Run("refuses responses outside guest memory", func(t *testing.T) { badABI(t, e) })
	t.Run("serves CGI modules", func(t *testing.T) { cgi(t, e) })
	t.Run("releases what instances take", func(t *testing.T) { releases(t, e) })
}

func compile(t *testing.T, e engine.Engine, wasm []byte) engine.Module {
	t.Helper()
	m, err := e.Compile(context.Background(), wasm)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(context.Background()) })
	return m
}

func instantiate(t *testing.T, m engine.Module, stderr *bytes.Buffer) engine.Instance {
	t.Helper()
	cfg := engine.InstanceConfig{}
	if stderr != nil {
		cfg.Stderr = stderr
	}
	inst, err := m.Instantiate(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { inst.Close(context.Background()) })
	return inst
}

// Call sends one request through inst.
func Call(ctx context.Context, inst engine.Instance, method, uri string, body []byte) (abi.Response, error) {
	req := abi.AppendRequest(nil, &abi.Request{Method: method, URI: uri, Host: "test", Header: http.Header{}, Body: body})
	out, err := inst.Handle(ctx, req)
	if err != nil {
		return abi.Response{}, err
	}
	return abi.DecodeResponse(out)
}

func refuses(t *testing.T, e engine.Engine) {
	tests := []struct {
		name string
		wasm []byte
		want string
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi\n"), ""},
		{"empty module", []byte("\x00asm\x01\x00\x00\x00"), "no exported function nanoedge_abi_version"},
		{"truncated", []byte("\x00asm\x01\x00\x00"), ""},
		{"foreign import", ModuleImporting("env", "escape"), "imports env.escape"},
	}
	// Counts and lengths far past the module's end: a decoder that
	// allocated by them would take gigabytes, or the process.
	for name, wasm := range DecoderBombs() {
		tests = append(tests, struct {
			name string
			wasm []byte
			want string
		}{name, wasm, ""})
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

// DecoderBombs are modules of a few bytes that declare counts or lengths
// far past their end, or a function with a million locals.
func DecoderBombs() map[string][]byte {
	const header = "\x00asm\x01\x00\x00\x00"
	return map[string][]byte{
		"2^32-1 types":                        []byte(header + "\x01\x05\xff\xff\xff\xff\x0f"),
		"count running into the next section": []byte(header + "\x04\x04\xec\xec\xec\xec\x05\x09000000000"),
		"import name of 4 GiB":                []byte(header + "\x02\x06\x01\xff\xff\xff\xff\x0f"),
		"data segment of 4 GiB":               []byte(header + "\x0b\x07\x01\x01\xff\xff\xff\xff\x0f"),
		"a million locals": []byte(header + "\x01\x04\x01\x60\x00\x00" + "\x03\x02\x01\x00" +
			"\x0a\x08\x01\x06\x01\xc0\x84\x3d\x7f\x0b"),
		"function names past the end": []byte(header + "\x00\x0d\x04name\x01\x06\xff\xff\xff\xff\x0f\x00"),
	}
}

// ModuleImporting is a minimal module importing one function () -> ().
func ModuleImporting(mod, name string) []byte {
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

func echo(t *testing.T, e engine.Engine) {
	inst := instantiate(t, compile(t, e, guests.Build(t, guests.Echo)), nil)
	body := bytes.Repeat([]byte{0, 1, 2, 0xff}, 64<<10)
	for i := 0; i < 3; i++ { // the instance stays usable across calls
		resp, err := Call(context.Background(), inst, "PUT", "/a/b?x=1&set=X-Out:v", body)
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
	before := inst.MemorySize()
	if before == 0 {
		t.Fatal("exp a non-zero memory size")
	}
	// The size follows the guest's growth: workers recycle on it.
	big := make([]byte, 16<<20)
	if resp, err := Call(context.Background(), inst, "PUT", "/big", big); err != nil || len(resp.Body) != len(big) {
		t.Fatalf("16 MB echo: %v", err)
	}
	if after := inst.MemorySize(); after < before+16<<20 {
		t.Fatalf("memory size %d after a 16 MB request, %d before: exp growth of at least 16 MB", after, before)
	}
}

// edge is an engine.Edge with one flag and one store.
type edge struct{ flag bool }

func (e edge) Flag(name string) (bool, bool) { return e.flag, name == "beta" }
func (edge) Get(store, key string) ([]byte, bool, bool) {
	if store != "links" {
		return nil, false, false
	}
	if key == "big" {
		return bytes.Repeat([]byte("v"), 5000), true, true // past the guest's first buffer
	}
	return []byte("value of " + key), key != "missing", true
}

// hostFunctions: a call reads the engine.Edge of its own context's Call, and a
// request without one reads no flag and no store.
func hostFunctions(t *testing.T, e engine.Engine) {
	inst := instantiate(t, compile(t, e, guests.Build(t, guests.Echo)), nil)
	const uri = "/x?flag=beta&flag=other&kv=links/a&kv=links/missing&kv=links/big&kv=nope/a"
	for _, tt := range []struct {
		ctx            context.Context
		beta, kvValues string
	}{
		{engine.WithCall(context.Background(), &engine.Call{Edge: edge{flag: true}}), "on", "value of a,<missing>," + strings.Repeat("v", 5000) + ",<no store>"},
		{engine.WithCall(context.Background(), &engine.Call{Edge: edge{flag: false}}), "off", "value of a,<missing>," + strings.Repeat("v", 5000) + ",<no store>"},
		{context.Background(), "-", "<no store>,<no store>,<no store>,<no store>"},
	} {
		resp, err := Call(tt.ctx, inst, "GET", uri, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("X-Echo-Flag-beta") + " " + resp.Header.Get("X-Echo-Flag-other"); got != tt.beta+" -" {
			t.Fatalf("flags: got %q, want %q", got, tt.beta+" -")
		}
		if got := strings.Join(resp.Header.Values("X-Echo-Kv"), ","); got != tt.kvValues {
			t.Fatalf("stores: got %.200q, want %.200q", got, tt.kvValues)
		}
	}
}

// origin is an engine.Outbound answering every call with body, and
// refusing hosts named "refused".
type origin struct {
	body  []byte
	calls []string
}

func (o *origin) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	o.calls = append(o.calls, req.Method+" "+req.URL.String())
	if req.URL.Hostname() == "refused" {
		return nil, fmt.Errorf("%w: not on the list", engine.ErrRefused)
	}
	return &http.Response{StatusCode: 203, Header: http.Header{"X-Origin": {"yes"}}, Body: io.NopCloser(bytes.NewReader(o.body))}, nil
}

// recorder is an engine.Stream keeping what was sent, part by part.
type recorder struct {
	status   int
	parts    []string
	trailers http.Header
}

func (r *recorder) Start(status int, h http.Header) error { r.status = status; return nil }
func (r *recorder) Write(p []byte) error                  { r.parts = append(r.parts, string(p)); return nil }
func (r *recorder) Trailers(h http.Header) error          { r.trailers = h; return nil }

// outboundAndStreams: the http_* and response_* host functions reach the
// Outbound and Stream of the request's Call, on every engine.
func outboundAndStreams(t *testing.T, e engine.Engine) {
	inst := instantiate(t, compile(t, e, guests.Build(t, guests.Caller)), nil)
	o := &origin{body: bytes.Repeat([]byte("0123456789"), 20000)} // past one read
	ctx := engine.WithCall(context.Background(), &engine.Call{Outbound: o})
	resp, err := Call(ctx, inst, "GET", "/fetch?url=http://origin.test/a&n=2", nil)
	if err != nil || resp.Status != 200 || !bytes.Equal(resp.Body, o.body) || resp.Header.Get("X-Fetched-Status") != "203" {
		t.Fatalf("fetch: %v %d %.80q %v", err, resp.Status, resp.Body, resp.Header)
	}
	if len(o.calls) != 2 || o.calls[0] != "GET http://origin.test/a" {
		t.Fatalf("origin saw %q", o.calls)
	}
	resp, err = Call(ctx, inst, "GET", "/fetch?url=http://refused/", nil)
	if err != nil || resp.Status != 502 || !strings.Contains(string(resp.Body), "outbound call refused: not on the list") {
		t.Fatalf("refused fetch: %v %d %q", err, resp.Status, resp.Body)
	}
	resp, err = Call(context.Background(), inst, "GET", "/fetch?url=http://origin.test/", nil)
	if err != nil || resp.Status != 502 || !strings.Contains(string(resp.Body), "refused") {
		t.Fatalf("fetch without a Call: %v %d %q", err, resp.Status, resp.Body)
	}
	inst = instantiate(t, compile(t, e, guests.Build(t, guests.Misbehave)), nil)
	rec := &recorder{}
	out, err := inst.Handle(engine.WithCall(context.Background(), &engine.Call{Stream: rec}),
		abi.AppendRequest(nil, &abi.Request{Method: "GET", URI: "/stream?n=3", Header: http.Header{}}))
	if err != nil || rec.status != 200 || strings.Join(rec.parts, "|") != "data: part 0\n\n|data: part 1\n\n|data: part 2\n\n" || len(out) != 0 {
		t.Fatalf("stream: %v, status %d, parts %q, returned %d bytes", err, rec.status, rec.parts, len(out))
	}
	// Without a Stream the same handler's response comes whole.
	resp, err = Call(context.Background(), inst, "GET", "/stream?n=2", nil)
	if err != nil || string(resp.Body) != "data: part 0\n\ndata: part 1\n\n" {
		t.Fatalf("unstreamed: %v %q", err, resp.Body)
	}
}

// ownRandomState: two instances of one module draw different numbers from
// math/rand/v2 and iterate new maps in different orders, as two processes
// would; instances started from one snapshot must not share the Go
// runtime's generators.
func ownRandomState(t *testing.T, e engine.Engine) {
	m := compile(t, e, guests.Build(t, guests.Misbehave))
	draws := func() []string {
		inst := instantiate(t, m, nil)
		var out []string
		for range 4 {
			resp, err := Call(context.Background(), inst, "GET", "/random", nil)
			if err != nil || resp.Status != 200 {
				t.Fatalf("random: %v %d", err, resp.Status)
			}
			out = append(out, string(resp.Body))
		}
		return out
	}
	a, b := draws(), draws()
	numbers, orders := 0, 0
	for i := range a {
		na, oa, _ := strings.Cut(a[i], " ")
		nb, ob, _ := strings.Cut(b[i], " ")
		if na != nb {
			numbers++
		}
		if oa != ob {
			orders++
		}
	}
	if numbers != len(a) || orders == 0 {
		t.Fatalf("two instances drew alike: %q and %q", a, b)
	}
}

func isolated(t *testing.T, e engine.Engine) {
	ctx := context.Background()
	m := compile(t, e, guests.Build(t, guests.Echo))
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
				resp, err := Call(ctx, inst, "POST", "/", body)
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

func misbehave(t *testing.T, e engine.Engine) {
	m := compile(t, e, guests.Build(t, guests.Misbehave))
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
		{"/oom", time.Minute, engine.ErrTrap, 0, ""},
		{"/exit", time.Minute, engine.ErrTrap, 0, "exit code 3"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			var stderr bytes.Buffer
			inst := instantiate(t, m, &stderr)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			start := time.Now()
			resp, err := Call(ctx, inst, "GET", tt.path, nil)
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
			// A fresh instance of the same module serves.
			if resp, err := Call(context.Background(), instantiate(t, m, nil), "GET", "/fine", nil); err != nil || resp.Status != 200 {
				t.Fatalf("after %s: %v %v", tt.path, resp.Status, err)
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

func badABI(t *testing.T, e engine.Engine) {
	m := compile(t, e, guests.BuildC(t, guests.BadABI))
	ctx := context.Background()
	inst := instantiate(t, m, nil)
	if resp, err := Call(ctx, inst, "GET", "/", nil); err != nil || resp.Status != 204 {
		t.Fatalf("exp 204, got %v, %v", resp.Status, err)
	}
	if _, err := Call(ctx, inst, "GET", "/bad-response", nil); !errors.Is(err, engine.ErrBadResponse) {
		t.Fatalf("response outside memory: exp %v, got %v", engine.ErrBadResponse, err)
	}
	inst = instantiate(t, m, nil)
	if resp, err := Call(ctx, inst, "GET", "/arm-bad-buffer", nil); err != nil || resp.Status != 204 {
		t.Fatalf("exp 204, got %v, %v", resp.Status, err)
	}
	if _, err := Call(ctx, inst, "GET", "/", nil); !errors.Is(err, engine.ErrBadResponse) {
		t.Fatalf("request buffer outside memory: exp %v, got %v", engine.ErrBadResponse, err)
	}
}

func cgi(t *testing.T, e engine.Engine) {
	m := compile(t, e, guests.BuildC(t, guests.CEcho))
	tests := []struct {
		path    string
		timeout time.Duration
		wantErr error
		status  int
	}{
		{"/c/x?status=201", time.Minute, nil, 201},
		{"/c/loop", 300 * time.Millisecond, engine.ErrDeadline, 0},
		{"/c/recurse", 300 * time.Millisecond, engine.ErrDeadline, 0},
		{"/c/oom", time.Minute, engine.ErrTrap, 0},
		{"/c/exit3", time.Minute, engine.ErrTrap, 0},
		{"/c/garbage", time.Minute, engine.ErrBadResponse, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			inst := instantiate(t, m, nil)
			ctx, cancel := context.WithTimeout(context.Background(), tt.timeout)
			defer cancel()
			resp, err := Call(ctx, inst, "POST", tt.path, []byte("body"))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("exp %v, got %v", tt.wantErr, err)
				}
				return
			}
			if err != nil || resp.Status != tt.status || !strings.Contains(string(resp.Body), "4 bytes: body") {
				t.Fatalf("exp status %d echoing the body, got %d %q, %v", tt.status, resp.Status, resp.Body, err)
			}
		})
	}
}

// Bench measures an engine on the hello handler: creating and
// initializing an instance, one warm request with a deadline, and the
// linear memory of a warm instance (reported as MB/instance).
func Bench(b *testing.B, e engine.Engine) {
	ctx := context.Background()
	m, err := e.Compile(ctx, guests.Build(b, guests.Hello))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close(ctx) })
	b.Run("instantiate", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
			if err != nil {
				b.Fatal(err)
			}
			inst.Close(ctx)
		}
	})
	b.Run("request", func(b *testing.B) {
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			b.Fatal(err)
		}
		defer inst.Close(ctx)
		for i := 0; i < b.N; i++ {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if resp, err := Call(cctx, inst, "GET", "/hello", nil); err != nil || resp.Status != 200 {
				b.Fatalf("%d %v", resp.Status, err)
			}
			cancel()
		}
		b.ReportMetric(float64(inst.MemorySize())/1e6, "MB/instance")
	})
	b.Run("warm-pool", func(b *testing.B) { benchPool(b, m, 0) })
	if r, ok := m.(engine.Renewer); ok && r.RenewAfter() > 0 {
		b.Run("renewed-pool", func(b *testing.B) { benchPool(b, m, r.RenewAfter()) })
	}
}

// benchPool measures the resident memory a warm instance costs the
// process: RSS grown by a pool of instances that each served requests,
// whatever the engine maps, copies or shares. With renew > 0, an instance
// is replaced after that many requests, as the worker does, and the
// figure is the average over instances of every age.
func benchPool(b *testing.B, m engine.Module, renew int) {
	ctx := context.Background()
	const pool = 32
	debug.FreeOSMemory() // an earlier run's instances must not be reused unseen
	before, ok := ResidentBytes()
	if !ok {
		b.Skip("no /proc/self/statm")
	}
	insts := make([]engine.Instance, pool)
	b.Cleanup(func() {
		for _, inst := range insts {
			inst.Close(ctx)
		}
	})
	// Renewal is staggered, as a busy worker's is: the pool holds
	// instances of every age at any time.
	uses := make([]int, pool)
	for i := range uses {
		uses[i] = i * renew / pool
	}
	for i := range insts {
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			b.Fatal(err)
		}
		insts[i] = inst
	}
	faults := minorFaults()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % pool
		if resp, err := Call(ctx, insts[j], "GET", "/hello", nil); err != nil || resp.Status != 200 {
			b.Fatalf("%d %v", resp.Status, err)
		}
		if uses[j]++; uses[j] == renew {
			insts[j].Close(ctx)
			inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
			if err != nil {
				b.Fatal(err)
			}
			insts[j], uses[j] = inst, 0
		}
	}
	b.StopTimer()
	// Page faults per request: what renewal costs beyond instantiation,
	// as every page a fresh instance writes is faulted in again.
	b.ReportMetric(float64(minorFaults()-faults)/float64(b.N), "faults/op")
	after, _ := ResidentBytes()
	b.ReportMetric(float64(after-before)/pool/1e6, "RSS-MB/instance")
	var linear uint64
	for _, inst := range insts {
		linear += inst.MemorySize()
	}
	b.ReportMetric(float64(linear)/pool/1e6, "linear-MB/instance")
}

func minorFaults() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Minflt
}

// ResidentBytes reads the process's resident set size on Linux.
func ResidentBytes() (int64, bool) {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()), err == nil
}

// BenchDeadlineCost measures one warm hello request with a 10 s deadline
// on an engine that enforces deadlines and on the same engine configured
// not to (which cannot stop a runaway guest): the difference is what
// enforcement costs a call. newEngine makes the engine either way.
func BenchDeadlineCost(b *testing.B, newEngine func(enforce bool) (engine.Engine, error)) {
	ctx := context.Background()
	wasm := guests.Build(b, guests.Hello)
	for _, bc := range []struct {
		name    string
		enforce bool
	}{{"enforced", true}, {"none", false}} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := newEngine(bc.enforce)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { e.Close(ctx) })
			m, err := e.Compile(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { m.Close(ctx) })
			inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { inst.Close(ctx) })
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				if resp, err := Call(cctx, inst, "GET", "/hello", nil); err != nil || resp.Status != 200 {
					b.Fatalf("%d %v", resp.Status, err)
				}
				cancel()
			}
		})
	}
}

// releases: instances that served, and instances stopped at their
// deadline, give back their goroutines and memory when closed.
func releases(t *testing.T, e engine.Engine) {
	ctx := context.Background()
	m := compile(t, e, guests.Build(t, guests.Misbehave))
	cycle := func() {
		inst, err := m.Instantiate(ctx, engine.InstanceConfig{})
		if err != nil {
			t.Fatal(err)
		}
		if resp, err := Call(ctx, inst, "GET", "/fine", nil); err != nil || resp.Status != 200 {
			t.Fatalf("/fine: %d %v", resp.Status, err)
		}
		inst.Close(ctx)
		if inst, err = m.Instantiate(ctx, engine.InstanceConfig{}); err != nil {
			t.Fatal(err)
		}
		cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if _, err := Call(cctx, inst, "GET", "/loop", nil); !errors.Is(err, engine.ErrDeadline) {
			t.Fatalf("/loop: exp ErrDeadline, got %v", err)
		}
		inst.Close(ctx)
	}
	for i := 0; i < 5; i++ { // pools, caches and lazily started goroutines settle
		cycle()
	}
	goroutines := runtime.NumGoroutine()
	debug.FreeOSMemory()
	before, measured := ResidentBytes()
	const cycles = 40
	for i := 0; i < cycles; i++ {
		cycle()
	}
	poll.Eventually(t, 10*time.Second, func() error {
		if n := runtime.NumGoroutine(); n > goroutines {
			return fmt.Errorf("%d goroutines, %d before", n, goroutines)
		}
		return nil
	})
	if !measured {
		return
	}
	debug.FreeOSMemory()
	// 80 closed instances of a Go module hold over 400 MB if leaked.
	if after, _ := ResidentBytes(); after-before > 64<<20 {
		t.Fatalf("resident memory grew by %d MB over %d instances", (after-before)>>20, 2*cycles)
	}
}
