// Command load measures Nanoedge against native Go net/http in one run: the
// same hello handler served natively and through a worker, each hit by the
// same keep-alive clients for the same time, in alternating rounds; native
// runs on an HTTP server set up as the worker's. It also
// reports cold and cached compile times and the time from start to the
// first 200. Traffic goes to loopback only; every loop is bounded in time.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
	"github.com/nanoedge/nanoedge/examples/hello/greet"
	"github.com/nanoedge/nanoedge/internal/wasmbuild"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/server"
)

// options are the harness's flags.
type options struct {
	conc, rounds              int
	round                     time.Duration
	example, engine           string
	preInit, noCache          bool
	maxRequests, maxInstances int
	cpuProfile                string
}

func main() {
	var o options
	flag.IntVar(&o.conc, "c", 8, "concurrent clients")
	flag.DurationVar(&o.round, "round", 2*time.Second, "length of one round")
	flag.IntVar(&o.rounds, "rounds", 8, "rounds per target (alternating)")
	flag.StringVar(&o.example, "example", "examples/hello", "handler package to serve")
	flag.StringVar(&o.engine, "engine", "wazero", "worker engine: "+strings.Join(server.Engines(), ", ")+" (wasmer, wasmtime need -tags wasmer, -tags wasmtime)")
	flag.BoolVar(&o.preInit, "pre-initialize", false, "start instances from a snapshot taken after initialization (wazero, wasmtime)")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the worker's rounds to this file")
	flag.IntVar(&o.maxRequests, "max-requests", 0, "requests per instance before it is renewed; 0 takes the module's advice")
	flag.IntVar(&o.maxInstances, "max-instances", 0, "instances per module version; 0 is the worker's default (2 per CPU)")
	flag.BoolVar(&o.noCache, "no-cache", false, "the worker compiles without a disk cache (wazero writes its perf map, -tags perfmap, only for code it compiles)")
	flag.Parse()
	if o.rounds < 1 || o.conc < 1 || o.round <= 0 || o.maxRequests < 0 || o.maxInstances < 0 {
		fmt.Fprintln(os.Stderr, "load: -rounds, -c and -round must be positive, -max-requests and -max-instances not negative")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	conc, round, rounds, example, cpuProfile := o.conc, o.round, o.rounds, o.example, o.cpuProfile
	ctx := context.Background()
	tmp, err := os.MkdirTemp("", "nanoedge-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	wasm, err := wasmbuild.Build(ctx, example)
	if err != nil {
		return err
	}
	fmt.Printf("module: %s, %d bytes\n", example, len(wasm))
	cold, cached, err := compileTimes(ctx, wasm, filepath.Join(tmp, "cache"))
	if err != nil {
		return err
	}
	fmt.Printf("compile: cold %v, from disk cache %v\n", cold.Round(time.Millisecond), cached.Round(time.Millisecond))

	start := time.Now()
	workerURL, stop, err := startStack(ctx, tmp, wasm, o)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Printf("start to first 200 (control plane, worker, upload, route, cached compile): %v\n", time.Since(start).Round(time.Millisecond))

	// Native runs the handler on an HTTP server set up as the worker's
	// (timeouts, header limit): the ratio is the cost of the module and the
	// worker's work, not of the server's policy.
	native := dataplane.DefaultConfig().HTTPServer(http.HandlerFunc(greet.Handler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go native.Serve(ln)
	defer native.Close()
	nativeURL := "http://" + ln.Addr().String()

	// Each pair of rounds gives a ratio; their median shrugs off the drift
	// of a shared machine's speed better than totals would.
	results := map[string]*result{"native": {}, "worker": {}}
	var ratios []float64
	var profile *os.File
	if cpuProfile != "" {
		if profile, err = os.Create(cpuProfile); err != nil {
			return err
		}
		defer profile.Close()
	}
	for i := 0; i < rounds; i++ {
		var rps [2]float64
		for j, t := range []struct{ name, url string }{{"native", nativeURL}, {"worker", workerURL}} {
			runtime.GC() // each round starts from a collected heap
			profiled := profile != nil && t.name == "worker"
			if profiled {
				if err := pprof.StartCPUProfile(profile); err != nil {
					return err
				}
			}
			r := hammer(t.url+"/hello", conc, round)
			if profiled {
				pprof.StopCPUProfile()
				profile = nil // one profile, of the first worker round
			}
			rps[j] = r.rps()
			results[t.name].add(r)
		}
		ratios = append(ratios, rps[1]/rps[0])
	}
	slices.Sort(ratios)
	fmt.Printf("\nload: %d clients, %d rounds of %v per target, alternating\n", conc, rounds, round)
	fmt.Printf("%-8s %10s %10s %10s %12s %8s\n", "target", "req/s", "p50", "p99", "CPU/request", "errors")
	for _, name := range []string{"native", "worker"} {
		r := results[name]
		fmt.Printf("%-8s %10.0f %10v %10v %12v %8d\n", name, r.rps(), r.pct(50), r.pct(99), r.cpuPerRequest(), r.errors)
	}
	fmt.Printf("worker/native throughput: %.2fx over all rounds; per pair of rounds: median %.2fx, range %.2f-%.2fx\n",
		results["worker"].rps()/results["native"].rps(), median(ratios), ratios[0], ratios[len(ratios)-1])
	return nil
}

func compileTimes(ctx context.Context, wasm []byte, cacheDir string) (cold, cached time.Duration, err error) {
	for i, d := range []*time.Duration{&cold, &cached} {
		cfg := wazeroengine.DefaultConfig()
		cfg.CacheDir = cacheDir
		e, err := wazeroengine.New(ctx, cfg)
		if err != nil {
			return 0, 0, err
		}
		start := time.Now()
		m, err := e.Compile(ctx, wasm)
		*d = time.Since(start)
		if err != nil {
			return 0, 0, fmt.Errorf("compile %d: %w", i, err)
		}
		m.Close(ctx)
		e.Close(ctx)
	}
	return cold, cached, nil
}

func startStack(ctx context.Context, dir string, wasm []byte, o options) (string, func(), error) {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc := registry.DefaultConfig(filepath.Join(dir, "data"))
	rc.RaftAddr, rc.Logger = "127.0.0.1:0", logger
	rc.HeartbeatTimeout, rc.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond
	api := controlplane.DefaultConfig()
	api.Logger = logger
	// Tokens and signatures guard the control plane, not the request path
	// measured here; the harness runs without them.
	api.Auth, api.RequireSignatures = false, false
	cp, err := server.StartControlPlane(ctx, server.ControlPlaneConfig{Registry: rc, API: api, GRPCAddr: "127.0.0.1:0"})
	if err != nil {
		return "", nil, err
	}
	ec := engine.DefaultOptions()
	if !o.noCache {
		ec.CacheDir = filepath.Join(dir, "cache")
	}
	ec.PreInitialize = o.preInit
	wc := dataplane.DefaultConfig()
	wc.Logger = logger
	wc.RequireSignatures = false
	wc.MaxRequestsPerInstance = o.maxRequests
	if o.maxInstances > 0 {
		wc.MaxInstances = o.maxInstances
	}
	w, err := server.StartWorker(ctx, server.WorkerConfig{ControlPlane: cp.Addr(), HTTPAddr: "127.0.0.1:0", Engine: ec, EngineName: o.engine, Worker: wc})
	if err != nil {
		cp.Close()
		return "", nil, err
	}
	stop := func() { w.Close(); cp.Close() }
	c, err := client.New(cp.Addr())
	if err != nil {
		stop()
		return "", nil, err
	}
	defer c.Close()
	if _, err := c.Upload(ctx, "hello", wasm); err != nil {
		stop()
		return "", nil, err
	}
	if _, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello"}); err != nil {
		stop()
		return "", nil, err
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(w.URL() + "/hello"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return w.URL(), stop, nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("worker never answered 200")
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

type result struct {
	lat     []time.Duration
	elapsed time.Duration
	cpu     time.Duration // process CPU time (user+system) over the rounds
	errors  int
}

func (r *result) add(o *result) {
	r.lat = append(r.lat, o.lat...)
	r.elapsed += o.elapsed
	r.cpu += o.cpu
	r.errors += o.errors
}

func (r *result) rps() float64 { return float64(len(r.lat)) / r.elapsed.Seconds() }

// cpuPerRequest is the whole process's CPU time per request: load
// generator, server and, for the worker, the guest.
func (r *result) cpuPerRequest() time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	return (r.cpu / time.Duration(len(r.lat))).Round(100 * time.Nanosecond)
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (r *result) pct(p int) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	s := slices.Clone(r.lat)
	slices.Sort(s)
	return s[(len(s)-1)*p/100].Round(time.Microsecond)
}

// hammer sends requests from conc keep-alive clients for d.
func hammer(url string, conc int, d time.Duration) *result {
	tr := &http.Transport{MaxIdleConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var mu sync.Mutex
	total := &result{}
	var wg sync.WaitGroup
	start, cpu0 := time.Now(), processCPU()
	end := start.Add(d)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := &result{}
			for time.Now().Before(end) {
				t0 := time.Now()
				resp, err := c.Get(url)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					local.errors++
					continue
				}
				local.lat = append(local.lat, time.Since(t0))
			}
			mu.Lock()
			total.add(local)
			mu.Unlock()
		}()
	}
	wg.Wait()
	total.elapsed, total.cpu = time.Since(start), processCPU()-cpu0
	return total
}
