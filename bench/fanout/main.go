// Command fanout measures how one control plane node feeds a fleet: it
// starts `nanoedge dev` (a single-node control plane; no example) as its
// own process, opens N watch streams on it, each on its own connection
// as N workers would, then writes a flag several times and times how
// long each change takes to reach every stream. It reports the
// percentiles and the node's resident memory per stream. With -report,
// each stream's client also reports telemetry every second, as a worker
// does (with worker tokens, 1,000 workers each), and the node's CPU over
// ten seconds of that is reported too.
//
//	go run ./bench/fanout -streams 10000 -report
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/nanoedge/nanoedge/bench/internal/proc"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

func main() {
	streams := flag.Int("streams", 1000, "watch streams, each on its own connection")
	writes := flag.Int("writes", 5, "flag writes to time")
	report := flag.Bool("report", false, "every stream's client also reports telemetry every second")
	flag.Parse()
	if *streams < 1 || *writes < 1 {
		fmt.Fprintln(os.Stderr, "fanout: -streams and -writes must be positive")
		os.Exit(2)
	}
	if err := run(context.Background(), *streams, *writes, *report, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fanout:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, n, writes int, report bool, out io.Writer) error {
	tmp, err := os.MkdirTemp("", "nanoedge-fanout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "nanoedge")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/nanoedge")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build (run from the repository root): %w", err)
	}
	addrs, err := proc.FreeAddrs(3)
	if err != nil {
		return err
	}
	node := exec.CommandContext(ctx, bin, "dev", "--example", "", "--http-addr", addrs[0], "--grpc-addr", addrs[1], "--raft-addr", addrs[2],
		"--dashboard-addr", "", "--log-level", "warn")
	node.Dir, node.Stderr = tmp, os.Stderr
	if err := node.Start(); err != nil {
		return err
	}
	defer func() { node.Process.Signal(os.Interrupt); node.Wait() }()
	token, err := waitToken(ctx, filepath.Join(tmp, ".nanoedge", "admin.token"))
	if err != nil {
		return err
	}
	admin, err := client.New(addrs[1], client.WithToken(token))
	if err != nil {
		return err
	}
	defer admin.Close()
	var rev int64
	for deadline := time.Now().Add(time.Minute); ; {
		if _, rev, err = admin.SetFlag(ctx, "fanout", false, "bench/fanout"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the node does not take writes: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	idle, err := proc.RSS(node.Process.Pid)
	if err != nil {
		return err
	}

	// Each stream reports the revisions it sees.
	type seen struct {
		rev int64
		at  time.Time
	}
	events := make(chan seen, n*writes)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ready sync.WaitGroup
	ready.Add(n)
	start := time.Now()
	var workerTokens []string
	if report {
		for i := 0; i < (n+999)/1000; i++ {
			_, tok, err := admin.CreateToken(ctx, fmt.Sprintf("fanout-%d", i), registryv1.Role_ROLE_WORKER)
			if err != nil {
				return err
			}
			workerTokens = append(workerTokens, tok)
		}
	}
	for i := range n {
		tok := token
		if report {
			tok = workerTokens[i/1000]
		}
		c, err := client.New(addrs[1], client.WithToken(tok))
		if err != nil {
			return err
		}
		defer c.Close()
		if report {
			go reportEvery(wctx, c, fmt.Sprintf("fanout-%05d", i))
		}
		go func() {
			first := true
			for resp := range c.Watch(wctx, rev+1) {
				if first {
					ready.Done()
					first = false
				}
				for _, e := range resp.Events {
					events <- seen{e.Revision, time.Now()}
				}
			}
		}()
	}
	// A watch answers once it is established (a progress notice within
	// seconds); wait for all of them.
	ready.Wait()
	opened := time.Since(start)
	time.Sleep(2 * time.Second)
	loaded, err := proc.RSS(node.Process.Pid)
	if err != nil {
		return err
	}

	cpu := ""
	if report {
		before, err := proc.CPU(node.Process.Pid)
		if err != nil {
			return err
		}
		time.Sleep(10 * time.Second)
		after, err := proc.CPU(node.Process.Pid)
		if err != nil {
			return err
		}
		cpu = fmt.Sprintf("; every stream's client reporting each second, the node used %.2f cores", (after-before).Seconds()/10)
	}
	var lat []time.Duration
	var worst []time.Duration
	for w := range writes {
		t0 := time.Now()
		_, r, err := admin.SetFlag(ctx, "fanout", w%2 == 0, "")
		if err != nil {
			return err
		}
		var last time.Duration
		for got := 0; got < n; {
			select {
			case s := <-events:
				if s.rev != r {
					continue
				}
				d := s.at.Sub(t0)
				lat = append(lat, d)
				last = max(last, d)
				got++
			case <-time.After(time.Minute):
				return fmt.Errorf("write %d: %d of %d streams saw it within a minute", w, got, n)
			}
		}
		worst = append(worst, last)
	}
	slices.Sort(lat)
	q := func(p float64) time.Duration { return lat[int(p*float64(len(lat)-1))].Round(time.Millisecond) }
	fmt.Fprintf(out, "%d watch streams on one node (opened in %v): a flag write reached all of them in p50 %v, p99 %v, max %v (%d writes); node RSS %d MiB idle, %d MiB with the streams: %.1f KiB per stream%s\n",
		n, opened.Round(time.Millisecond), q(0.5), q(0.99), slices.Max(worst).Round(time.Millisecond), writes, idle>>20, loaded>>20, float64(loaded-idle)/1024/float64(n), cpu)
	return nil
}

func waitToken(ctx context.Context, path string) (string, error) {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return strings.TrimSpace(string(b)), nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("no admin token at %s", path)
}

// reportEvery sends a worker's report every second until ctx ends.
func reportEvery(ctx context.Context, c *client.Client, id string) {
	started := timestamppb.Now()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		c.Report(ctx, &registryv1.WorkerReport{WorkerId: id, HttpAddr: "10.0.0.1:8080", Started: started})
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
