package systemtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/server"
)

// node is one control plane process of a test cluster, restartable on the
// same data dir and addresses.
type node struct {
	id  string
	cfg server.ControlPlaneConfig
	cp  *server.ControlPlane
}

// freeAddr reserves a loopback port so a restarted node keeps its address.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func newNodeConfig(t *testing.T, id string) server.ControlPlaneConfig {
	cfg := testenv.ControlPlaneConfig(t.TempDir(), freeAddr(t))
	cfg.Registry.NodeID, cfg.Registry.RaftAddr = id, freeAddr(t)
	// Loose enough for a race-enabled build on two busy cores, tight
	// enough to fail over well within the 3 s the tests demand.
	cfg.Registry.HeartbeatTimeout, cfg.Registry.ElectionTimeout = 300*time.Millisecond, 300*time.Millisecond
	cfg.RolloutTick = 100 * time.Millisecond
	return cfg
}

// startCluster bootstraps n1 and joins the others through it.
func startCluster(t *testing.T, n int) (*testenv.Env, []*node) {
	t.Helper()
	first := &node{id: "n1", cfg: newNodeConfig(t, "n1")}
	env := testenv.Start(t, first.cfg)
	first.cp = env.CP
	nodes := []*node{first}
	for i := 2; i <= n; i++ {
		nd := &node{id: fmt.Sprintf("n%d", i), cfg: newNodeConfig(t, fmt.Sprintf("n%d", i))}
		nd.cfg.Registry.Bootstrap = false
		nd.cfg.Join, nd.cfg.JoinToken = first.cp.Addr(), env.AdminToken
		nd.cp = testenv.StartControlPlane(t, nd.cfg)
		nodes = append(nodes, nd)
	}
	return env, nodes
}

func (nd *node) restart(t *testing.T) {
	t.Helper()
	cfg := nd.cfg
	cfg.Join = "" // a member restarts from its own state
	nd.cp = testenv.StartControlPlane(t, cfg)
}

func leaderOf(t *testing.T, nodes []*node) *node {
	t.Helper()
	var leader *node
	poll.Eventually(t, 10*time.Second, func() error {
		for _, nd := range nodes {
			if nd.cp != nil && nd.cp.Store.IsLeader() {
				leader = nd
				return nil
			}
		}
		return errors.New("no leader")
	})
	return leader
}

// TestClusterForwardingAndFailover runs a 3-node control plane: writes and
// linearizable reads through followers, a worker on a follower, then the
// leader is killed under a stream of writes and restarted.
func TestClusterForwardingAndFailover(t *testing.T) {
	env, nodes := startCluster(t, 3)
	ctx := ctxT(t)
	leader := leaderOf(t, nodes)
	var followers []*node
	for _, nd := range nodes {
		if nd != leader {
			followers = append(followers, nd)
		}
	}
	pubToken := env.Token(t, "ci2", registryv1.Role_ROLE_PUBLISHER)
	via := func(nd *node, opts ...client.Option) *client.Client {
		return testenv.NewClient(t, nd.cp.Addr(), pubToken, opts...)
	}

	members, _, err := via(followers[0]).Members(ctx)
	if err != nil || len(members) != 3 {
		t.Fatalf("exp 3 members, got %v, %v", members, err)
	}
	for _, m := range members {
		if m.GrpcAddr == "" || !m.Voter || m.Leader != (m.Id == leader.id) {
			t.Fatalf("unexpected member %v (leader %s)", m, leader.id)
		}
	}

	// Writes through a follower are forwarded; reads through the other
	// follower right after are linearizable.
	a, b := via(followers[0]), via(followers[1])
	res, err := a.Upload(ctx, "hello", guests.Build(t, guests.Hello), client.WithSigner(env.Key))
	if err != nil {
		t.Fatalf("upload through a follower: %v", err)
	}
	for i := 0; i < 20; i++ {
		path := fmt.Sprintf("/lin/%d", i)
		if _, _, err := a.SetRoute(ctx, client.Route{PathPrefix: path, Module: "hello"}); err != nil {
			t.Fatal(err)
		}
		routes, _, err := b.ListRoutes(ctx)
		if err != nil || !hasRoute(routes, path) {
			t.Fatalf("linearizable read through another follower missed %s: %v", path, err)
		}
	}
	if _, err := b.GetModule(ctx, "hello@"+res.Module.Digest); err != nil {
		t.Fatal(err)
	}
	if routes, _, err := via(followers[1], client.WithStaleReads()).ListRoutes(ctx); err != nil || len(routes) == 0 {
		t.Fatalf("stale read: %v, %v", routes, err)
	}

	// A worker following a follower serves what was written on the leader.
	wcfg := env.WorkerConfig()
	wcfg.ControlPlane = followers[1].cp.Addr()
	w := testenv.StartWorker(t, wcfg)
	waitServed(t, w.URL()+"/lin/3", func(r response) bool { return r.status == 200 })

	// Kill the leader while a writer streams route updates through a
	// follower; every acknowledged write must survive.
	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c := a
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			path := fmt.Sprintf("/fo/%d", i)
			wctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _, err := c.SetRoute(wctx, client.Route{PathPrefix: path, Module: "hello"})
			cancel()
			if err == nil {
				mu.Lock()
				acked = append(acked, path)
				mu.Unlock()
			} else {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}()
	time.Sleep(300 * time.Millisecond)
	killed := time.Now()
	leader.cp.Close()
	leader.cp = nil
	mu.Lock()
	before := len(acked)
	mu.Unlock()
	var failover time.Duration
	poll.Eventually(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) <= before+2 {
			return errors.New("no writes accepted since the leader died")
		}
		if failover == 0 {
			failover = time.Since(killed)
		}
		return nil
	})
	t.Logf("writes accepted again %v after the leader was killed", failover.Round(time.Millisecond))
	if failover > 3*time.Second {
		t.Fatalf("failover took %v, want under 3s", failover)
	}
	close(stop)
	<-done

	leader.restart(t)
	mu.Lock()
	want := append([]string(nil), acked...)
	mu.Unlock()
	// Every node, the restarted one too, converges to the same state that
	// holds every acknowledged write.
	var states []string
	poll.Eventually(t, 30*time.Second, func() error {
		states = states[:0]
		for _, nd := range nodes {
			c := testenv.NewClient(t, nd.cp.Addr(), pubToken, client.WithStaleReads())
			routes, _, err := c.ListRoutes(ctx)
			if err != nil {
				return err
			}
			for _, p := range want {
				if !hasRoute(routes, p) {
					return fmt.Errorf("%s lacks acknowledged route %s", nd.id, p)
				}
			}
			states = append(states, fingerprint(routes))
		}
		for _, s := range states[1:] {
			if s != states[0] {
				return errors.New("nodes disagree")
			}
		}
		return nil
	})
	t.Logf("%d acknowledged writes during failover, all present on all 3 nodes", len(want))
}

func hasRoute(routes []*registryv1.Route, path string) bool {
	for _, r := range routes {
		if r.PathPrefix == path {
			return true
		}
	}
	return false
}

func fingerprint(routes []*registryv1.Route) string {
	var b strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&b, "%s%s=%s@%d;", r.Host, r.PathPrefix, r.ModuleDigest, r.ModRevision)
	}
	return b.String()
}

// TestClientAndWorkerFailOver: a client and a worker given every node's
// address keep working when the node they were using is killed; calls
// made during the election are retried, not failed.
func TestClientAndWorkerFailOver(t *testing.T) {
	env, nodes := startCluster(t, 3)
	ctx := ctxT(t)
	leader := leaderOf(t, nodes)
	// The leader's address first: it is where the client and worker start.
	addrs := []string{leader.cp.Addr()}
	for _, nd := range nodes {
		if nd != leader {
			addrs = append(addrs, nd.cp.Addr())
		}
	}
	all := strings.Join(addrs, ",")
	pub := testenv.NewClient(t, all, env.Token(t, "ci2", registryv1.Role_ROLE_PUBLISHER))
	wcfg := env.WorkerConfig()
	wcfg.ControlPlane = all
	w := testenv.StartWorker(t, wcfg)
	if _, err := pub.Upload(ctx, "hello", guests.Build(t, guests.Hello), client.WithSigner(env.Key)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := pub.SetRoute(ctx, client.Route{PathPrefix: "/before", Module: "hello"}); err != nil {
		t.Fatal(err)
	}
	waitServed(t, w.URL()+"/before", func(r response) bool { return r.status == 200 })

	leader.cp.Close()
	leader.cp = nil
	killed := time.Now()
	// No retry loop here: the client's own retries carry the call over
	// the election.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, _, err := pub.SetRoute(wctx, client.Route{PathPrefix: "/after", Module: "hello"}); err != nil {
		t.Fatalf("write after the leader died: %v", err)
	}
	t.Logf("write accepted %v after the leader was killed", time.Since(killed).Round(time.Millisecond))
	waitServed(t, w.URL()+"/after", func(r response) bool { return r.status == 200 })
	t.Logf("the worker served the new route %v after the leader was killed", time.Since(killed).Round(time.Millisecond))
}
