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
	"github.com/nanoedge/nanoedge/internal/server"
	"github.com/nanoedge/nanoedge/internal/wasmbuild"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
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

func buildHello() []byte {
	wasm, err := wasmbuild.Build(context.Background(), filepath.Join(wasmtest.Root(), "examples", "hello"))
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
	seen := 0
	errDone := fmt.Errorf("done")
	err := c.Watch(ctx, rev+1, func(events []*registryv1.Event, _ int64) error {
		for _, e := range events {
			fmt.Println(e.Type, e.GetRoute().GetPathPrefix())
			if seen++; seen == 2 {
				return errDone
			}
		}
		return nil
	})
	fmt.Println(err == errDone)
	// Output:
	// EVENT_TYPE_PUT /a
	// EVENT_TYPE_DELETE /a
	// true
}
