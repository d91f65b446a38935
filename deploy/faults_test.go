package deploy

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
)

// TestLocalClusterRidesThroughFaults runs the faults between "durable" and
// "available" against three control plane processes and two workers:
// each node paused in turn (SIGSTOP, as a hung host) under writes and
// watching workers, quorum lost during a write and a rollback, and a
// worker restarted while the whole control plane is down. Each asserts a
// bounded time, an honest answer and workers that serve.
func TestLocalClusterRidesThroughFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("pauses processes for minutes; runs in the full suite")
	}
	c := &localCluster{t: t, dir: t.TempDir(), bin: buildNanoedge(t), base: freePortBase(t)}
	t.Cleanup(func() {
		for _, n := range []string{"n1", "n2", "n3", "w1", "w2"} {
			exec.Command("local/cluster.sh", "resume", n, c.dir).Run()
		}
		cmd := exec.Command("local/cluster.sh", "down", c.dir)
		cmd.Env = c.env()
		cmd.Run()
	})
	c.script(nil, "up")
	if out, err := c.nanoedge("deploy", "../examples/hello", "--path", "/hello/", "--wait"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	get := func(worker int, path string) (int, string) {
		resp, err := http.Get(c.worker(worker) + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	servedWithin := func(bound time.Duration, path string) time.Duration {
		t.Helper()
		start := time.Now()
		poll.Eventually(t, bound, func() error {
			for w := 1; w <= 2; w++ {
				if code, body := get(w, path); code != 200 {
					return fmt.Errorf("w%d %s: %d %q", w, path, code, body)
				}
			}
			return nil
		})
		return time.Since(start)
	}
	servedWithin(time.Minute, "/hello/a")

	// Each node paused in turn: a write through the CLI (every node's
	// address, default retries) is acknowledged, and both workers, one of
	// which may have been watching the paused node, serve it.
	for i, n := range []string{"n1", "n2", "n3"} {
		c.script(nil, "pause", n)
		start := time.Now()
		path := fmt.Sprintf("/paused-%s/", n)
		out, err := c.nanoedge("route", "set", "--path", path, "--module", "hello", "--call-timeout", "30s")
		wrote := time.Since(start)
		if err != nil {
			t.Fatalf("route set with %s paused: %v\n%s", n, err, out)
		}
		seen := servedWithin(30*time.Second, path+"x")
		t.Logf("%s paused: write acknowledged in %v, served by both workers %v after", n, wrote.Round(time.Millisecond), seen.Round(time.Millisecond))
		if wrote > 20*time.Second {
			t.Errorf("the write took %v with %s paused", wrote, n)
		}
		c.script(nil, "resume", n)
		_ = i
	}

	// Quorum lost: the leader's two followers paused. A write to the
	// leader answers within its call timeout, saying it may have been
	// applied rather than that it was refused; once quorum is back it is
	// there at most once, and the workers serve throughout.
	var leader string
	poll.Eventually(t, 30*time.Second, func() error {
		if leader = c.leader(); leader == "" {
			return fmt.Errorf("no leader")
		}
		return nil
	})
	var followers []string
	for _, n := range []string{"n1", "n2", "n3"} {
		if n != leader {
			followers = append(followers, n)
			c.script(nil, "pause", n)
		}
	}
	leaderAddr := fmt.Sprintf("127.0.0.1:%d", c.base+10*int(leader[1]-'0'))
	start := time.Now()
	out, err := c.nanoedge("route", "set", "--path", "/quorum/", "--module", "hello", "--call-timeout", "6s", "--controlplane", leaderAddr)
	took := time.Since(start)
	if err == nil {
		t.Fatalf("a write without quorum was acknowledged: %s", out)
	}
	if took > 15*time.Second || !strings.Contains(out, "may have been applied") {
		t.Errorf("a write to a leader without quorum: exp an unknown outcome within 15 s, got after %v: %s", took, out)
	}
	t.Logf("write without quorum answered in %v: %s", took.Round(time.Millisecond), strings.TrimSpace(out))
	if code, _ := get(1, "/hello/during"); code != 200 {
		t.Errorf("w1 stopped serving without quorum: %d", code)
	}
	outR, errR := c.nanoedge("route", "rollback", "--path", "/hello/", "--call-timeout", "6s", "--controlplane", leaderAddr)
	if errR == nil {
		t.Fatalf("a rollback without quorum was acknowledged: %s", outR)
	}
	for _, n := range followers {
		c.script(nil, "resume", n)
	}
	poll.Eventually(t, time.Minute, func() error {
		out, err := c.nanoedge("audit", "--output", "json")
		if err != nil {
			return fmt.Errorf("%v %s", err, out)
		}
		if n := strings.Count(out, `"/quorum/ ->`); n > 1 {
			t.Fatalf("the write without quorum applied %d times", n)
		}
		return nil
	})

	// The whole control plane down; a worker restarted meanwhile serves
	// what it served before, from its saved state.
	for _, n := range []string{"n1", "n2", "n3"} {
		c.script([]string{"KILL=1"}, "stop", n)
	}
	c.script([]string{"KILL=1"}, "stop", "w1")
	restarted := time.Now()
	cmd := exec.Command("local/cluster.sh", "start", "w1", c.dir)
	cmd.Env = c.env()
	cmd.Start() // its wait for /healthz is what this checks; not waited on
	poll.Eventually(t, 30*time.Second, func() error {
		if code, body := get(1, "/hello/outage"); code != 200 {
			return fmt.Errorf("w1 after a restart in the outage: %d %q", code, body)
		}
		return nil
	})
	t.Logf("worker restarted with the control plane down: serving its saved state %v later", time.Since(restarted).Round(time.Millisecond))
	code, body := get(1, "/.nanoedge/healthz")
	if code != 200 || !strings.Contains(body, "stale since") {
		t.Fatalf("healthz in the outage: %d %q", code, body)
	}
	cmd.Wait()
}
