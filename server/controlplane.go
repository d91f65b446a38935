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

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/controlplane/dashboard"
	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// ControlPlaneConfig configures a control plane node.
type ControlPlaneConfig struct {
	Registry registry.Config
	API      controlplane.Config
	// GRPCAddr is where the API listens; port 0 picks a free port.
	GRPCAddr string
	// GRPCAdvertise is the API address other nodes and clients use, when it
	// differs from GRPCAddr.
	GRPCAdvertise string
	// BootstrapToken, if set, is the secret of the first admin token
	// (instead of a generated one), so that an operator can hand it to
	// nodes that join before anyone reads the data dir.
	BootstrapToken string
	// TLS, if set, serves the API over TLS (mutual if it verifies clients).
	TLS *tls.Config
	// Insecure allows serving the API without TLS on an address other
	// than loopback, where tokens would cross the network in the clear.
	Insecure bool
	// AdminTLS, if set, serves metrics and the dashboard over TLS.
	AdminTLS *tls.Config
	// Join, if set, is a member's API address this node asks to add it;
	// JoinToken is an admin token for that, JoinTLS how to dial it.
	Join      string
	JoinToken string
	JoinTLS   *tls.Config
	// RolloutTick is how often the leader judges running rollouts.
	RolloutTick time.Duration
	// MetricsAddr, if set, serves Prometheus metrics at /metrics there.
	MetricsAddr string
	// DashboardAddr, if set, serves the fleet dashboard there.
	DashboardAddr string
	// Tracing, if enabled (by its endpoint or the OTEL_* environment),
	// exports a span for every call; either way, the trace context of a
	// call is carried into the writes it makes and to the workers that
	// apply them.
	Tracing TracingConfig
}

// ControlPlane is a running control plane node.
type ControlPlane struct {
	Store     *registry.Store
	grpc      *grpc.Server
	ln        net.Listener
	validator *wazeroengine.Validator
	svc       *controlplane.Server

	stopRollouts context.CancelFunc
	stopTracing  func(context.Context) error
	metrics      *sideServer
	dashboard    *sideServer
	self         *client.Client // the dashboard's way into this node's API
	served       chan error

	closeOnce sync.Once
	closeErr  error
}

// StartControlPlane opens the registry, waits for it to elect a leader if
// it bootstraps, and serves the gRPC API.
func StartControlPlane(ctx context.Context, cfg ControlPlaneConfig) (*ControlPlane, error) {
	if cfg.TLS == nil && !cfg.Insecure && !registry.IsLoopback(cfg.GRPCAddr) {
		return nil, fmt.Errorf("server: the API address %q is not loopback: serve it over TLS, or tokens cross the network in the clear; pass --insecure to accept that", cfg.GRPCAddr)
	}
	cfg.Registry.Insecure = cfg.Registry.Insecure || cfg.Insecure
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
	if cfg.RolloutTick <= 0 {
		cfg.RolloutTick = time.Second
	}
	var err error
	if cp.ln, err = net.Listen("tcp", cfg.GRPCAddr); err != nil {
		return fmt.Errorf("server: grpc listen: %w", err)
	}
	if cp.validator, err = wazeroengine.NewValidator(ctx); err != nil {
		return err
	}
	api := cfg.API
	api.ValidateModule = cp.validator.Validate
	api.Logger = withTraceIDs(api.Logger)
	if cp.svc, err = controlplane.New(api, cp.Store); err != nil {
		return err
	}
	if err := cp.svc.RegisterCollector(certExpiry{"api": cfg.TLS, "raft": cfg.Registry.TLS, "admin": cfg.AdminTLS}); err != nil {
		return err
	}
	var tp trace.TracerProvider = noop.NewTracerProvider()
	if cfg.Tracing.Enabled() {
		if tp, cp.stopTracing, err = StartTracing(ctx, cfg.Tracing, "nanoedge-controlplane", cfg.Registry.NodeID); err != nil {
			return err
		}
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(4 << 20),
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp), otelgrpc.WithPropagators(propagation.TraceContext{})))}
	if cfg.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.TLS)))
	}
	cp.grpc = cp.svc.GRPCServer(opts...)
	go func() { cp.served <- cp.grpc.Serve(cp.ln) }()
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	cp.stopRollouts = cancel
	go cp.svc.RunRollouts(rctx, cfg.RolloutTick)
	if cp.metrics, err = startMetrics(cfg.MetricsAddr, cfg.AdminTLS, cp.svc.MetricsHandler(), cp.svc.Ready); err != nil {
		return err
	}
	if cfg.DashboardAddr != "" {
		var opts []client.Option
		if cfg.TLS != nil {
			opts = append(opts, client.WithTLS(cfg.API.PeerTLS))
		}
		if cp.self, err = client.New(cp.Addr(), opts...); err != nil {
			return err
		}
		if cp.dashboard, err = startSide("dashboard", cfg.DashboardAddr, cfg.AdminTLS, dashboard.New(cp.self, cfg.API.Logger)); err != nil {
			return err
		}
	}

	if cfg.Join != "" {
		if err := cp.join(ctx, cfg); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := cp.Store.WaitForLeader(wctx); err != nil {
		return err
	}
	if cp.Store.IsLeader() {
		// The first node records where it serves, and mints the first admin
		// token; later leaders find both in the registry.
		if err := cp.Store.PutNode(registry.WithActor(ctx, "bootstrap"), cp.Store.NodeID(), cp.advertised(cfg)); err != nil {
			return err
		}
		if cfg.API.Auth {
			return cp.bootstrapAdmin(ctx, cfg.Registry.DataDir, cfg.BootstrapToken)
		}
	}
	return nil
}

// join asks an existing member to add this node, retrying while that
// member is starting or electing.
func (cp *ControlPlane) join(ctx context.Context, cfg ControlPlaneConfig) error {
	opts := []client.Option{client.WithToken(cfg.JoinToken)}
	if cfg.JoinTLS != nil {
		opts = append(opts, client.WithTLS(cfg.JoinTLS))
	}
	c, err := client.New(cfg.Join, opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		_, err := c.Join(ctx, cp.Store.NodeID(), cp.Store.RaftAddr(), cp.advertised(cfg))
		if err == nil {
			return nil
		}
		if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
			return fmt.Errorf("server: join %s: %w", cfg.Join, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server: join %s: %w", cfg.Join, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// AdminTokenFile is where a bootstrapping node writes the first admin
// token's secret (mode 0600) when the registry has no tokens.
func AdminTokenFile(dataDir string) string { return filepath.Join(dataDir, "admin.token") }

func (cp *ControlPlane) bootstrapAdmin(ctx context.Context, dataDir, secret string) error {
	toks, _, err := cp.Store.ListTokens()
	if err != nil || len(toks) > 0 {
		return err
	}
	var tok *registryv1.Token
	if secret != "" {
		id, hash, err := controlplane.ParseToken(secret)
		if err != nil {
			return fmt.Errorf("server: bootstrap token: %w", err)
		}
		tok = &registryv1.Token{Id: id, Name: "admin", Role: registryv1.Role_ROLE_ADMIN, SecretHash: hash}
	} else if tok, secret, err = controlplane.NewToken("admin", registryv1.Role_ROLE_ADMIN); err != nil {
		return err
	}
	if _, err := cp.Store.PutToken(registry.WithActor(ctx, "bootstrap"), tok); err != nil {
		return err
	}
	return os.WriteFile(AdminTokenFile(dataDir), []byte(secret+"\n"), 0o600)
}

// MetricsURL is where Prometheus metrics are served ("" when off).
func (cp *ControlPlane) MetricsURL() string { return cp.metrics.URL("/metrics") }

// DashboardURL is where the dashboard is served ("" when off).
func (cp *ControlPlane) DashboardURL() string { return cp.dashboard.URL("/") }

// Addr is the address the gRPC API listens on.
func (cp *ControlPlane) Addr() string { return cp.ln.Addr().String() }

// advertised is the API address other nodes use to reach this one.
func (cp *ControlPlane) advertised(cfg ControlPlaneConfig) string {
	if cfg.GRPCAdvertise != "" {
		return cfg.GRPCAdvertise
	}
	return cp.Addr()
}

// Close stops serving (open watches are cut after a short grace period) and
// closes the registry. It is safe to call more than once.
func (cp *ControlPlane) Close() error {
	cp.closeOnce.Do(func() { cp.closeErr = cp.close() })
	return cp.closeErr
}

func (cp *ControlPlane) close() error {
	if cp.stopRollouts != nil {
		cp.stopRollouts()
	}
	cp.metrics.Close()
	cp.dashboard.Close()
	if cp.self != nil {
		cp.self.Close()
	}
	if cp.grpc != nil {
		stopped := make(chan struct{})
		go func() { cp.grpc.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			cp.grpc.Stop() // watch streams never end on their own
		}
		<-cp.served
		cp.svc.Close()
	}
	var errs []error
	if cp.stopTracing != nil {
		errs = append(errs, cp.stopTracing(context.Background()))
	}
	if cp.validator != nil {
		errs = append(errs, cp.validator.Close(context.Background()))
	}
	errs = append(errs, cp.Store.Close())
	return errors.Join(errs...)
}
