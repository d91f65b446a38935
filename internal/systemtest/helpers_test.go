package systemtest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
	"github.com/nanoedge/nanoedge/internal/server"
	"github.com/nanoedge/nanoedge/internal/testutil"
	"github.com/nanoedge/nanoedge/internal/wasmtest"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// loadTimeout allows a cold compile of a Go module under the race detector
// on a busy machine; waits return as soon as the condition holds.
const loadTimeout = 3 * time.Minute

func testLogger() *slog.Logger {
	if os.Getenv("NANOEDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func controlPlaneConfig(dataDir, grpcAddr string) server.ControlPlaneConfig {
	rc := registry.DefaultConfig(dataDir)
	rc.RaftAddr = "127.0.0.1:0"
	rc.HeartbeatTimeout = 100 * time.Millisecond
	rc.ElectionTimeout = 100 * time.Millisecond
	rc.Logger = testLogger()
	api := controlplane.DefaultConfig()
	api.Logger = rc.Logger
	return server.ControlPlaneConfig{Registry: rc, API: api, GRPCAddr: grpcAddr}
}

func startControlPlane(t *testing.T, cfg server.ControlPlaneConfig) *server.ControlPlane {
	t.Helper()
	cp, err := server.StartControlPlane(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Cleanup(func() { cp.Close() })
	return cp
}

func workerConfig(cpAddr string) server.WorkerConfig {
	ec := wazeroengine.DefaultConfig()
	ec.CacheDir = wasmtest.CacheDir()
	wc := dataplane.DefaultConfig()
	wc.Logger = testLogger()
	return server.WorkerConfig{ControlPlane: cpAddr, HTTPAddr: "127.0.0.1:0", Engine: ec, Worker: wc}
}

func startWorker(t *testing.T, cfg server.WorkerConfig) *server.Worker {
	t.Helper()
	w, err := server.StartWorker(context.Background(), cfg)
	if err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func newClient(t *testing.T, addr string) *client.Client {
	t.Helper()
	c, err := client.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), loadTimeout)
	t.Cleanup(cancel)
	return ctx
}

func upload(t *testing.T, c *client.Client, name, rel string) *client.UploadResult {
	t.Helper()
	res, err := c.Upload(ctxT(t), name, wasmtest.Build(t, rel))
	if err != nil {
		t.Fatalf("upload %s: %v", name, err)
	}
	return res
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(req *http.Request) (response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, string(b)}, err
}

func get(t *testing.T, url string) response {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	r, err := do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return r
}

// waitServed polls url until its response satisfies ok.
func waitServed(t *testing.T, url string, ok func(response) bool) response {
	t.Helper()
	var last response
	testutil.Eventually(t, loadTimeout, func() error {
		req, _ := http.NewRequest("GET", url, nil)
		r, err := do(req)
		if err != nil {
			return err
		}
		last = r
		if !ok(r) {
			return fmt.Errorf("GET %s: %d %q", url, r.status, r.body)
		}
		return nil
	})
	return last
}
