package deploy

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/poll"
)

// localCluster drives deploy/local/cluster.sh.
type localCluster struct {
	t        *testing.T
	dir, bin string
	base     int
}

func (c *localCluster) env() []string {
	return append(os.Environ(), "NANOEDGE_BIN="+filepath.Join(c.bin, "nanoedge"), fmt.Sprintf("NANOEDGE_PORT_BASE=%d", c.base))
}

func (c *localCluster) script(extraEnv []string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command("local/cluster.sh", append(args, c.dir)...)
	cmd.Env = append(c.env(), extraEnv...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("cluster.sh %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// nanoedge runs a client command against every node, with the admin token.
func (c *localCluster) nanoedge(args ...string) (string, error) {
	token, err := os.ReadFile(filepath.Join(c.dir, "admin.token"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command(filepath.Join(c.bin, "nanoedge"), args...)
	cmd.Env = append(c.env(), "NANOEDGE_TOKEN="+strings.TrimSpace(string(token)),
		"NANOEDGE_KEY="+filepath.Join(c.dir, "publisher.key"),
		fmt.Sprintf("NANOEDGE_CONTROLPLANE=127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", c.base+10, c.base+20, c.base+30))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *localCluster) worker(i int) string { return fmt.Sprintf("http://127.0.0.1:%d", c.base+100+i) }

// freePortBase finds a block of 200 ports nothing listens on.
func freePortBase(t *testing.T) int {
	for base := 20000 + os.Getpid()%200*100; base < 60000; base += 1000 {
		free := true
		for _, p := range []int{10, 11, 20, 21, 30, 31, 101, 102} {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+p))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return base
		}
	}
	t.Fatal("no free block of ports")
	return 0
}

// TestLocalClusterSurvivesKilledProcesses starts three control plane
// processes and two worker processes with deploy/local/cluster.sh, deploys
// a handler, SIGKILLs the leader and a worker, and checks that the
// cluster goes on serving and changing, and that the restarted processes
// catch up.
func TestLocalClusterSurvivesKilledProcesses(t *testing.T) {
	c := &localCluster{t: t, dir: t.TempDir(), bin: buildNanoedge(t), base: freePortBase(t)}
	t.Cleanup(func() {
		cmd := exec.Command("local/cluster.sh", "down", c.dir)
		cmd.Env = c.env()
		cmd.Run()
	})
	c.script(nil, "up")

	served := func(worker int, path string) {
		t.Helper()
		poll.Eventually(t, time.Minute, func() error {
			resp, err := http.Get(c.worker(worker) + path)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), "You asked for "+path) {
				return fmt.Errorf("w%d GET %s: %d %q", worker, path, resp.StatusCode, body)
			}
			return nil
		})
	}
	if out, err := c.nanoedge("deploy", "../examples/hello", "--path", "/hello/", "--wait"); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	served(1, "/hello/a")
	served(2, "/hello/b")

	old := c.leader()
	if old == "" {
		t.Fatal("no leader")
	}
	c.script([]string{"KILL=1"}, "stop", old)
	killed := time.Now()
	if out, err := c.nanoedge("route", "set", "--path", "/after/", "--module", "hello"); err != nil {
		t.Fatalf("route set with %s killed: %v\n%s", old, err, out)
	}
	served(1, "/after/x")
	served(2, "/after/y")
	t.Logf("leader %s killed: route change served by both workers %v later", old, time.Since(killed).Round(time.Millisecond))
	if now := c.leader(); now == "" || now == old {
		t.Fatalf("leader after the kill: %q", now)
	}

	// The killed node comes back from its data dir and catches up.
	c.script(nil, "start", old)
	poll.Eventually(t, time.Minute, func() error {
		out, err := c.nanoedge("route", "list", "--output", "json", "--controlplane", fmt.Sprintf("127.0.0.1:%d", c.base+10*int(old[1]-'0')))
		if err != nil || !strings.Contains(out, `"/after/"`) {
			return fmt.Errorf("restarted %s: %v %s", old, err, out)
		}
		return nil
	})

	// A killed worker restarts with nothing but its flags and serves again.
	c.script([]string{"KILL=1"}, "stop", "w1")
	if _, err := http.Get(c.worker(1) + "/hello/x"); err == nil {
		t.Fatal("w1 still answers after SIGKILL")
	}
	c.script(nil, "start", "w1")
	served(1, "/after/again")
}

// leader returns the ID of the node the cluster says leads, or "".
func (c *localCluster) leader() string {
	out, err := c.nanoedge("cluster", "members", "--output", "json")
	if err != nil {
		return ""
	}
	var v struct {
		Members []struct {
			ID     string `json:"id"`
			Leader bool   `json:"leader"`
		} `json:"members"`
	}
	json.Unmarshal([]byte(out), &v)
	for _, m := range v.Members {
		if m.Leader {
			return m.ID
		}
	}
	return ""
}
