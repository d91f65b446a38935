// Package testenv starts a control plane for tests the way an operator
// would: bootstrap, read the admin token, trust a publisher key, and hand
// out tokens per role. Workers started from it use the shared compilation
// cache.
package testenv

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
	"github.com/nanoedge/nanoedge/server"
)

// Env is a running control plane with credentials for each role.
type Env struct {
	CP      *server.ControlPlane
	DataDir string
	// AdminToken is the bootstrap admin's secret.
	AdminToken string
	// Admin is a client with the admin token; Publisher one with a
	// publisher token.
	Admin, Publisher *client.Client
	// Key is a trusted publisher key.
	Key         ed25519.PrivateKey
	WorkerToken string
	// ClientTLS is what clients and workers of this env speak, if set.
	ClientTLS *tls.Config
}

// Logger discards logs unless NANOEDGE_TEST_LOG is set.
func Logger() *slog.Logger {
	if os.Getenv("NANOEDGE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// ControlPlaneConfig is a fast-electing single-node configuration.
func ControlPlaneConfig(dataDir, grpcAddr string) server.ControlPlaneConfig {
	rc := registry.DefaultConfig(dataDir)
	rc.RaftAddr = "127.0.0.1:0"
	rc.HeartbeatTimeout = 100 * time.Millisecond
	rc.ElectionTimeout = 100 * time.Millisecond
	rc.Logger = Logger()
	api := controlplane.DefaultConfig()
	api.Logger = rc.Logger
	return server.ControlPlaneConfig{Registry: rc, API: api, GRPCAddr: grpcAddr}
}

// StartControlPlane starts a node and stops it at cleanup.
func StartControlPlane(tb testing.TB, cfg server.ControlPlaneConfig) *server.ControlPlane {
	tb.Helper()
	cp, err := server.StartControlPlane(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start control plane: %v", err)
	}
	tb.Cleanup(func() { cp.Close() })
	return cp
}

// Start starts a control plane from cfg and sets up credentials.
func Start(tb testing.TB, cfg server.ControlPlaneConfig) *Env {
	return StartTLS(tb, cfg, nil)
}

// StartTLS is Start for a control plane serving TLS; clientTLS is what
// the env's clients and workers speak.
func StartTLS(tb testing.TB, cfg server.ControlPlaneConfig, clientTLS *tls.Config) *Env {
	tb.Helper()
	e := &Env{CP: StartControlPlane(tb, cfg), DataDir: cfg.Registry.DataDir, ClientTLS: clientTLS}
	b, err := os.ReadFile(server.AdminTokenFile(e.DataDir))
	if err != nil {
		tb.Fatalf("read admin token: %v", err)
	}
	e.AdminToken = strings.TrimSpace(string(b))
	e.Admin = e.Client(tb, e.AdminToken)
	ctx := context.Background()
	if e.Key, err = signing.GenerateKey(); err != nil {
		tb.Fatal(err)
	}
	if _, err := e.Admin.AddKey(ctx, "ci", e.Key.Public().(ed25519.PublicKey)); err != nil {
		tb.Fatalf("add key: %v", err)
	}
	e.Publisher = e.Client(tb, e.Token(tb, "ci", registryv1.Role_ROLE_PUBLISHER))
	e.WorkerToken = e.Token(tb, "worker", registryv1.Role_ROLE_WORKER)
	return e
}

// Token creates a token and returns its secret.
func (e *Env) Token(tb testing.TB, name string, role registryv1.Role) string {
	tb.Helper()
	_, secret, err := e.Admin.CreateToken(context.Background(), name, role)
	if err != nil {
		tb.Fatalf("create %s token: %v", role, err)
	}
	return secret
}

// Client returns a client of this env with token (none if empty).
func (e *Env) Client(tb testing.TB, token string) *client.Client {
	tb.Helper()
	var opts []client.Option
	if e.ClientTLS != nil {
		opts = append(opts, client.WithTLS(e.ClientTLS))
	}
	return NewClient(tb, e.CP.Addr(), token, opts...)
}

// NewClient returns a client with token (none if empty), closed at cleanup.
func NewClient(tb testing.TB, addr, token string, opts ...client.Option) *client.Client {
	tb.Helper()
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	c, err := client.New(addr, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// Upload builds the module at rel, signs it with the env's key and uploads
// it as the publisher.
func (e *Env) Upload(tb testing.TB, name, rel string) *client.UploadResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	build := guests.Build
	if strings.HasSuffix(rel, ".c") {
		build = guests.BuildC
	}
	res, err := e.Publisher.Upload(ctx, name, build(tb, rel), client.WithSigner(e.Key))
	if err != nil {
		tb.Fatalf("upload %s: %v", name, err)
	}
	return res
}

// WorkerConfig returns a worker configuration for this env.
func (e *Env) WorkerConfig() server.WorkerConfig {
	ec := engine.DefaultOptions()
	ec.CacheDir = guests.CacheDir()
	wc := dataplane.DefaultConfig()
	wc.Logger = Logger()
	return server.WorkerConfig{ControlPlane: e.CP.Addr(), HTTPAddr: "127.0.0.1:0", Token: e.WorkerToken, TLS: e.ClientTLS, Engine: ec, Worker: wc}
}

// StartWorker starts a worker and stops it at cleanup.
func StartWorker(tb testing.TB, cfg server.WorkerConfig) *server.Worker {
	tb.Helper()
	w, err := server.StartWorker(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start worker: %v", err)
	}
	tb.Cleanup(func() { w.Close() })
	return w
}

// Traffic sends GET url every interval until the test ends, as a live
// route has; responses are read and dropped.
func Traffic(tb testing.TB, url string, interval time.Duration) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(interval):
			}
			if resp, err := http.Get(url); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	tb.Cleanup(func() { close(stop); <-done })
}
