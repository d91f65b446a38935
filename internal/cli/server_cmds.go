package cli

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/dataplane"
	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/tlsconfig"
	"github.com/nanoedge/nanoedge/internal/wasmbuild"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
	"github.com/nanoedge/nanoedge/server"
)

type controlPlaneFlags struct {
	dataDir, nodeID, raftAddr, grpcAddr, metricsAddr *string
	dashboardAddr                                    *string
	maxModuleMB                                      *int64
	raftCA, raftCert, raftKey                        *string
	secretsKey                                       *string
	secretsOldKeys                                   *listFlag
	insecure                                         *bool
	admin                                            adminTLSFlags
}

// adminTLSFlags serve the admin listeners (metrics, dashboard, a worker's
// status) over TLS.
type adminTLSFlags struct{ cert, key *string }

func addAdminTLSFlags(fs *flag.FlagSet) adminTLSFlags {
	return adminTLSFlags{
		cert: fs.String("admin-tls-cert", "", "serve the metrics and dashboard listeners over TLS with this certificate"),
		key:  fs.String("admin-tls-key", "", "key of --admin-tls-cert"),
	}
}

func (f adminTLSFlags) config() (*tls.Config, error) {
	if f.cert == nil || *f.cert == "" && *f.key == "" {
		return nil, nil
	}
	return tlsconfig.Server(*f.cert, *f.key, "")
}

func addControlPlaneFlags(fs *flag.FlagSet, dataDir, dashboardAddr string) controlPlaneFlags {
	return controlPlaneFlags{
		dataDir:        fs.String("data-dir", dataDir, "directory for the Raft log, snapshots and state database"),
		nodeID:         fs.String("node-id", "node1", "Raft server ID; stable across restarts"),
		raftAddr:       fs.String("raft-addr", "127.0.0.1:7071", "Raft transport address"),
		grpcAddr:       fs.String("grpc-addr", "127.0.0.1:7070", "gRPC API address"),
		maxModuleMB:    fs.Int64("max-module-mb", 64, "largest module accepted, in MiB"),
		metricsAddr:    fs.String("metrics-addr", "", "serve Prometheus metrics at /metrics on this address (empty: off)"),
		dashboardAddr:  fs.String("dashboard-addr", dashboardAddr, "serve the fleet dashboard on this address (empty: off); it asks for a reader token"),
		raftCA:         fs.String("raft-tls-ca", "", "run Raft over mutual TLS: the cluster CA every peer's certificate must chain to (see 'nanoedge certs')"),
		raftCert:       fs.String("raft-tls-cert", "", "this node's certificate for Raft; its common name must be --node-id"),
		raftKey:        fs.String("raft-tls-key", "", "key of --raft-tls-cert"),
		secretsKey:     fs.String("secrets-key-file", "", "the data key (32 bytes, base64 or hex) that seals handlers' secrets; the same on every node (without it, secrets are refused)"),
		secretsOldKeys: listFlagVar(fs, "secrets-old-key-file", "an earlier data key still sealing some secrets, until 'nanoedge secrets rekey' (repeatable)"),
		insecure:       fs.Bool("insecure", false, "allow Raft and the API without TLS on addresses other than loopback (anyone reaching the Raft port can then rewrite the registry)"),
		admin:          addAdminTLSFlags(fs),
	}
}

func (f controlPlaneFlags) config(e *env) (server.ControlPlaneConfig, error) {
	logger := e.logger()
	rc := registry.DefaultConfig(*f.dataDir)
	rc.NodeID, rc.RaftAddr, rc.Logger = *f.nodeID, *f.raftAddr, logger
	rc.MaxModuleSize = *f.maxModuleMB << 20
	if *f.raftCA != "" || *f.raftCert != "" || *f.raftKey != "" {
		var err error
		if rc.TLS, err = tlsconfig.Node(*f.raftCA, *f.raftCert, *f.raftKey); err != nil {
			return server.ControlPlaneConfig{}, usageErr("--raft-tls-ca, --raft-tls-cert, --raft-tls-key: %v", err)
		}
	}
	api := controlplane.DefaultConfig()
	api.MaxModuleSize, api.Logger = rc.MaxModuleSize, logger
	if *f.secretsKey != "" {
		current, err := controlplane.ReadDataKey(*f.secretsKey)
		if err != nil {
			return server.ControlPlaneConfig{}, usageErr("--secrets-key-file: %v", err)
		}
		var older [][]byte
		for _, p := range *f.secretsOldKeys {
			k, err := controlplane.ReadDataKey(p)
			if err != nil {
				return server.ControlPlaneConfig{}, usageErr("--secrets-old-key-file: %v", err)
			}
			older = append(older, k)
		}
		if api.Keyring, err = controlplane.NewKeyring(current, older...); err != nil {
			return server.ControlPlaneConfig{}, usageErr("%v", err)
		}
	}
	adminTLS, err := f.admin.config()
	if err != nil {
		return server.ControlPlaneConfig{}, err
	}
	return server.ControlPlaneConfig{Registry: rc, API: api, GRPCAddr: *f.grpcAddr, MetricsAddr: *f.metricsAddr, DashboardAddr: *f.dashboardAddr,
		Insecure: *f.insecure, AdminTLS: adminTLS}, nil
}

type workerFlags struct {
	httpAddr, cacheDir, metricsAddr *string
	stateDir                        *string
	pinSecret                       secretFlag
	admin                           adminTLSFlags
	otlpEndpoint, engine            *string
	otlpInsecure, preInit           *bool
	memoryMB, maxBody, recycleMB    *int64
	maxInstances, maxRequests       *int
	timeout                         *time.Duration
	concurrency, outboundCalls      *int
	outboundMB, moduleMB            *int64
	// private are the networks off the public internet handlers may call;
	// devPrivate is what dev allows when none is given (loopback).
	private    *listFlag
	devPrivate []string
}

// addWorkerFlags adds a worker's flags. --pre-initialize stays off by
// default: a pre-initialized module costs a second compile and two
// initializations at every load (a restart with 100 modules took 12.8 s
// instead of 7.5 s), for instances ten times faster to make and half the
// memory.
func addWorkerFlags(fs *flag.FlagSet, cacheDir string) workerFlags {
	return workerFlags{
		httpAddr:      fs.String("http-addr", "127.0.0.1:8080", "HTTP address to serve on"),
		cacheDir:      fs.String("cache-dir", cacheDir, "directory for compiled modules (empty: no disk cache)"),
		stateDir:      fs.String("state-dir", "", "directory where the worker keeps the state and modules it serves, to serve them after a restart while no control plane answers (default: <cache-dir>/state; \"none\": off)"),
		memoryMB:      fs.Int64("memory-limit-mb", 128, "memory cap of one instance, in MiB"),
		maxBody:       fs.Int64("max-body-mb", 8, "largest request body, in MiB"),
		timeout:       fs.Duration("request-timeout", 10*time.Second, "wall-clock limit of one request in a handler"),
		maxInstances:  fs.Int("max-instances", 0, "most instances of one module at a time; requests beyond wait for one (0: 1024)"),
		moduleMB:      fs.Int64("module-memory-mb", 1024, "memory one module's instances may hold together, counted at the size of its first instance (a Go module's is 2-6 MiB): it bounds instances waiting on the network or in sleeps"),
		concurrency:   fs.Int("concurrency", 0, "most requests running guest code at once over all modules; a request waiting on the network or a sleep gives its place up (0: two per CPU)"),
		outboundCalls: fs.Int("outbound-max-calls", 50, "most outbound HTTP calls one request may make (a route may lower it)"),
		outboundMB:    fs.Int64("outbound-max-mb", 32, "most MiB of responses one request's outbound calls may bring (a route may lower it)"),
		private:       addListFlag(fs, "outbound-private", "a network off the public internet handlers may call, as a CIDR prefix such as 10.0.0.0/8 (repeat; loopback, private, link-local and reserved addresses are refused otherwise)"),
		maxRequests:   fs.Int("max-requests-per-instance", 0, "replace an instance after this many requests (0: as the engine advises for the module, else 10000); fewer hold less memory, more save instantiation"),
		recycleMB:     fs.Int64("recycle-memory-mb", 64, "replace an instance whose memory grew past this many MiB"),
		metricsAddr:   fs.String("worker-metrics-addr", "", "admin listener: Prometheus metrics at /metrics, the worker's status at /status (empty: off)"),
		otlpEndpoint:  fs.String("otlp-endpoint", "", "export spans to this OpenTelemetry collector (OTLP/gRPC host:port; default: OTEL_EXPORTER_OTLP_ENDPOINT, else off); the worker exports routes with tracing on"),
		otlpInsecure:  fs.Bool("otlp-insecure", false, "speak plaintext gRPC to --otlp-endpoint"),
		preInit:       fs.Bool("pre-initialize", false, "start instances from a snapshot taken after the module's initialization, each with random generators of its own (wazero: ~0.5 ms and ~2 MB per instance instead of ~5 ms; wasmtime: ~0.1 ms; on Linux instances share the snapshot's memory copy-on-write); a module's init then sees no configuration and a fixed clock (docs/abi.md); wasmer cannot"),
		engine:        fs.String("engine", "wazero", "WebAssembly engine: "+strings.Join(server.Engines(), ", ")+" (wasmer and wasmtime need a build with -tags wasmer or -tags wasmtime)"),
		pinSecret:     addSecretFlag(fs, "pin-secret", "secret that lets requests pin a version with X-Nanoedge-Pin: <secret>:<digest> (empty: pinning off)"),
	}
}

// check refuses limits no worker could run with, naming the flag.
func (f workerFlags) check() error {
	switch {
	case *f.memoryMB <= 0:
		return usageErr("--memory-limit-mb must be positive")
	case *f.maxBody < 0:
		return usageErr("--max-body-mb must not be negative")
	case *f.timeout <= 0:
		return usageErr("--request-timeout must be positive")
	case *f.maxInstances < 0:
		return usageErr("--max-instances must not be negative")
	case *f.moduleMB <= 0:
		return usageErr("--module-memory-mb must be positive")
	case *f.concurrency < 0:
		return usageErr("--concurrency must not be negative")
	case *f.outboundCalls <= 0 || *f.outboundMB <= 0:
		return usageErr("--outbound-max-calls and --outbound-max-mb must be positive")
	case *f.maxRequests < 0:
		return usageErr("--max-requests-per-instance must not be negative")
	case *f.recycleMB <= 0:
		return usageErr("--recycle-memory-mb must be positive")
	}
	return nil
}

func (f workerFlags) config(e *env, cpAddr string) (server.WorkerConfig, error) {
	pin, err := f.pinSecret.get()
	if err != nil {
		return server.WorkerConfig{}, err
	}
	adminTLS, err := f.admin.config()
	if err != nil {
		return server.WorkerConfig{}, err
	}
	ec := engine.DefaultOptions()
	ec.MemoryLimit = uint64(*f.memoryMB) << 20
	ec.CacheDir = *f.cacheDir
	ec.PreInitialize = *f.preInit
	wc := dataplane.DefaultConfig()
	wc.Logger = e.logger().With("component", "worker")
	wc.MaxRequestBody = *f.maxBody << 20
	wc.RequestTimeout = *f.timeout
	if *f.maxInstances != 0 {
		wc.MaxInstances = *f.maxInstances
	}
	wc.ModuleMemory = uint64(*f.moduleMB) << 20
	if *f.concurrency != 0 {
		wc.Concurrency = *f.concurrency
	}
	wc.OutboundMaxCalls, wc.OutboundMaxBytes = *f.outboundCalls, *f.outboundMB<<20
	private := []string(*f.private)
	if len(private) == 0 {
		private = f.devPrivate
	}
	for _, p := range private {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return server.WorkerConfig{}, usageErr("--outbound-private %q: want a CIDR prefix such as 10.0.0.0/8", p)
		}
		wc.OutboundPrivate = append(wc.OutboundPrivate, prefix.Masked())
	}
	wc.MaxRequestsPerInstance = *f.maxRequests
	wc.RecycleMemory = uint64(*f.recycleMB) << 20
	wc.PinSecret = pin
	switch {
	case *f.stateDir == "none":
	case *f.stateDir != "":
		wc.StateDir = *f.stateDir
	case *f.cacheDir != "":
		wc.StateDir = filepath.Join(*f.cacheDir, "state")
	}
	return server.WorkerConfig{ControlPlane: cpAddr, HTTPAddr: *f.httpAddr, MetricsAddr: *f.metricsAddr, AdminTLS: adminTLS, Engine: ec, EngineName: *f.engine, Worker: wc,
		Tracing: server.TracingConfig{Endpoint: *f.otlpEndpoint, Insecure: *f.otlpInsecure}}, nil
}

func (e *env) controlPlaneCmd() *cobra.Command {
	return e.leaf("controlplane", "run a control plane node (registry + gRPC API)", noArgs, func(fs *flag.FlagSet) runFunc {
		cpf := addControlPlaneFlags(fs, "./.nanoedge", "")
		e.addLogFlags(fs)
		join := fs.String("join", "", "API address of a cluster member to join through (needs --token with the admin role)")
		token := addSecretFlag(fs, "token", "admin token for --join")
		bootstrap := fs.Bool("bootstrap", true, "create a new cluster if the data dir is empty and --join is not set")
		raftAdvertise := fs.String("raft-advertise", "", "Raft address peers dial, if not --raft-addr (for 0.0.0.0 listeners, pods, NAT)")
		grpcAdvertise := fs.String("grpc-advertise", "", "API address other nodes dial, if not --grpc-addr")
		bootstrapToken := addSecretFlag(fs, "bootstrap-token", "secret of the first admin token (ne_<16 hex>_<32 hex>), so joining nodes can use it; default: generated into <data-dir>/admin.token")
		recover := fs.Bool("recover", false, "disaster recovery: make this node, with the state in --data-dir, a cluster of one (others then --join it)")
		joinTLS := addClientTLSFlags(fs, "peer-")
		tlsCert := fs.String("tls-cert", "", "serve the API over TLS with this certificate")
		tlsKey := fs.String("tls-key", "", "key of --tls-cert")
		clientCA := fs.String("tls-client-ca", "", "require client certificates signed by this CA (mutual TLS)")
		otlpEndpoint := fs.String("otlp-endpoint", "", "export a span per call to this OpenTelemetry collector (OTLP/gRPC host:port; default: OTEL_EXPORTER_OTLP_ENDPOINT, else off)")
		otlpInsecure := fs.Bool("otlp-insecure", false, "speak plaintext gRPC to --otlp-endpoint")
		return func(ctx context.Context, args []string) error {
			if err := e.checkLogFlags(); err != nil {
				return err
			}
			cfg, err := cpf.config(e)
			if err != nil {
				return err
			}
			// Every member of a StatefulSet can share one --join: the node it names
			// bootstraps instead of joining itself.
			if *join != "" && (*join == *grpcAdvertise || *join == *cpf.grpcAddr) {
				*join = ""
			}
			cfg.Registry.Bootstrap = *bootstrap && *join == "" && !*recover
			cfg.Registry.Recover = *recover
			cfg.Tracing = server.TracingConfig{Endpoint: *otlpEndpoint, Insecure: *otlpInsecure}
			cfg.Registry.RaftAdvertise = *raftAdvertise
			cfg.GRPCAdvertise = *grpcAdvertise
			if cfg.BootstrapToken, err = bootstrapToken.get(); err != nil {
				return err
			}
			cfg.Join = *join
			if cfg.JoinToken, err = token.get(); err != nil {
				return err
			}
			if cfg.JoinTLS, err = joinTLS.config(); err != nil {
				return err
			}
			// Nodes dial each other's APIs as clients do.
			cfg.API.PeerTLS = cfg.JoinTLS
			if *tlsCert != "" {
				if cfg.TLS, err = tlsconfig.Server(*tlsCert, *tlsKey, *clientCA); err != nil {
					return err
				}
			}
			cp, err := server.StartControlPlane(ctx, cfg)
			if err != nil {
				return err
			}
			defer cp.Close()
			log := cfg.Registry.Logger.With("grpc", cp.Addr(), "raft", cp.Store.RaftAddr(), "data_dir", cfg.Registry.DataDir)
			if f := server.AdminTokenFile(cfg.Registry.DataDir); fileExists(f) {
				log = log.With("admin_token_file", f)
			}
			if u := cp.DashboardURL(); u != "" {
				log = log.With("dashboard", u)
			}
			log.Info("control plane ready")
			<-ctx.Done()
			return nil
		}
	})
}

func (e *env) workerCmd() *cobra.Command {
	return e.leaf("worker", "run a worker that serves HTTP through routed modules", noArgs, func(fs *flag.FlagSet) runFunc {
		cp := controlPlaneFlag(fs)
		token := addSecretFlag(fs, "token", "worker-role bearer token")
		tf := addClientTLSFlags(fs, "")
		wf := addWorkerFlags(fs, "")
		wf.admin = addAdminTLSFlags(fs)
		e.addLogFlags(fs)
		return func(ctx context.Context, args []string) error {
			if err := e.checkLogFlags(); err != nil {
				return err
			}
			if err := wf.check(); err != nil {
				return err
			}
			cfg, err := wf.config(e, *cp)
			if err != nil {
				return err
			}
			if cfg.Token, err = token.get(); err != nil {
				return err
			}
			if cfg.TLS, err = tf.config(); err != nil {
				return err
			}
			w, err := server.StartWorker(ctx, cfg)
			if err != nil {
				return err
			}
			defer w.Close()
			cfg.Worker.Logger.Info("worker serving", "http", w.URL(), "controlplane", *cp)
			<-ctx.Done()
			return nil
		}
	})
}

// devCmd runs everything in one process and deploys the bundled example.
func (e *env) devCmd() *cobra.Command {
	return e.leaf("dev", "run a single-node control plane and a worker serving the bundled example", noArgs, func(fs *flag.FlagSet) runFunc {
		cpf := addControlPlaneFlags(fs, "./.nanoedge", "127.0.0.1:7080")
		wf := addWorkerFlags(fs, "")
		wf.admin = cpf.admin
		wf.devPrivate = []string{"127.0.0.0/8", "::1/128"} // a developer's own origins
		e.addLogFlags(fs)
		example := fs.String("example", "examples/hello", "Go handler package to build and serve on --example-path (empty: none)")
		examplePath := fs.String("example-path", "/hello", "path prefix the example is routed on")
		watch := fs.String("watch", "", "build and serve this handler (a Go package directory, or a directory with a nanoedge.yaml), again on every save; the bundled example is then not served")
		return func(ctx context.Context, args []string) error {
			if err := e.checkLogFlags(); err != nil {
				return err
			}
			if err := wf.check(); err != nil {
				return err
			}
			start := time.Now()
			// dev seals secrets with a key of its own, made on first start.
			if *cpf.secretsKey == "" {
				keyFile := filepath.Join(*cpf.dataDir, "secrets.key")
				if !fileExists(keyFile) {
					key, err := controlplane.NewDataKey()
					if err == nil {
						err = os.MkdirAll(*cpf.dataDir, 0o700)
					}
					if err == nil {
						err = os.WriteFile(keyFile, []byte(key), 0o600)
					}
					if err != nil {
						return err
					}
				}
				*cpf.secretsKey = keyFile
			}
			cfg, err := cpf.config(e)
			if err != nil {
				return err
			}
			cfg.Registry.Bootstrap = true
			// One node: nothing to detect failures of, so elect at once.
			cfg.Registry.HeartbeatTimeout, cfg.Registry.ElectionTimeout = 200*time.Millisecond, 200*time.Millisecond
			log := cfg.Registry.Logger
			if *wf.cacheDir == "" {
				*wf.cacheDir = filepath.Join(*cpf.dataDir, "cache")
			}
			cfg.Tracing = server.TracingConfig{Endpoint: *wf.otlpEndpoint, Insecure: *wf.otlpInsecure}
			cp, err := server.StartControlPlane(ctx, cfg)
			if err != nil {
				return err
			}
			defer cp.Close()
			log.Info("control plane ready", "grpc", cp.Addr(), "raft", cp.Store.RaftAddr(), "data_dir", cfg.Registry.DataDir)

			creds, err := devCredentials(ctx, cp, *cpf.dataDir)
			if err != nil {
				return err
			}
			log.Info("dev credentials", "admin_token_file", server.AdminTokenFile(*cpf.dataDir), "publisher_key_file", creds.keyFile)
			if u := cp.DashboardURL(); u != "" {
				log.Info("dashboard: open it with the admin token", "url", u+"#token=<contents of "+server.AdminTokenFile(*cpf.dataDir)+">")
			}
			wcfg, err := wf.config(e, cp.Addr())
			if err != nil {
				return err
			}
			wcfg.Token = creds.workerToken
			w, err := server.StartWorker(ctx, wcfg)
			if err != nil {
				return err
			}
			defer w.Close()
			log.Info("worker serving", "http", w.URL())

			if *watch != "" {
				return e.watchLoop(ctx, cp.Addr(), w.URL(), creds, *watch)
			}
			if *example != "" {
				if err := deployExample(ctx, cp.Addr(), creds, *example, *examplePath); err != nil {
					return fmt.Errorf("deploy example: %w", err)
				}
				url := w.URL() + *examplePath
				if err := waitOK(ctx, url); err != nil {
					return err
				}
				log.Info("ready: try  curl "+url, "startup_ms", time.Since(start).Milliseconds())
			}
			<-ctx.Done()
			log.Info("shutting down")
			return nil
		}
	})
}

// devCreds are what dev sets up so the quick start needs no flags: a
// trusted publisher key on disk and a worker token for its own worker.
type devCreds struct {
	adminToken, workerToken string
	key                     ed25519.PrivateKey
	keyFile                 string
}

func devCredentials(ctx context.Context, cp *server.ControlPlane, dataDir string) (*devCreds, error) {
	b, err := os.ReadFile(server.AdminTokenFile(dataDir))
	if err != nil {
		return nil, fmt.Errorf("dev: admin token: %w", err)
	}
	creds := &devCreds{adminToken: strings.TrimSpace(string(b)), keyFile: filepath.Join(dataDir, "publisher.key")}
	if creds.key, err = readKey(creds.keyFile); os.IsNotExist(err) {
		if creds.key, err = signing.GenerateKey(); err == nil {
			err = os.WriteFile(creds.keyFile, signing.MarshalPrivateKey(creds.key), 0o600)
		}
	}
	if err != nil {
		return nil, err
	}
	c, err := client.New(cp.Addr(), client.WithToken(creds.adminToken))
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if _, err := c.AddKey(ctx, "dev", creds.key.Public().(ed25519.PublicKey)); err != nil {
		return nil, fmt.Errorf("dev: trust publisher key: %w", err)
	}
	// A fresh worker token per run; the previous run's one is revoked.
	toks, err := c.ListTokens(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range toks {
		if t.Name == "dev-worker" {
			if err := c.RevokeToken(ctx, t.Id); err != nil {
				return nil, err
			}
		}
	}
	if _, creds.workerToken, err = c.CreateToken(ctx, "dev-worker", registryv1.Role_ROLE_WORKER); err != nil {
		return nil, err
	}
	return creds, nil
}

func deployExample(ctx context.Context, cpAddr string, creds *devCreds, dir, path string) error {
	if !wasmbuild.IsGoPackage(dir) {
		return fmt.Errorf("%s holds no Go package; run from the repository root or pass --example", dir)
	}
	wasm, err := wasmbuild.Build(ctx, dir)
	if err != nil {
		return err
	}
	c, err := client.New(cpAddr, client.WithToken(creds.adminToken))
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Upload(ctx, defaultName(dir), wasm, client.WithSigner(creds.key))
	if err != nil {
		return err
	}
	_, _, err = c.SetRoute(ctx, client.Route{PathPrefix: path, Module: res.Module.Name + "@" + res.Module.Digest})
	return err
}

// waitOK polls url until it answers 200.
func waitOK(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s did not answer 200: %w", url, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
