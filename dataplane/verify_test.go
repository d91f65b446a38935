package dataplane_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// tampering passes a real client through but corrupts what it fetches for
// one digest, as storage or a network path might.
type tampering struct {
	*client.Client
	digest string
	tamper func(m *registryv1.Module)
}

func (t *tampering) FetchModule(ctx context.Context, digest string) (*registryv1.Module, []byte, error) {
	m, wasm, err := t.Client.FetchModule(ctx, digest)
	if err == nil && digest == t.digest {
		m = proto.Clone(m).(*registryv1.Module)
		t.tamper(m)
	}
	return m, wasm, err
}

// TestWorkerRefusesTamperedModule checks a worker verifies signatures itself
// and keeps serving the previous version when a new one fails.
func TestWorkerRefusesTamperedModule(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(m *registryv1.Module)
		want   string
	}{
		{"flipped signature bit", func(m *registryv1.Module) { m.Provenance.Signature[0] ^= 1 }, "signature does not verify"},
		{"renamed", func(m *registryv1.Module) { m.Name = "evil" }, "signature does not verify"},
		{"unsigned", func(m *registryv1.Module) { m.Provenance = nil }, "is unsigned"},
		{"unknown key", func(m *registryv1.Module) { m.Provenance.KeyId = "ed25519:0000000000000000" }, "unknown key"},
	}
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	ctx := context.Background()
	hello := env.Upload(t, "hello", guests.Hello).Module
	echo := env.Upload(t, "echo", guests.Echo).Module
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/" + strings.ReplaceAll(tt.name, " ", "-")
			if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: path, Module: hello.Digest}); err != nil {
				t.Fatal(err)
			}
			reg := &tampering{Client: testenv.NewClient(t, env.CP.Addr(), env.WorkerToken), digest: echo.Digest, tamper: tt.tamper}
			w, url := startWorker(t, reg)
			waitBody(t, url+path, "Hello from Nanoedge!")
			rev := w.Revision()
			if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: path, Module: echo.Digest}); err != nil {
				t.Fatal(err)
			}
			poll.Eventually(t, time.Minute, func() error {
				if w.Revision() <= rev {
					return errors.New("route change not applied yet")
				}
				return nil
			})
			if msg := w.Status().LoadErrors[echo.Digest]; !strings.Contains(msg, tt.want) || !strings.Contains(msg, "not trusted") {
				t.Fatalf("exp a load error mentioning %q, got %q", tt.want, msg)
			}
			waitBody(t, url+path, "Hello from Nanoedge!") // still the previous version
		})
	}
}

func startWorker(t *testing.T, reg dataplane.Registry) (*dataplane.Worker, string) {
	t.Helper()
	return startWorkerWith(t, reg, func(*dataplane.Config) {})
}

// startWorkerWith is startWorker with the worker's configuration amended.
func startWorkerWith(t *testing.T, reg dataplane.Registry, tweak func(*dataplane.Config)) (*dataplane.Worker, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ec := wazeroengine.DefaultConfig()
	ec.CacheDir = guests.CacheDir()
	eng, err := wazeroengine.New(ctx, ec)
	if err != nil {
		t.Fatal(err)
	}
	cfg := dataplane.DefaultConfig()
	cfg.Logger = testenv.Logger()
	tweak(&cfg)
	w, err := dataplane.New(cfg, reg, eng)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{}, 2)
	go func() { w.Run(ctx); done <- struct{}{} }()
	go func() { w.Serve(ctx, ln); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		eng.Close(context.Background())
	})
	return w, "http://" + ln.Addr().String()
}

func waitBody(t *testing.T, url, prefix string) {
	t.Helper()
	poll.Eventually(t, 3*time.Minute, func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(string(b), prefix) {
			return errors.New(resp.Status + ": " + string(b))
		}
		return nil
	})
}
