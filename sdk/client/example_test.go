package client_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/wasmbuild"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
	"github.com/nanoedge/nanoedge/server"
)

// controlPlane starts a throwaway single-node control plane and returns
// its address, its admin token and a stop function. A real program would
// dial an existing cluster instead.
func controlPlane() (addr, admin string, stop func()) {
	dir, _ := os.MkdirTemp("", "nanoedge-example-")
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	rc := registry.DefaultConfig(dir)
	rc.RaftAddr, rc.Logger = "127.0.0.1:0", logger
	rc.HeartbeatTimeout, rc.ElectionTimeout = 100*time.Millisecond, 100*time.Millisecond
	api := controlplane.DefaultConfig()
	api.Logger = logger
	cp, err := server.StartControlPlane(context.Background(), server.ControlPlaneConfig{Registry: rc, API: api, GRPCAddr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	token, _ := os.ReadFile(server.AdminTokenFile(dir))
	return cp.Addr(), strings.TrimSpace(string(token)), func() { cp.Close(); os.RemoveAll(dir) }
}

func buildHello() []byte { return build(filepath.Join("examples", "hello")) }

func build(dir string) []byte {
	wasm, err := wasmbuild.Build(context.Background(), filepath.Join(guests.Root(), dir))
	if err != nil {
		panic(err)
	}
	return wasm
}

// A CI pipeline: trust a publisher key once (admin), then upload a signed
// module and route it (publisher).
func Example_deploy() {
	addr, admin, stop := controlPlane()
	defer stop()
	ctx := context.Background()

	adminClient, _ := client.New(addr, client.WithToken(admin))
	defer adminClient.Close()
	key, _ := signing.GenerateKey()
	if _, err := adminClient.AddKey(ctx, "ci", key.Public().(ed25519.PublicKey)); err != nil {
		panic(err)
	}
	_, ciToken, _ := adminClient.CreateToken(ctx, "ci", registryv1.Role_ROLE_PUBLISHER)

	ci, _ := client.New(addr, client.WithToken(ciToken))
	defer ci.Close()
	var sent, total int64
	res, err := ci.Upload(ctx, "hello", buildHello(), client.WithSigner(key), client.WithSource("git:abc123"),
		client.WithProgress(func(s, t int64) { sent, total = s, t }))
	if err != nil {
		panic(err)
	}
	fmt.Println("created:", res.Created, "complete:", sent == total)
	fmt.Println("uploader:", res.Module.Provenance.Uploader, "source:", res.Module.Provenance.Source)

	route, _, err := ci.SetRoute(ctx, client.Route{PathPrefix: "/hello", Module: "hello@" + res.Module.Digest})
	if err != nil {
		panic(err)
	}
	fmt.Println("route", route.PathPrefix, "->", route.ModuleName)

	// Unsigned bytes are refused, and nothing is stored.
	_, err = ci.Upload(ctx, "other", buildHello())
	fmt.Println(strings.Contains(err.Error(), "module is unsigned"))
	// Output:
	// created: true complete: true
	// uploader: ci source: git:abc123
	// route /hello -> hello
	// true
}

// A program following the registry: list, then watch from the listed
// revision + 1, as workers do.
func ExampleClient_Watch() {
	addr, admin, stop := controlPlane()
	defer stop()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, _ := client.New(addr, client.WithToken(admin))
	defer c.Close()
	key, _ := signing.GenerateKey()
	c.AddKey(ctx, "ci", key.Public().(ed25519.PublicKey))
	if _, err := c.Upload(ctx, "hello", buildHello(), client.WithSigner(key)); err != nil {
		panic(err)
	}

	_, rev, _ := c.ListRoutes(ctx)
	go func() {
		c.SetRoute(ctx, client.Route{PathPrefix: "/a", Module: "hello"})
		c.DeleteRoute(ctx, "", "/a")
	}()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	seen := 0
	for resp := range c.Watch(wctx, rev+1) {
		if resp.Err != nil {
			panic(resp.Err)
		}
		for _, e := range resp.Events {
			fmt.Println(e.Type, e.GetRoute().GetPathPrefix())
			seen++
		}
		if seen == 2 {
			stop() // the channel closes
		}
	}
	fmt.Println(seen)
	// Output:
	// EVENT_TYPE_PUT /a
	// EVENT_TYPE_DELETE /a
	// 2
}

// An operator's gray release: a feature flag, a weighted split with a rule
// that follows the flag, then a stepwise rollout paused and aborted.
func Example_grayRelease() {
	addr, admin, stop := controlPlane()
	defer stop()
	ctx := context.Background()
	c, _ := client.New(addr, client.WithToken(admin))
	defer c.Close()
	key, _ := signing.GenerateKey()
	c.AddKey(ctx, "ci", key.Public().(ed25519.PublicKey))
	v1, err := c.Upload(ctx, "shop", buildHello(), client.WithSigner(key))
	if err != nil {
		panic(err)
	}
	v2, err := c.Upload(ctx, "shop-next", build(guests.Echo), client.WithSigner(key))
	if err != nil {
		panic(err)
	}

	flag, _, _ := c.SetFlag(ctx, "new-checkout", false, "the new checkout flow")
	fmt.Println("flag", flag.Name, "enabled:", flag.Enabled)
	route, _, err := c.SetRoute(ctx, client.Route{
		PathPrefix: "/shop/",
		Versions:   []*registryv1.VersionSpec{{Module: v1.Module.Digest, Weight: 90}, {Module: v2.Module.Digest, Weight: 10}},
		StickyKey:  "cookie:uid",
		Rules:      []*registryv1.RuleSpec{{Kind: registryv1.MatchKind_MATCH_KIND_FLAG, Name: "new-checkout", Module: v2.Module.Digest}},
	})
	if err != nil {
		panic(err)
	}
	for _, v := range route.Versions {
		fmt.Printf("%s %d%%\n", v.ModuleName, v.Weight)
	}
	c.SetFlag(ctx, "new-checkout", true, "") // every worker now sends /shop/ to shop-next

	// Back to one version, then roll the next one out step by step.
	c.SetRoute(ctx, client.Route{PathPrefix: "/shop/", Module: v1.Module.Digest})
	ro, err := c.StartRollout(ctx, &registryv1.StartRolloutRequest{
		PathPrefix: "/shop/", Module: v2.Module.Digest, Steps: []uint32{5, 50, 100},
		IntervalMs: time.Hour.Milliseconds(), MaxErrorRate: 0.01, MaxP99Ms: 200,
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("rollout at", ro.Steps[ro.Step], "percent:", ro.State)
	ro, _ = c.PauseRollout(ctx, "", "/shop/")
	fmt.Println(ro.State)
	ro, _ = c.AbortRollout(ctx, "", "/shop/")
	fmt.Println(ro.State, "back on", ro.Baseline[0].ModuleName)
	// Output:
	// flag new-checkout enabled: false
	// shop 90%
	// shop-next 10%
	// rollout at 5 percent: ROLLOUT_STATE_RUNNING
	// ROLLOUT_STATE_PAUSED
	// ROLLOUT_STATE_ABORTED back on shop
}
