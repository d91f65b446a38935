package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanoedge/nanoedge/internal/wasmbuild"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

func (e *env) pushCmd() *cobra.Command {
	return e.leaf("push [flags] <go-package-dir | module.wasm>", "upload a handler module (a Go package directory or a .wasm file)", exactArgs(1, "the module: a Go package directory or a .wasm file"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		name := fs.String("name", "", "module name (default: the directory or file name)")
		keyFile := fs.String("key", "", "publisher private key file to sign with (env NANOEDGE_KEY; default: "+devKeyFile+" if present)")
		sigFile := fs.String("signature", "", "detached signature from 'nanoedge sign' (default: <file>.sig if present)")
		source := fs.String("source", "", "source revision or CI run id to record as provenance")
		return func(ctx context.Context, args []string) error {
			path := args[0]
			wasm, err := readModule(ctx, path)
			if err != nil {
				return err
			}
			if *name == "" {
				*name = defaultName(path)
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := upload(ctx, e, cf, c, path, *name, wasm, *keyFile, *sigFile, *source)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"module": res.Module, "created": res.Created, "revision": res.Revision}, func(w io.Writer) {
				verb := "pushed"
				if !res.Created {
					verb = "already stored"
				}
				fmt.Fprintf(w, "%s %s@%s (%d bytes, revision %d)\n", verb, res.Module.Name, res.Module.Digest, res.Module.Size, res.Revision)
			})
		}
	})
}

// upload signs wasm (with keyFile, or the detached signature sigFile) and
// uploads it, with a progress bar when stderr is a terminal.
func upload(ctx context.Context, e *env, cf clientFlags, c *client.Client, path, name string, wasm []byte, keyFile, sigFile, source string) (*client.UploadResult, error) {
	opts, err := signOptions(path, keyFile, sigFile)
	if err != nil {
		return nil, err
	}
	if source != "" {
		opts = append(opts, client.WithSource(source))
	}
	if isTerminal(e.stderr) && *cf.output == "text" {
		opts = append(opts, client.WithProgress(progressBar(e.stderr, name)))
	}
	return c.Upload(ctx, name, wasm, opts...)
}

// readModule reads a .wasm file, or builds a Go package directory.
func readModule(ctx context.Context, path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if info.IsDir() {
		if !wasmbuild.IsGoPackage(path) {
			return nil, fmt.Errorf("%s holds no Go files to build", path)
		}
		return wasmbuild.Build(ctx, path)
	}
	return os.ReadFile(path)
}

func defaultName(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	base := strings.TrimSuffix(filepath.Base(abs), ".wasm")
	return strings.ToLower(base)
}

// routeFlags name a route.
type routeFlags struct{ host, path *string }

func addRouteFlags(fs *flag.FlagSet) routeFlags {
	return routeFlags{
		host: fs.String("host", "", "host to match, without port (empty: any host)"),
		path: fs.String("path", "", "path prefix to match, starting with / (required)"),
	}
}

// need refuses a missing --path: no route has an empty one.
func (f routeFlags) need() error {
	if *f.path == "" {
		return usageErr("--path is required: the route's path prefix, starting with /")
	}
	return nil
}

func (e *env) routeCmd() *cobra.Command {
	set := e.leaf("set", "point a host and path prefix at a module, a weighted split, or rules", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		rf := addRouteFlags(fs)
		module := fs.String("module", "", "module reference: name, name@sha256:<hex> or a digest prefix")
		timeout := fs.Duration("timeout", 0, "request time limit for this route (only lowers the worker's)")
		maxBody := fs.Int64("max-body-kb", 0, "request body limit for this route, in KiB (only lowers the worker's)")
		strict := fs.Bool("strict", false, "a fresh instance for every request")
		var versions, rules listFlag
		fs.Var(&versions, "version", "a weighted version MODULE=WEIGHT (repeat; weights sum to 100)")
		sticky := fs.String("sticky", "", "keep users on one version by header:<name>, cookie:<name> or ip")
		mw := addMiddlewareFlags(fs)
		fs.Var(&rules, "rule", "send matching requests to a module: KIND[:NAME]~REGEXP=>MODULE, KIND one of header, cookie, query, ua; or flag:NAME=>MODULE while a feature flag is on (repeat)")
		return func(ctx context.Context, args []string) error {
			if err := rf.need(); err != nil {
				return err
			}
			if err := mw.check(); err != nil {
				return err
			}
			opts := &registryv1.RouteOptions{TimeoutMs: timeout.Milliseconds(), MaxRequestBody: *maxBody << 10, StrictIsolation: *strict}
			mw.apply(opts)
			route := client.Route{Host: *rf.host, PathPrefix: *rf.path, Module: *module, Options: opts, StickyKey: *sticky}
			var err error
			if route.Versions, err = parseVersions(versions); err != nil {
				return err
			}
			if route.Rules, err = parseRules(rules); err != nil {
				return err
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			r, rev, err := c.SetRoute(ctx, route)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"route": r, "revision": rev}, func(w io.Writer) { printRoute(w, r, rev) })
		}
	})
	rollback := e.leaf("rollback", "restore a route as it was before its last change", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		rf := addRouteFlags(fs)
		return func(ctx context.Context, args []string) error {
			if err := rf.need(); err != nil {
				return err
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			r, rev, err := c.RollbackRoute(ctx, *rf.host, *rf.path)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"route": r, "revision": rev}, func(w io.Writer) {
				fmt.Fprintf(w, "route %s rolled back to %s (revision %d)\n", routeName(r.Host, r.PathPrefix), routeTarget(r), rev)
				printRouteBody(w, r)
			})
		}
	})
	del := e.leaf("delete", "delete a route", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		rf := addRouteFlags(fs)
		return func(ctx context.Context, args []string) error {
			if err := rf.need(); err != nil {
				return err
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			rev, err := c.DeleteRoute(ctx, *rf.host, *rf.path)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"revision": rev}, func(w io.Writer) {
				fmt.Fprintf(w, "route %s deleted (revision %d)\n", routeName(*rf.host, *rf.path), rev)
			})
		}
	})
	list := e.leaf("list", "list routes with their splits, rules and options", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			routes, rev, err := c.ListRoutes(ctx)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"routes": routes, "revision": rev}, func(w io.Writer) { printRoutes(w, routes, rev) })
		}
	})
	return group("route", "set, delete, roll back or list routes", set, del, rollback, list)
}

// routeName is how messages name a route: host and path, "*" for any host.
func routeName(host, path string) string {
	if host == "" {
		host = "*"
	}
	return host + path
}

func moduleRef(name, digest string) string { return name + "@" + shortDigest(digest) }

// routeTarget says where a route sends requests outside its rules.
func routeTarget(r *registryv1.Route) string {
	if len(r.Versions) == 0 {
		return moduleRef(r.ModuleName, r.ModuleDigest)
	}
	parts := make([]string, len(r.Versions))
	for i, v := range r.Versions {
		parts[i] = fmt.Sprintf("%d%% %s", v.Weight, moduleRef(v.ModuleName, v.ModuleDigest))
	}
	return strings.Join(parts, " + ")
}

func printRoute(w io.Writer, r *registryv1.Route, rev int64) {
	if len(r.Versions) == 0 {
		fmt.Fprintf(w, "route %s -> %s@%s (revision %d)\n", routeName(r.Host, r.PathPrefix), r.ModuleName, r.ModuleDigest, rev)
	} else {
		fmt.Fprintf(w, "route %s (revision %d)\n", routeName(r.Host, r.PathPrefix), rev)
	}
	printRouteBody(w, r)
}

// printRouteBody writes a route's split, rules, stickiness and options,
// one per line.
func printRouteBody(w io.Writer, r *registryv1.Route) {
	for _, v := range r.Versions {
		fmt.Fprintf(w, "  %3d%%  %s@%s\n", v.Weight, v.ModuleName, v.ModuleDigest)
	}
	for _, rl := range r.Rules {
		fmt.Fprintf(w, "  rule  %s => %s@%s\n", rl.Match(), rl.ModuleName, rl.ModuleDigest)
	}
	if r.StickyKey != "" {
		fmt.Fprintf(w, "  sticky by %s\n", r.StickyKey)
	}
	if opts := r.GetOptions().Describe(); len(opts) > 0 {
		fmt.Fprintf(w, "  options  %s\n", strings.Join(opts, ", "))
	}
}

func printRoutes(w io.Writer, routes []*registryv1.Route, rev int64) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ROUTE\tTO\tRULES\tOPTIONS\tREVISION\n")
	for _, r := range routes {
		var rules []string
		for _, rl := range r.Rules {
			rules = append(rules, rl.Match()+" => "+moduleRef(rl.ModuleName, rl.ModuleDigest))
		}
		if r.StickyKey != "" {
			rules = append(rules, "sticky by "+r.StickyKey)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\n", routeName(r.Host, r.PathPrefix), routeTarget(r),
			dash(strings.Join(rules, "; ")), dash(strings.Join(r.GetOptions().Describe(), ", ")), r.ModRevision)
	}
	tw.Flush()
	fmt.Fprintf(w, "(%d routes at revision %d)\n", len(routes), rev)
}

func (e *env) modulesCmd() *cobra.Command {
	list := func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			mods, rev, err := c.ListModules(ctx)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"modules": mods, "revision": rev}, func(w io.Writer) { printModules(w, mods, rev) })
		}
	}
	gc := e.leaf("gc", "delete modules no route uses (keeps the newest of each name)", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		dryRun := fs.Bool("dry-run", false, "only list what would be deleted")
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.CollectGarbage(ctx, *dryRun)
			if err != nil {
				return err
			}
			return cf.emit(e, resp, func(w io.Writer) {
				verb := "deleted"
				if *dryRun {
					verb = "would delete"
				}
				for _, m := range resp.Deleted {
					fmt.Fprintf(w, "%s %s@%s (%d bytes)\n", verb, m.Name, m.Digest, m.Size)
				}
				fmt.Fprintf(w, "%s %d modules, %d bytes (revision %d)\n", verb, len(resp.Deleted), resp.FreedBytes, resp.Revision)
			})
		}
	})
	cmd := e.leaf("modules", "list stored modules; 'modules gc' deletes unrouted old ones", noArgs, list)
	cmd.Args = noSubcommand
	cmd.AddCommand(gc)
	return cmd
}

func printModules(w io.Writer, mods []*registryv1.Module, rev int64) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NAME\tDIGEST\tSIZE\tREVISION\tCREATED\tSIGNED BY\tUPLOADER\tSOURCE\n")
	for _, m := range mods {
		p := m.GetProvenance()
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", m.Name, m.Digest, m.Size, m.CreateRevision,
			m.CreateTime.AsTime().Format("2006-01-02T15:04:05Z"), dash(p.GetKeyId()), dash(p.GetUploader()), dash(p.GetSource()))
	}
	tw.Flush()
	fmt.Fprintf(w, "(%d modules at revision %d)\n", len(mods), rev)
}

func (e *env) statusCmd() *cobra.Command {
	return e.leaf("status", "show the registry's revision, modules, routes and workers", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			mods, _, err := c.ListModules(ctx)
			if err != nil {
				return err
			}
			routes, rev, err := c.ListRoutes(ctx)
			if err != nil {
				return err
			}
			workers, err := c.Workers(ctx)
			if err != nil {
				return err
			}
			v := map[string]any{"modules": mods, "routes": routes, "workers": workers, "revision": rev}
			return cf.emit(e, v, func(w io.Writer) {
				fmt.Fprintf(w, "control plane %s\n\n", *cf.addr)
				printModules(w, mods, rev)
				fmt.Fprintln(w)
				printRoutes(w, routes, rev)
				fmt.Fprintln(w)
				printWorkers(w, workers)
			})
		}
	})
}

func printWorkers(w io.Writer, workers []*registryv1.WorkerStatus) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tVERSION\tUPTIME\tREVISION\tMODULES\tINSTANCES\tMEMORY\tREQUESTS\t4XX\t5XX\tLAST SEEN")
	for _, ws := range workers {
		r := ws.Report
		var reqs, clientErrs, errs, instances, mem int64
		for _, v := range r.Versions {
			reqs, clientErrs, errs = reqs+v.Requests, clientErrs+v.ClientErrors, errs+v.ServerErrors
		}
		for _, m := range r.Modules {
			instances, mem = instances+int64(m.Instances), mem+m.MemoryBytes
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.1f MiB\t%d\t%d\t%d\t%s ago\n", r.WorkerId, dash(r.Version),
			time.Since(r.Started.AsTime()).Round(time.Second), r.AppliedRevision, r.ModulesLoaded,
			instances, float64(mem)/(1<<20), reqs, clientErrs, errs, time.Since(ws.LastSeen.AsTime()).Round(time.Second))
	}
	tw.Flush()
	fmt.Fprintf(w, "(%d workers reporting)\n", len(workers))
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func parseVersions(vals []string) ([]*registryv1.VersionSpec, error) {
	var out []*registryv1.VersionSpec
	for _, v := range vals {
		mod, w, ok := strings.Cut(v, "=")
		weight, err := strconv.ParseUint(w, 10, 32)
		if !ok || err != nil {
			return nil, fmt.Errorf("--version %q: want MODULE=WEIGHT", v)
		}
		out = append(out, &registryv1.VersionSpec{Module: mod, Weight: uint32(weight)})
	}
	return out, nil
}

var ruleKinds = map[string]registryv1.MatchKind{
	"header": registryv1.MatchKind_MATCH_KIND_HEADER,
	"cookie": registryv1.MatchKind_MATCH_KIND_COOKIE,
	"query":  registryv1.MatchKind_MATCH_KIND_QUERY,
	"ua":     registryv1.MatchKind_MATCH_KIND_USER_AGENT,
	"flag":   registryv1.MatchKind_MATCH_KIND_FLAG,
}

func parseRules(vals []string) ([]*registryv1.RuleSpec, error) {
	var out []*registryv1.RuleSpec
	for _, v := range vals {
		lhs, mod, arrow := strings.Cut(v, "=>")
		what, pattern, ok := strings.Cut(lhs, "~")
		kind, name, _ := strings.Cut(what, ":")
		if kind == "flag" { // flag:NAME=>MODULE: no pattern
			ok = !ok && name != ""
		}
		k, known := ruleKinds[kind]
		if !arrow || !ok || !known || mod == "" {
			return nil, fmt.Errorf("--rule %q: want KIND[:NAME]~REGEXP=>MODULE with KIND header, cookie, query or ua, or flag:NAME=>MODULE", v)
		}
		out = append(out, &registryv1.RuleSpec{Kind: k, Name: name, Pattern: pattern, Module: mod})
	}
	return out, nil
}
