package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// ControlPlaneConfig configures a control plane node.
type ControlPlaneConfig struct {
	Registry registry.Config
	API      controlplane.Config
	// GRPCAddr is where the API listens; port 0 picks a free port.
	GRPCAddr string
	// TLS, if set, serves the API over TLS (mutual if it verifies clients).
	TLS *tls.Config
}

// ControlPlane is a running control plane node.
type ControlPlane struct {
	Store     *registry.Store
	grpc      *grpc.Server
	ln        net.Listener
	validator *wazeroengine.Validator
	served    chan error

	closeOnce sync.Once
	closeErr  error
}

// StartControlPlane opens the registry, waits for it to elect a leader if
// it bootstraps, and serves the gRPC API.
func StartControlPlane(ctx context.Context, cfg ControlPlaneConfig) (*ControlPlane, error) {
	store, err := registry.Open(cfg.Registry)
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{Store: store, served: make(chan error, 1)}
	if err := cp.start(ctx, cfg); err != nil {
		cp.Close()
		return nil, err
	}
	return cp, nil
}

func (cp *ControlPlane) start(ctx context.Context, cfg ControlPlaneConfig) error {
	if cfg.Registry.Bootstrap {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := cp.Store.WaitLeader(wctx); err != nil {
			return err
		}
	}
	if cfg.API.Auth && cfg.Registry.Bootstrap {
		if err := cp.bootstrapAdmin(ctx, cfg.Registry.DataDir); err != nil {
			return err
		}
	}
	var err error
	if cp.validator, err = wazeroengine.NewValidator(ctx); err != nil {
		return err
	}
	api := cfg.API
	api.ValidateModule = cp.validator.Validate
	svc, err := controlplane.New(api, cp.Store)
	if err != nil {
		return err
	}
	if cp.ln, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return fmt.Errorf("server: grpc listen: %w", err)
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(4 << 20)}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	cp.grpc = svc.GRPCServer(opts...)
	go func() { cp.served <- cp.grpc.Serve(cp.ln) }()
	return nil
}

// AdminTokenFile is where a bootstrapping node writes the first admin
// token's secret (mode 0600) when the registry has no tokens.
func AdminTokenFile(dataDir string) string { return filepath.Join(dataDir, "admin.token") }

func (cp *ControlPlane) bootstrapAdmin(ctx context.Context, dataDir string) error {
	toks, _, err := cp.Store.ListTokens(ctx)
	if err != nil || len(toks) > 0 {
		return err
	}
	tok, secret, err := controlplane.NewToken("admin", registryv1.Role_ROLE_ADMIN)
	if err != nil {
		return err
	}
	if _, err := cp.Store.PutToken(registry.WithActor(ctx, "bootstrap"), tok); err != nil {
		return err
	}
	return os.WriteFile(AdminTokenFile(dataDir), []byte(secret+"\n"), 0o600)
}

// Addr is the address the gRPC API listens on.
func (cp *ControlPlane) Addr() string { return cp.ln.Addr().String() }

// Close stops serving (open watches are cut after a short grace period) and
// closes the registry. It is safe to call more than once.
func (cp *ControlPlane) Close() error {
	cp.closeOnce.Do(func() { cp.closeErr = cp.close() })
	return cp.closeErr
}

func (cp *ControlPlane) close() error {
	if cp.grpc != nil {
		stopped := make(chan struct{})
		go func() { cp.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			cp.grpc.Stop() // watch streams never end on their own
		}
		<-cp.served
	}
	var errs []error
	if cp.validator != nil {
		errs = append(errs, cp.validator.Close(context.Background()))
	}
	errs = append(errs, cp.Store.Close())
	return errors.Join(errs...)
}
