package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/server"
)

// errUsage marks errors in how a command was called: exit status 2.
var errUsage = errors.New("usage")

// usageErr is a usage error with its message.
func usageErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// serverCommands run servers, which set up their own tracing.
var serverCommands = map[string]bool{"dev": true, "controlplane": true, "worker": true}

// env carries what every command writes to.
type env struct {
	stdout, stderr io.Writer
	// logFormat and logLevel shape the logs of server commands.
	logFormat, logLevel string
}

// Main runs the command line args and returns the exit code: 0, 1 when
// the command failed, 2 when it was called wrongly. Servers run until
// SIGINT or SIGTERM.
func Main(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return MainContext(ctx, args, stdout, stderr)
}

// MainContext is Main with servers running until ctx ends.
func MainContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	root := e.root()
	root.SetArgs(args)
	if name := firstCommand(root, args); name != "" && !serverCommands[name] {
		if tc := (server.TracingConfig{}); tc.Enabled() {
			// With OTEL_EXPORTER_OTLP_ENDPOINT set, a client command is a
			// trace of its own: its calls, the writes they make and the
			// workers that apply them join it.
			if tp, stop, err := server.StartTracing(ctx, tc, "nanoedge-cli", name); err == nil {
				otel.SetTracerProvider(tp)
				defer stop(context.Background())
				var span trace.Span
				ctx, span = tp.Tracer("github.com/nanoedge/nanoedge/cli").Start(ctx, "nanoedge "+name)
				defer span.End()
			}
		}
	}
	cmd, err := root.ExecuteContextC(ctx)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errDiffers):
		return 1 // diff found differences, and printed them
	}
	where := "nanoedge"
	if cmd != nil {
		where = cmd.CommandPath()
	}
	if errors.Is(err, errUsage) {
		fmt.Fprintf(stderr, "%s: %s\n", where, strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		if cmd != nil {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
		}
		return 2
	}
	fmt.Fprintf(stderr, "%s: %s\n", where, humanError(err))
	if hint := errorHint(err); hint != "" {
		fmt.Fprintf(stderr, "%s: %s\n", where, hint)
	}
	return 1
}

// firstCommand names the top-level command args run, "" if none.
func firstCommand(root *cobra.Command, args []string) string {
	if c, _, err := root.Find(args); err == nil && c != root {
		for c.Parent() != root {
			c = c.Parent()
		}
		return c.Name()
	}
	return ""
}

// root builds the whole command tree.
func (e *env) root() *cobra.Command {
	root := &cobra.Command{
		Use:   "nanoedge",
		Short: "Run HTTP handlers compiled to WebAssembly on a fleet of edge workers",
		Long: `nanoedge runs HTTP handlers compiled to WebAssembly on a fleet of stateless
edge workers, steered by a Raft-replicated control plane.

Every flag can also be set as NANOEDGE_<FLAG> (dashes as underscores) or
in a YAML file named by --config; command-line flags win over variables,
variables over the file.`,
		Version:       server.Version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noSubcommand,
		RunE:          func(c *cobra.Command, _ []string) error { return c.Help() },
	}
	root.SetVersionTemplate(versionLine() + "\n")
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(flagError)
	root.AddGroup(&cobra.Group{ID: "run", Title: "Run servers:"}, &cobra.Group{ID: "ship", Title: "Build and ship handlers:"},
		&cobra.Group{ID: "operate", Title: "Operate the fleet:"})
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("run", e.devCmd(), e.controlPlaneCmd(), e.workerCmd())
	add("ship", e.newCmd(), e.pushCmd(), e.deployCmd(), e.signCmd(), e.applyCmd(), e.diffCmd())
	add("operate", e.routeCmd(), e.varsCmd(), e.secretsCmd(), e.modulesCmd(), e.statusCmd(), e.keysCmd(), e.tokensCmd(), e.auditCmd(), e.clusterCmd(),
		e.certsCmd(), e.rolloutCmd(), e.flagsCmd(), e.storesCmd(), e.topCmd())
	root.AddCommand(e.versionCmd())
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Short = "print a shell completion script (bash, zsh, fish, powershell)"
		}
	}
	root.InitDefaultHelpCmd()
	return root
}

// runFunc runs a command once its flags are set.
type runFunc func(ctx context.Context, args []string) error

// leaf makes a command that runs: define registers its flags on fs (a Go
// flag set, added to the command's) and returns what runs it. Every leaf
// takes --config, NANOEDGE_<FLAG> variables and the one-letter shorthands.
func (e *env) leaf(use, short string, args cobra.PositionalArgs, define func(fs *flag.FlagSet) runFunc) *cobra.Command {
	fs := flag.NewFlagSet(use, flag.ContinueOnError)
	fs.String("config", "", configUsage)
	run := define(fs)
	c := &cobra.Command{Use: use, Short: short, Args: args}
	fs.VisitAll(func(f *flag.Flag) {
		pf := pflag.PFlagFromGoFlag(f)
		pf.Shorthand = shorthands[pf.Name]
		c.Flags().AddFlag(pf)
	})
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := e.settle(c, fs); err != nil {
			return err
		}
		return run(c.Context(), args)
	}
	return c
}

// shorthands are the one-letter flags, the same on every command.
var shorthands = map[string]string{"output": "o", "file": "f"}

// group makes a command that only holds others.
func group(use, short string, subs ...*cobra.Command) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: noSubcommand,
		RunE: func(c *cobra.Command, _ []string) error { return c.Help() }}
	c.AddCommand(subs...)
	return c
}

// noSubcommand refuses an argument that names no subcommand, suggesting
// the nearest.
func noSubcommand(c *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
	if s := c.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	} else if c.HasAvailableSubCommands() {
		var names []string
		for _, sub := range c.Commands() {
			if sub.IsAvailableCommand() {
				names = append(names, sub.Name())
			}
		}
		msg += "; want one of " + strings.Join(names, ", ")
	}
	return usageErr("%s", msg)
}

// exactArgs wants n positional arguments, named in what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return usageErr("missing %s", what)
		case len(args) > n:
			return usageErr("unexpected arguments %s", strings.Join(args[n:], " "))
		}
		return nil
	}
}

// noArgs wants no positional arguments.
var noArgs = exactArgs(0, "")

var unknownFlag = regexp.MustCompile(`unknown (?:shorthand )?flag: '?-{1,2}([^' ]+)'?`)

// flagError makes a flag parsing error a usage error, suggesting the
// nearest flag for an unknown one.
func flagError(c *cobra.Command, err error) error {
	msg := err.Error()
	if m := unknownFlag.FindStringSubmatch(msg); m != nil {
		name, _, _ := strings.Cut(m[1], "=")
		if near := nearFlag(c.Flags(), name); near != "" {
			msg += fmt.Sprintf("; did you mean --%s?", near)
		}
	}
	return usageErr("%s", msg)
}

// settle sets the flags the command line did not from NANOEDGE_<FLAG>
// variables and, below them, the --config file; and warns of NANOEDGE_
// variables that name no flag of any command.
func (e *env) settle(c *cobra.Command, fs *flag.FlagSet) error {
	flags := c.Flags()
	var file map[string][]string
	if path := configPathOf(flags); path != "" {
		var err error
		if file, err = readConfig(path, flags, c.CommandPath()); err != nil {
			return err
		}
	}
	var errs []error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		if v, ok := os.LookupEnv(name); ok {
			if err := flags.Set(f.Name, v); err != nil {
				errs = append(errs, usageErr("$%s: %v", name, err))
			}
			return
		}
		for _, v := range file[f.Name] {
			if err := flags.Set(f.Name, v); err != nil {
				errs = append(errs, usageErr("config: %s: %v", f.Name, err))
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	e.warnStrayEnv(c.Root())
	return nil
}

func envName(flagName string) string {
	return "NANOEDGE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// otherVariables are NANOEDGE_ variables that are not flags: the config
// file, the publisher key, deploy/local/cluster.sh's.
var otherVariables = map[string]bool{"NANOEDGE_CONFIG": true, "NANOEDGE_KEY": true, "NANOEDGE_BIN": true, "NANOEDGE_PORT_BASE": true}

// warnStrayEnv warns of NANOEDGE_ variables no command reads: a typo
// there would otherwise be silently ignored.
func (e *env) warnStrayEnv(root *cobra.Command) {
	known := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { known[envName(f.Name)] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	var stray []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "NANOEDGE_") && !known[name] && !otherVariables[name] && !strings.HasPrefix(name, "NANOEDGE_TEST_") {
			stray = append(stray, name)
		}
	}
	sort.Strings(stray)
	for _, name := range stray {
		msg := fmt.Sprintf("nanoedge: warning: $%s names no flag of any command; ignored", name)
		best, bestD := "", 3
		for k := range known {
			if d := editDistance(k, name); d < bestD {
				best, bestD = k, d
			}
		}
		if best != "" {
			msg += fmt.Sprintf(" (did you mean $%s?)", best)
		}
		fmt.Fprintln(e.stderr, msg)
	}
}

// humanError says err for people: a gRPC status as its code in words and
// its message, without the packages' prefixes.
func humanError(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	for {
		trimmed := strings.TrimPrefix(strings.TrimPrefix(msg, "controlplane: "), "registry: ")
		if trimmed == msg {
			break
		}
		msg = trimmed
	}
	words := codeWords(st.Code())
	return words + ": " + strings.TrimPrefix(msg, words+": ")
}

// codeWords spells a gRPC code as words: "permission denied".
func codeWords(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if r >= 'A' && r <= 'Z' {
			if i > 0 {
				b.WriteByte(' ')
			}
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// errorHint says what to do about some failures.
func errorHint(err error) string {
	if client.OutcomeUnknown(err) {
		return "the change may have been applied: check with 'nanoedge status' or 'nanoedge audit' before repeating it"
	}
	switch status.Code(err) {
	case codes.Unauthenticated:
		return "pass a token: --token-file FILE, --token, NANOEDGE_TOKEN, or run from the directory where 'nanoedge dev' wrote " + devTokenFile
	case codes.PermissionDenied:
		if strings.Contains(err.Error(), "may not call") {
			return "this token's role may not do that; an admin can create one that may ('nanoedge tokens create --role ...')"
		}
	case codes.Unavailable:
		return "is a control plane serving there? (--controlplane, NANOEDGE_CONTROLPLANE; --tls-ca if it speaks TLS)"
	}
	return ""
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
			return usageErr("--log-level %q: want debug, info, warn or error", e.logLevel)
		}
	}
	if e.logFormat != "" && e.logFormat != "text" && e.logFormat != "json" {
		return usageErr("--log-format %q: want text or json", e.logFormat)
	}
	return nil
}
