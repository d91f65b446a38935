package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/nanoedge/nanoedge/internal/tlsconfig"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/server"
)

// errUsage marks errors that come with usage already printed.
var errUsage = errors.New("usage")

type command struct {
	summary string
	run     func(ctx context.Context, env *env, args []string) error
}

var commands = map[string]command{
	"dev":          {"run a single-node control plane and a worker serving the bundled example", runDev},
	"controlplane": {"run a control plane node (registry + gRPC API)", runControlPlane},
	"worker":       {"run a worker that serves HTTP through routed modules", runWorker},
	"push":         {"upload a handler module (a Go package directory or a .wasm file)", runPush},
	"deploy":       {"build, sign, upload and route a handler, or roll it out step by step", runDeploy},
	"route":        {"set, delete or list routes", runRoute},
	"modules":      {"list stored modules; 'modules gc' deletes unrouted old ones", runModules},
	"status":       {"show the registry's revision, modules and routes", runStatus},
	"keys":         {"generate, add, list or revoke publisher keys", runKeys},
	"sign":         {"sign a module with a publisher key (writes <module>.sig)", runSign},
	"tokens":       {"create, list or revoke API tokens", runTokens},
	"audit":        {"list accepted writes: who, what, when, revision", runAudit},
	"cluster":      {"list, add or remove control plane members; save and restore snapshots", runCluster},
	"certs":        {"make a cluster CA, node certificates (Raft, API) and client certificates", runCerts},
	"rollout":      {"start, watch or abort a stepwise rollout with automatic rollback", runRollout},
	"flags":        {"set, list or delete feature flags that route rules follow", runFlags},
	"top":          {"live request rate, error rate and p99 of every route version across the fleet", runTop},
	"version":      {"print this binary's version and engines", runVersion},
}

// serverCommands run servers, which set up their own tracing.
var serverCommands = map[string]bool{"dev": true, "controlplane": true, "worker": true}

// env carries what every command writes to.
type env struct {
	stdout, stderr io.Writer
	// logFormat and logLevel shape the logs of server commands.
	logFormat, logLevel string
}

// Main runs the command line args and returns the exit code. Servers run
// until SIGINT or SIGTERM.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, args, stdout, stderr)
}

// MainContext is Main with servers running until ctx ends.
func MainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		e.usage()
		return 2
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "nanoedge: unknown command %q\n\n", args[0])
		e.usage()
		return 2
	}
	if tc := (server.TracingConfig{}); tc.Enabled() && !serverCommands[args[0]] {
		// With OTEL_EXPORTER_OTLP_ENDPOINT set, a client command is a trace
		// of its own: its calls, the writes they make and the workers that
		// apply them join it.
		if tp, stop, err := server.StartTracing(ctx, tc, "nanoedge-cli", args[0]); err == nil {
			otel.SetTracerProvider(tp)
			defer stop(context.Background())
			var span trace.Span
			ctx, span = tp.Tracer("github.com/nanoedge/nanoedge/cli").Start(ctx, "nanoedge "+args[0])
			defer span.End()
		}
	}
	if err := cmd.run(ctx, e, args[1:]); err != nil {
		if errors.Is(err, errUsage) || errors.Is(err, flag.ErrHelp) {
			if err != errUsage && err != flag.ErrHelp {
				fmt.Fprintf(stderr, "nanoedge %s: %v\n", args[0], err)
			}
			return 2
		}
		fmt.Fprintf(stderr, "nanoedge %s: %v\n", args[0], err)
		if client.OutcomeUnknown(err) {
			fmt.Fprintf(stderr, "nanoedge %s: the change may have been applied: check with 'nanoedge status' or 'nanoedge audit' before repeating it\n", args[0])
		}
		return 1
	}
	return 0
}

func (e *env) usage() {
	fmt.Fprintln(e.stderr, "Usage: nanoedge <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(e.stderr, "  %-13s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(e.stderr, "\nRun 'nanoedge <command> -h' for a command's flags.")
}

func (e *env) flags(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("nanoedge "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: nanoedge %s %s\n\nEvery flag can also be set as NANOEDGE_<FLAG> (dashes as underscores) or in --config.\n\nFlags:\n", name, usage)
		fs.PrintDefaults()
	}
	fs.String("config", "", configUsage)
	return fs
}

// addLogFlags registers --log-format and --log-level on a server command.
func (e *env) addLogFlags(fs *flag.FlagSet) {
	fs.StringVar(&e.logFormat, "log-format", "text", "log format: text or json (one object per line)")
	fs.StringVar(&e.logLevel, "log-level", "info", "least severe level logged: debug, info, warn or error")
}

func (e *env) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if e.logFormat == "json" {
		return slog.New(slog.NewJSONHandler(e.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(e.stderr, opts))
}

// checkLogFlags refuses unknown log formats and levels.
func (e *env) checkLogFlags() error {
	var level slog.Level
	if e.logLevel != "" {
		if err := level.UnmarshalText([]byte(e.logLevel)); err != nil {
			return fmt.Errorf("%w: --log-level %q: want debug, info, warn or error", errUsage, e.logLevel)
		}
	}
	if e.logFormat != "" && e.logFormat != "text" && e.logFormat != "json" {
		return fmt.Errorf("%w: --log-format %q: want text or json", errUsage, e.logFormat)
	}
	return nil
}

// controlPlaneFlag registers --controlplane, defaulting to $NANOEDGE_CONTROLPLANE.
func controlPlaneFlag(fs *flag.FlagSet) *string {
	return fs.String("controlplane", envOr("NANOEDGE_CONTROLPLANE", "127.0.0.1:7070"), "control plane gRPC address (env NANOEDGE_CONTROLPLANE)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// devTokenFile and devKeyFile are where `nanoedge dev` leaves its admin
// token and publisher key; client commands run from the same directory
// find them without flags.
var (
	devTokenFile = filepath.Join(".nanoedge", "admin.token")
	devKeyFile   = filepath.Join(".nanoedge", "publisher.key")
)

// clientFlags are the flags of every command that calls the control plane.
type clientFlags struct {
	addr, output *string
	token        secretFlag
	tls          clientTLSFlags
	timeout      *time.Duration
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		addr:    controlPlaneFlag(fs),
		token:   addSecretFlag(fs, "token", "bearer token (default: "+devTokenFile+" if present)"),
		tls:     addClientTLSFlags(fs, ""),
		output:  fs.String("output", "text", "text for people, json for scripts (one JSON document on stdout)"),
		timeout: fs.Duration("call-timeout", 30*time.Second, "bound each call to the control plane, retries through an election included"),
	}
}

// secretFlag is a secret given as a flag, as NANOEDGE_<NAME>, or read from
// the file named by --<name>-file. Its default is always empty, so help
// and usage errors never print a secret taken from the environment.
type secretFlag struct {
	name        string
	value, file *string
}

func addSecretFlag(fs *flag.FlagSet, name, usage string) secretFlag {
	env := "NANOEDGE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	return secretFlag{
		name:  name,
		value: fs.String(name, "", usage+" (env "+env+"; prefer --"+name+"-file: flags show in process listings)"),
		file:  fs.String(name+"-file", "", "read --"+name+" from this file (env "+env+"_FILE)"),
	}
}

// get returns the secret, "" when none is given.
func (f secretFlag) get() (string, error) {
	if *f.value != "" {
		return *f.value, nil
	}
	if *f.file == "" {
		return "", nil
	}
	b, err := os.ReadFile(*f.file)
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", f.name, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("--%s-file: %s is empty", f.name, *f.file)
	}
	return v, nil
}

// clientTLSFlags select TLS toward the control plane.
type clientTLSFlags struct {
	ca, cert, key *string
}

// addClientTLSFlags registers <prefix>tls-ca, -cert and -key, defaulting to
// $NANOEDGE_<PREFIX>TLS_CA and so on.
func addClientTLSFlags(fs *flag.FlagSet, prefix string) clientTLSFlags {
	env := "NANOEDGE_" + strings.ToUpper(strings.ReplaceAll(prefix, "-", "_")) + "TLS_"
	return clientTLSFlags{
		ca:   fs.String(prefix+"tls-ca", os.Getenv(env+"CA"), "speak TLS, trusting this CA file (env "+env+"CA)"),
		cert: fs.String(prefix+"tls-cert", os.Getenv(env+"CERT"), "client certificate for mutual TLS (env "+env+"CERT)"),
		key:  fs.String(prefix+"tls-key", os.Getenv(env+"KEY"), "client certificate key (env "+env+"KEY)"),
	}
}

// config returns nil when no TLS flag is set.
func (f clientTLSFlags) config() (*tls.Config, error) {
	if *f.ca == "" && *f.cert == "" {
		return nil, nil
	}
	return tlsconfig.Client(*f.ca, *f.cert, *f.key)
}

func (f clientFlags) dial() (*client.Client, error) { return f.dialAddr(*f.addr) }

// dialAddr is dial to another address, with the same credentials.
func (f clientFlags) dialAddr(addr string) (*client.Client, error) {
	if *f.output != "text" && *f.output != "json" {
		return nil, fmt.Errorf("%w: --output %q: want text or json", errUsage, *f.output)
	}
	token, err := f.token.get()
	if err != nil {
		return nil, err
	}
	if token == "" {
		if b, err := os.ReadFile(devTokenFile); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	opts := []client.Option{client.WithCallTimeout(*f.timeout)}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	tlsCfg, err := f.tls.config()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		opts = append(opts, client.WithTLS(tlsCfg))
	}
	return client.New(addr, opts...)
}

// parse reads flags from a config file (--config or NANOEDGE_CONFIG),
// then from the environment (NANOEDGE_<FLAG>, dashes as underscores), then
// from args, each winning over the one before; it refuses stray positional
// arguments beyond max.
func parse(fs *flag.FlagSet, args []string, max int) error {
	if path := configPath(args); path != "" {
		if err := loadConfig(fs, path); err != nil {
			return err
		}
	}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "NANOEDGE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := fs.Set(f.Name, v); err != nil {
				envErr = fmt.Errorf("%w: $%s: %v", errUsage, name, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	// Flags may follow positional arguments: "flags set beta on --description x".
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		if args = fs.Args(); len(args) == 0 {
			break
		}
		positional, args = append(positional, args[0]), args[1:]
	}
	fs.Parse(append([]string{"--"}, positional...))
	if fs.NArg() > max {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments %s", errUsage, strings.Join(fs.Args()[max:], " "))
	}
	return nil
}
