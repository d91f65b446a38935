// Command wrk measures a worker as its users will: from outside, with the
// wrk load generator, against separate server processes. It builds the
// nanoedge binary and bench/native, starts `nanoedge dev` serving
// bench/guest (the same handlers as bench/native, compiled to a module)
// and a minimal WAT guest written to docs/abi.md alone, then for each
// case runs wrk against native and worker in alternating rounds. It
// reports throughput ratios, the server process's own CPU per request
// (from /proc, not the load generator's), and latency percentiles at a
// fixed rate of half the worker's throughput, measured by an open-loop
// client in this process. The waiting cases (a handler that sleeps, one
// that calls a backend answering after 100 ms, run as a third process)
// report the worker's resident memory after them; the stream case
// reports time to first byte of a flushed response.
//
//	go run ./bench/wrk -rounds 5 -duration 4s
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nanoedge/nanoedge/bench/internal/proc"
)

type options struct {
	rounds, threads, conns int
	duration               time.Duration
	engine                 string
	preInit                bool
	cases                  string
	latency                bool
	maxInstances           int
	moduleMB               int
}

func main() {
	var o options
	flag.IntVar(&o.rounds, "rounds", 5, "rounds per target and case, alternating native and worker")
	flag.DurationVar(&o.duration, "duration", 4*time.Second, "length of one wrk round")
	flag.IntVar(&o.threads, "t", 2, "wrk threads")
	flag.IntVar(&o.conns, "c", 8, "wrk connections")
	flag.StringVar(&o.engine, "engine", "wazero", "worker engine (wasmtime and wasmer need -tags on the nanoedge build: see -tags)")
	flag.BoolVar(&o.preInit, "pre-initialize", true, "worker --pre-initialize")
	flag.StringVar(&o.cases, "cases", "min,hello,json,64k,upload,sleep,backend,stream", "cases to run, comma-separated")
	flag.BoolVar(&o.latency, "latency", true, "also measure latency at half the worker's throughput")
	flag.IntVar(&o.maxInstances, "max-instances", 0, "worker --max-instances (0: its default)")
	flag.IntVar(&o.moduleMB, "module-memory-mb", 0, "worker --module-memory-mb (0: its default)")
	flag.Parse()
	if o.rounds < 1 || o.threads < 1 || o.conns < o.threads || o.duration < time.Second {
		fmt.Fprintln(os.Stderr, "wrk: -rounds >= 1, -c >= -t >= 1, -duration >= 1s")
		os.Exit(2)
	}
	if err := run(context.Background(), o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "wrk:", err)
		os.Exit(1)
	}
}

// testCase is one handler measured: the path on each server, and a wrk
// script for a request that is not a plain GET.
type testCase struct {
	name, nativePath, workerPath, script string
	// conns, if set, replaces -c: the waiting cases need many clients.
	conns int
	// ttfb: the case reports time to first byte instead of throughput.
	ttfb bool
}

var allCases = []testCase{
	{name: "min", nativePath: "/hello", workerPath: "/min"},
	{name: "hello", nativePath: "/hello", workerPath: "/hello"},
	{name: "json", nativePath: "/json?id=42&fields=all", workerPath: "/json?id=42&fields=all", script: jsonScript},
	{name: "64k", nativePath: "/64k", workerPath: "/64k"},
	{name: "upload", nativePath: "/upload", workerPath: "/upload", script: uploadScript},
	{name: "sleep", nativePath: "/sleep", workerPath: "/sleep", conns: 16},
	{name: "backend", nativePath: "/backend", workerPath: "/backend", conns: 1000},
	{name: "stream", nativePath: "/stream", workerPath: "/stream", ttfb: true},
}

const jsonScript = `wrk.headers["Accept"] = "application/json"
wrk.headers["User-Agent"] = "bench/1.0"
wrk.headers["X-Request-Id"] = "4bf92f3577b34da6a3ce929d0e0e4736"
wrk.headers["Authorization"] = "Bearer 0123456789abcdef"
`

const uploadScript = `wrk.method = "POST"
wrk.body = string.rep("x", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
`

// result is one wrk round.
type result struct {
	rps      float64
	requests int64
	cpu      time.Duration // the server process's, during the round
}

func run(ctx context.Context, o options, out io.Writer) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "nanoedge-wrk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, b := range [][]string{{"-o", filepath.Join(tmp, "nanoedge"), "./cmd/nanoedge"}, {"-o", filepath.Join(tmp, "native"), "./bench/native"}} {
		cmd := exec.CommandContext(ctx, "go", append([]string{"build"}, b...)...)
		cmd.Dir, cmd.Stderr = root, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build %s: %w", b[2], err)
		}
	}
	minWasm := filepath.Join(tmp, "min.wasm")
	if err := exec.CommandContext(ctx, "wat2wasm", filepath.Join(root, "examples/wat/handler.wat"), "-o", minWasm).Run(); err != nil {
		return fmt.Errorf("wat2wasm (install wabt): %w", err)
	}

	backend, backendAddr, err := startNative(ctx, filepath.Join(tmp, "native"), "")
	if err != nil {
		return err
	}
	defer stop(backend)
	native, nativeAddr, err := startNative(ctx, filepath.Join(tmp, "native"), "http://"+backendAddr)
	if err != nil {
		return err
	}
	defer stop(native)
	worker, workerAddr, err := startWorker(ctx, tmp, root, o, minWasm, "http://"+backendAddr)
	if err != nil {
		return err
	}
	defer stop(worker)

	fmt.Fprintf(out, "wrk -t%d -c%d, %d rounds of %v per target, alternating; engine %s, --pre-initialize=%v\n\n", o.threads, o.conns, o.rounds, o.duration, o.engine, o.preInit)
	fmt.Fprintln(out, "| case | native req/s | worker req/s | worker / native | server CPU per request, native | worker | p50 / p99 at half the worker's rate, native | worker |")
	fmt.Fprintln(out, "| --- | --- | --- | --- | --- | --- | --- | --- |")
	var notes []string
	for _, tc := range allCases {
		if !slices.Contains(strings.Split(o.cases, ","), tc.name) {
			continue
		}
		if tc.ttfb {
			n, err := firstByte(ctx, "http://"+nativeAddr+tc.nativePath, 40)
			if err != nil {
				return err
			}
			w, err := firstByte(ctx, "http://"+workerAddr+tc.workerPath, 40)
			if err != nil {
				return err
			}
			notes = append(notes, fmt.Sprintf("%s: time to first byte of a response flushed before a 50 ms sleep, median of 40: native %v, worker %v", tc.name, n, w))
			continue
		}
		var nat, wrk []result
		var ratios []float64
		for i := 0; i < o.rounds; i++ {
			// Alternate which goes first, so neither always follows the other.
			order := []bool{false, true}
			if i%2 == 1 {
				order = []bool{true, false}
			}
			var n, w result
			for _, isWorker := range order {
				srv, addr, path := native, nativeAddr, tc.nativePath
				if isWorker {
					srv, addr, path = worker, workerAddr, tc.workerPath
				}
				r, err := wrkRound(ctx, o, tmp, tc, "http://"+addr+path, srv.Process.Pid)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", tc.name, map[bool]string{true: "worker", false: "native"}[isWorker], err)
				}
				if isWorker {
					w = r
				} else {
					n = r
				}
			}
			nat, wrk = append(nat, n), append(wrk, w)
			ratios = append(ratios, w.rps/n.rps)
		}
		lat := "-"
		wlat := "-"
		if o.latency {
			rate := median(rpsOf(wrk)) / 2
			np, err := openLoop(ctx, "http://"+nativeAddr+tc.nativePath, tc, rate, o.duration)
			if err != nil {
				return err
			}
			wp, err := openLoop(ctx, "http://"+workerAddr+tc.workerPath, tc, rate, o.duration)
			if err != nil {
				return err
			}
			lat = fmt.Sprintf("%v / %v", np[0], np[1])
			wlat = fmt.Sprintf("%v / %v at %.0f/s", wp[0], wp[1], rate)
		}
		name := tc.name
		if tc.conns > 0 {
			name += fmt.Sprintf(" (-c%d)", tc.conns)
			if rss, err := proc.RSS(worker.Process.Pid); err == nil {
				nrss, _ := proc.RSS(native.Process.Pid)
				notes = append(notes, fmt.Sprintf("%s: resident memory after the case, native %d MiB, worker %d MiB", tc.name, nrss>>20, rss>>20))
			}
		}
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", name, spread(rpsOf(nat), "%.0f"), spread(rpsOf(wrk), "%.0f"),
			spread(ratios, "%.2fx"), cpuPer(nat), cpuPer(wrk), lat, wlat)
	}
	if len(notes) > 0 {
		fmt.Fprintln(out)
		for _, n := range notes {
			fmt.Fprintln(out, "- "+n)
		}
	}
	return nil
}

// firstByte fetches url n times, one after another, and returns the
// median time to the first byte of the body.
func firstByte(ctx context.Context, url string, n int) (time.Duration, error) {
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	var ds []time.Duration
	for range n {
		req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
		start := time.Now()
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		var b [1]byte
		_, err = io.ReadFull(resp.Body, b[:])
		ds = append(ds, time.Since(start))
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s: %d %v", url, resp.StatusCode, err)
		}
	}
	slices.Sort(ds)
	return ds[len(ds)/2].Round(10 * time.Microsecond), nil
}

// repoRoot is the module root above the working directory.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// startNative runs bench/native; its handler /backend calls backend.
func startNative(ctx context.Context, bin, backend string) (*exec.Cmd, string, error) {
	cmd := exec.CommandContext(ctx, bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "BACKEND="+backend)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		stop(cmd)
		return nil, "", fmt.Errorf("native did not print its address: %w", err)
	}
	addr := strings.TrimSpace(line)
	return cmd, addr, waitOK(ctx, "http://"+addr+"/hello")
}

// startWorker runs `nanoedge dev` in dir serving bench/guest on /, then
// pushes the minimal guest with the CLI and routes /min to it, and lets
// /backend call backend.
func startWorker(ctx context.Context, dir, root string, o options, minWasm, backend string) (*exec.Cmd, string, error) {
	ports, err := proc.FreeAddrs(3)
	if err != nil {
		return nil, "", err
	}
	bin := filepath.Join(dir, "nanoedge")
	args := []string{"dev", "--example", filepath.Join(root, "bench/guest"), "--example-path", "/",
		"--http-addr", ports[0], "--grpc-addr", ports[1], "--raft-addr", ports[2], "--dashboard-addr", "",
		"--cache-dir", filepath.Join(dir, "cache"), "--engine", o.engine, "--max-body-mb", "4", "--log-level", "warn"}
	args = append(args, "--pre-initialize="+strconv.FormatBool(o.preInit))
	if o.maxInstances > 0 {
		args = append(args, "--max-instances", strconv.Itoa(o.maxInstances))
	}
	if o.moduleMB > 0 {
		args = append(args, "--module-memory-mb", strconv.Itoa(o.moduleMB))
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Stderr = dir, os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	if err := waitOK(ctx, "http://"+ports[0]+"/hello"); err != nil {
		stop(cmd)
		return nil, "", err
	}
	for _, a := range [][]string{{"push", "--controlplane", ports[1], "--name", "min", minWasm},
		{"route", "set", "--controlplane", ports[1], "--path", "/min", "--module", "min"},
		{"vars", "set", "--controlplane", ports[1], "guest", "BACKEND=" + backend},
		{"route", "set", "--controlplane", ports[1], "--path", "/backend", "--module", "guest", "--allow-outbound", backend}} {
		c := exec.CommandContext(ctx, bin, a...)
		c.Dir = dir
		if b, err := c.CombinedOutput(); err != nil {
			stop(cmd)
			return nil, "", fmt.Errorf("nanoedge %s: %v: %s", a[0], err, b)
		}
	}
	if err := waitOK(ctx, "http://"+ports[0]+"/backend"); err != nil {
		return cmd, ports[0], err
	}
	return cmd, ports[0], waitOK(ctx, "http://"+ports[0]+"/min")
}

func waitOK(ctx context.Context, url string) error {
	deadline := time.Now().Add(3 * time.Minute)
	for {
		resp, err := http.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer 200 within 3 minutes (last: %v)", url, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

var (
	rpsRE      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	requestsRE = regexp.MustCompile(`(\d+) requests in`)
	errorsRE   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: .*`)
)

// wrkRound runs wrk once against url and reads the server pid's CPU
// before and after.
func wrkRound(ctx context.Context, o options, dir string, tc testCase, url string, pid int) (result, error) {
	conns := o.conns
	if tc.conns > 0 {
		conns = tc.conns
	}
	// A queue of a thousand clients waits longer than wrk's 2 s default
	// before giving up; a reply within 10 s counts, and shows in the rate.
	args := []string{"-t" + strconv.Itoa(o.threads), "-c" + strconv.Itoa(conns), "-d" + o.duration.String(), "--timeout", "10s", url}
	if tc.script != "" {
		script := filepath.Join(dir, tc.name+".lua")
		if err := os.WriteFile(script, []byte(tc.script), 0o600); err != nil {
			return result{}, err
		}
		args = append([]string{"-s", script}, args...)
	}
	before, err := proc.CPU(pid)
	if err != nil {
		return result{}, err
	}
	b, err := exec.CommandContext(ctx, "wrk", args...).CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk (install it: apt-get install wrk): %v: %s", err, b)
	}
	after, err := proc.CPU(pid)
	if err != nil {
		return result{}, err
	}
	text := string(b)
	if m := errorsRE.FindString(text); m != "" {
		return result{}, fmt.Errorf("%s: %s", url, m)
	}
	m, n := rpsRE.FindStringSubmatch(text), requestsRE.FindStringSubmatch(text)
	if m == nil || n == nil {
		return result{}, fmt.Errorf("cannot read wrk's output: %s", text)
	}
	rps, _ := strconv.ParseFloat(m[1], 64)
	reqs, _ := strconv.ParseInt(n[1], 10, 64)
	return result{rps: rps, requests: reqs, cpu: after - before}, nil
}

// openLoop sends requests at a fixed rate for d, each timed from when it
// was due (so a slow server cannot hide its queue), and returns p50 and
// p99.
func openLoop(ctx context.Context, url string, tc testCase, rate float64, d time.Duration) ([2]time.Duration, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: 256, DisableCompression: true}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	n := int(rate * d.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	due := make(chan time.Time, n)
	var mu sync.Mutex
	var lats []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	body := []byte(nil)
	method := "GET"
	if tc.name == "upload" {
		method, body = "POST", make([]byte, 1<<20)
	}
	// 64 clients, or as many as the case's wrk connections where a
	// handler waits and each client spends most of its time waiting.
	for range max(64, tc.conns) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range due {
				time.Sleep(time.Until(t))
				req, _ := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
				resp, err := c.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						err = fmt.Errorf("%s: status %d", url, resp.StatusCode)
					}
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				lats = append(lats, time.Since(t))
				mu.Unlock()
			}
		}()
	}
	start := time.Now().Add(50 * time.Millisecond)
	for i := range n {
		due <- start.Add(time.Duration(i) * interval)
	}
	close(due)
	wg.Wait()
	if firstErr != nil {
		return [2]time.Duration{}, firstErr
	}
	slices.Sort(lats)
	// The first tenth warms connections up; it is not counted.
	lats = lats[len(lats)/10:]
	q := func(p float64) time.Duration { return lats[int(p*float64(len(lats)-1))].Round(10 * time.Microsecond) }
	return [2]time.Duration{q(0.50), q(0.99)}, nil
}

func rpsOf(rs []result) []float64 {
	out := make([]float64, len(rs))
	for i, r := range rs {
		out[i] = r.rps
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// spread is "min-max (median m)".
func spread(v []float64, format string) string {
	s := slices.Clone(v)
	slices.Sort(s)
	f := func(x float64) string { return fmt.Sprintf(format, x) }
	return fmt.Sprintf("%s-%s (median %s)", f(s[0]), f(s[len(s)-1]), f(s[len(s)/2]))
}

// cpuPer is the server's CPU per request over all rounds.
func cpuPer(rs []result) string {
	var cpu time.Duration
	var n int64
	for _, r := range rs {
		cpu += r.cpu
		n += r.requests
	}
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f µs", float64(cpu.Microseconds())/float64(n))
}
