package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/digest"
	"github.com/nanoedge/nanoedge/sdk/outbound"
)

// edgeConfig is a nanoedge.yaml: the routes and flags a team keeps in
// git. docs/nanoedge.schema.json describes it; a test holds the two
// together.
type edgeConfig struct {
	Routes []routeConfig `json:"routes,omitempty"`
	Flags  []flagConfig  `json:"flags,omitempty"`
}

type routeConfig struct {
	Host string `json:"host,omitempty"`
	Path string `json:"path"`
	// Module names what the route serves; with Build or Wasm, the name
	// the module is pushed under.
	Module    string          `json:"module,omitempty"`
	Build     string          `json:"build,omitempty"`
	Wasm      string          `json:"wasm,omitempty"`
	Versions  []versionConfig `json:"versions,omitempty"`
	Sticky    string          `json:"sticky,omitempty"`
	Rules     []ruleConfig    `json:"rules,omitempty"`
	Timeout   duration        `json:"timeout,omitempty"`
	MaxBodyKB int64           `json:"max_body_kb,omitempty"`
	Strict    bool            `json:"strict,omitempty"`
	CORS      *corsConfig     `json:"cors,omitempty"`
	AccessLog bool            `json:"access_log,omitempty"`
	Trace     bool            `json:"trace,omitempty"`
	Browser   bool            `json:"browser,omitempty"`
	Outbound  *outboundConfig `json:"outbound,omitempty"`
	// Rollout, if set, moves the route to a new module step by step
	// (when only its module changes) instead of at once.
	Rollout *rolloutConfig `json:"rollout,omitempty"`
}

type rolloutConfig struct {
	Steps        []uint32 `json:"steps"`
	Interval     duration `json:"interval"`
	MaxErrorRate string   `json:"max_error_rate,omitempty"`
	MaxP99       duration `json:"max_p99,omitempty"`
}

type versionConfig struct {
	Module string `json:"module"`
	Weight uint32 `json:"weight"`
}

type ruleConfig struct {
	// Kind is header, cookie, query, ua or flag.
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
	Pattern string `json:"pattern,omitempty"`
	Module  string `json:"module"`
}

type corsConfig struct {
	Origins     []string `json:"origins"`
	Methods     []string `json:"methods,omitempty"`
	Headers     []string `json:"headers,omitempty"`
	Expose      []string `json:"expose,omitempty"`
	Credentials bool     `json:"credentials,omitempty"`
	MaxAge      duration `json:"max_age,omitempty"`
}

// outboundConfig is what a route's handler may call over HTTP.
type outboundConfig struct {
	Allow    []string `json:"allow"`
	MaxCalls int64    `json:"max_calls,omitempty"`
	MaxKB    int64    `json:"max_kb,omitempty"`
}

type flagConfig struct {
	Name        string `json:"name"`
	Enabled     bool   `json:"enabled"`
	Description string `json:"description,omitempty"`
}

// duration is a time.Duration written as Go writes one: "2s", "1m30s".
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a duration such as \"2s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// readEdgeConfig reads and checks a nanoedge.yaml; relative build and
// wasm paths become relative to the file.
func readEdgeConfig(path string) (*edgeConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c edgeConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return nil, usageErr("%s: %v", path, err)
	}
	base := filepath.Dir(path)
	seen := map[string]bool{}
	var errs []error
	for i := range c.Routes {
		r := &c.Routes[i]
		where := fmt.Sprintf("%s: routes[%d] (%s)", path, i, routeName(r.Host, r.Path))
		switch {
		case r.Path == "":
			errs = append(errs, fmt.Errorf("%s: no path", where))
		case seen[r.Host+"\x00"+r.Path]:
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
		case (r.Module == "") == (len(r.Versions) == 0):
			errs = append(errs, fmt.Errorf("%s: give either module or versions", where))
		case r.Build != "" && r.Wasm != "":
			errs = append(errs, fmt.Errorf("%s: give build or wasm, not both", where))
		}
		seen[r.Host+"\x00"+r.Path] = true
		for _, p := range []*string{&r.Build, &r.Wasm} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(base, *p)
			}
		}
		if ro := r.Rollout; ro != nil {
			if _, err := ro.request(r); err != nil {
				errs = append(errs, fmt.Errorf("%s: rollout: %v", where, err))
			}
		}
		if ob := r.Outbound; ob != nil {
			if _, err := outbound.ParseList(ob.Allow); err != nil {
				errs = append(errs, fmt.Errorf("%s: outbound: %v", where, err))
			}
		}
		for j, rl := range r.Rules {
			if _, ok := ruleKinds[rl.Kind]; !ok || rl.Module == "" {
				errs = append(errs, fmt.Errorf("%s: rules[%d]: want kind header, cookie, query, ua or flag, and a module", where, j))
			}
		}
	}
	flags := map[string]bool{}
	for i, f := range c.Flags {
		if f.Name == "" || flags[f.Name] {
			errs = append(errs, fmt.Errorf("%s: flags[%d]: no name, or listed twice", path, i))
		}
		flags[f.Name] = true
	}
	if err := errors.Join(errs...); err != nil {
		return nil, usageErr("%v", err)
	}
	return &c, nil
}

// request is the StartRollout call that moves the route to its module.
func (ro *rolloutConfig) request(rc *routeConfig) (*registryv1.StartRolloutRequest, error) {
	steps := make([]string, len(ro.Steps))
	for i, st := range ro.Steps {
		steps[i] = fmt.Sprint(st)
	}
	maxErr := ro.MaxErrorRate
	if maxErr == "" {
		maxErr = "1%"
	}
	interval, maxP99 := time.Duration(ro.Interval), time.Duration(ro.MaxP99)
	if len(steps) == 0 || interval <= 0 {
		return nil, errors.New("want steps (percentages ending at 100) and an interval")
	}
	f := rolloutFlags{steps: ptr(strings.Join(steps, ",")), maxErr: &maxErr, interval: &interval, maxP99: &maxP99}
	return f.request(rc.Host, rc.Path, rc.Module)
}

func ptr[T any](v T) *T { return &v }

// change is one step of a plan.
type change struct {
	Action string `json:"action"` // create, update, delete, push, rollout
	Kind   string `json:"kind"`   // route, flag, module
	Name   string `json:"name"`
	From   string `json:"from,omitempty"`
	To     string `json:"to,omitempty"`
	do     func(ctx context.Context) (int64, error)
}

func (e *env) applyCmd() *cobra.Command {
	return e.leaf("apply -f <file>", "make the control plane hold the routes and flags of a nanoedge.yaml", noArgs, func(fs *flag.FlagSet) runFunc {
		return e.planCommand(fs, true)
	})
}

func (e *env) diffCmd() *cobra.Command {
	c := e.leaf("diff -f <file>", "show what 'apply -f' would change (exit 1 when something would)", noArgs, func(fs *flag.FlagSet) runFunc {
		return e.planCommand(fs, false)
	})
	return c
}

func (e *env) planCommand(fs *flag.FlagSet, apply bool) runFunc {
	cf := addClientFlags(fs)
	file := fs.String("file", "", "the nanoedge.yaml (required; schema: docs/nanoedge.schema.json)")
	prune := fs.Bool("prune", false, "also delete routes and flags the file does not list")
	keyFile := fs.String("key", "", "publisher private key to sign built modules with (env NANOEDGE_KEY; default: "+devKeyFile+" if present)")
	source := fs.String("source", "", "source revision or CI run id to record as the provenance of modules pushed")
	var wait *bool
	var waitTimeout *time.Duration
	if apply {
		wait = fs.Bool("wait", false, "wait for the rollouts this apply starts to end; exit 1 unless each succeeds")
		waitTimeout = fs.Duration("wait-timeout", 30*time.Minute, "give up waiting after this long")
	}
	return func(ctx context.Context, args []string) error {
		if *file == "" {
			return usageErr("-f/--file is required: the nanoedge.yaml to apply")
		}
		if *keyFile == "" {
			*keyFile = os.Getenv("NANOEDGE_KEY")
		}
		cfg, err := readEdgeConfig(*file)
		if err != nil {
			return err
		}
		c, err := cf.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		p := &planner{c: c, e: e, cf: cf, keyFile: *keyFile, source: *source, apply: apply}
		changes, err := p.plan(ctx, cfg, *prune)
		if err != nil {
			return err
		}
		var rev int64
		if apply {
			for _, ch := range changes {
				if rev, err = ch.do(ctx); err != nil {
					return fmt.Errorf("%s %s %s: %w", ch.Action, ch.Kind, ch.Name, err)
				}
			}
		}
		result := map[string]any{"changes": changes, "applied": apply}
		if apply {
			result["revision"] = rev
		}
		if *cf.output == "text" {
			printPlan(e.stdout, changes, apply)
		}
		var failed []string
		if apply && *wait && len(p.started) > 0 {
			wctx, cancel := context.WithTimeout(ctx, *waitTimeout)
			defer cancel()
			say := func(format string, args ...any) {
				if *cf.output == "text" {
					fmt.Fprintf(e.stdout, format+"\n", args...)
				}
			}
			var ended []*registryv1.Rollout
			for _, ro := range p.started {
				end, err := waitRollout(wctx, c, ro, say)
				if err != nil {
					return err
				}
				ended = append(ended, end)
				if end.State != registryv1.RolloutState_ROLLOUT_STATE_SUCCEEDED {
					failed = append(failed, fmt.Sprintf("rollout of %s %s: %s", routeName(end.Host, end.PathPrefix), rolloutState(end), end.Reason))
				}
			}
			result["rollouts"] = ended
		}
		if *cf.output != "text" {
			if err := cf.emit(e, result, nil); err != nil {
				return err
			}
		}
		if len(failed) > 0 {
			return errors.New(strings.Join(failed, "; "))
		}
		if !apply && len(changes) > 0 {
			return errDiffers
		}
		return nil
	}
}

// errDiffers is diff's exit status 1: the control plane differs from the file.
var errDiffers = errors.New("differences found")

func printPlan(w io.Writer, changes []change, applied bool) {
	sign := map[string]string{"create": "+", "update": "~", "delete": "-", "push": "^", "rollout": ">"}
	for _, ch := range changes {
		line := fmt.Sprintf("%s %s %s", sign[ch.Action], ch.Kind, ch.Name)
		switch {
		case ch.From != "" && ch.To != "":
			line += fmt.Sprintf(": %s -> %s", ch.From, ch.To)
		case ch.To != "":
			line += ": " + ch.To
		}
		fmt.Fprintln(w, line)
	}
	switch {
	case len(changes) == 0:
		fmt.Fprintln(w, "no changes: the control plane holds what the file says")
	case applied:
		fmt.Fprintf(w, "applied %d changes\n", len(changes))
	default:
		fmt.Fprintf(w, "%d changes would be made\n", len(changes))
	}
}

type planner struct {
	started []*registryv1.Rollout // rollouts this apply started
	c       *client.Client
	e       *env
	cf      clientFlags
	keyFile string
	source  string
	apply   bool
	digests map[string]string // module reference -> digest
}

// resolve turns a module reference into its digest, as the control plane
// would.
func (p *planner) resolve(ctx context.Context, ref string) (string, error) {
	if d, ok := p.digests[ref]; ok {
		return d, nil
	}
	m, err := p.c.GetModule(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("module %q: %w", ref, err)
	}
	p.digests[ref] = m.Digest
	return m.Digest, nil
}

func (p *planner) plan(ctx context.Context, cfg *edgeConfig, prune bool) ([]change, error) {
	p.digests = map[string]string{}
	var changes []change
	// Modules built or read from files: pushed unless stored already.
	for _, r := range cfg.Routes {
		if r.Build == "" && r.Wasm == "" {
			continue
		}
		src := r.Build + r.Wasm
		wasm, err := readModule(ctx, src)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", routeName(r.Host, r.Path), err)
		}
		d := digest.Of(wasm)
		ref := r.Module + "@" + d
		p.digests[r.Module] = d
		p.digests[ref] = d
		if _, err := p.c.GetModule(ctx, ref); err == nil {
			continue
		}
		name, wasm, src := r.Module, wasm, src
		changes = append(changes, change{Action: "push", Kind: "module", Name: name, To: shortDigest(d), do: func(ctx context.Context) (int64, error) {
			res, err := upload(ctx, p.e, p.cf, p.c, src, name, wasm, p.keyFile, "", p.source)
			if err != nil {
				return 0, err
			}
			return res.Revision, nil
		}})
	}
	flags, _, err := p.c.ListFlags(ctx)
	if err != nil {
		return nil, err
	}
	current := map[string]*registryv1.Flag{}
	for _, f := range flags {
		current[f.Name] = f
	}
	for _, f := range cfg.Flags {
		cur := current[f.Name]
		if cur != nil && cur.Enabled == f.Enabled && cur.Description == f.Description {
			continue
		}
		ch := change{Action: "create", Kind: "flag", Name: f.Name, To: onOff(f.Enabled)}
		if cur != nil {
			ch.Action, ch.From = "update", onOff(cur.Enabled)
			if cur.Enabled == f.Enabled {
				ch.From, ch.To = fmt.Sprintf("%q", cur.Description), fmt.Sprintf("%q", f.Description)
			}
		}
		f := f
		ch.do = func(ctx context.Context) (int64, error) {
			_, rev, err := p.c.SetFlag(ctx, f.Name, f.Enabled, f.Description)
			return rev, err
		}
		changes = append(changes, ch)
	}
	routes, _, err := p.c.ListRoutes(ctx)
	if err != nil {
		return nil, err
	}
	rollouts, err := p.c.Rollouts(ctx)
	if err != nil {
		return nil, err
	}
	moving := map[string]bool{}
	for _, ro := range rollouts {
		if inFlight(ro) {
			moving[ro.Host+"\x00"+ro.PathPrefix] = true
		}
	}
	byKey := map[string]*registryv1.Route{}
	for _, r := range routes {
		byKey[r.Host+"\x00"+r.PathPrefix] = r
	}
	wanted := map[string]bool{}
	for _, rc := range cfg.Routes {
		key := strings.ToLower(rc.Host) + "\x00" + rc.Path
		wanted[key] = true
		want, err := p.desired(ctx, rc)
		if err != nil {
			return nil, err
		}
		cur := byKey[key]
		if cur != nil && sameRoute(cur, want) {
			continue
		}
		if moving[key] {
			return nil, fmt.Errorf("route %s: a rollout is moving it; let it end or abort it before applying", routeName(rc.Host, rc.Path))
		}
		if cur != nil && rc.Rollout != nil && onlyModuleDiffers(cur, want) {
			req, err := rc.Rollout.request(&rc)
			if err != nil {
				return nil, err
			}
			req.Module = rc.spec(p.digests).Module
			changes = append(changes, change{Action: "rollout", Kind: "route", Name: routeName(rc.Host, rc.Path), From: describeRoute(cur), To: describeRoute(want),
				do: func(ctx context.Context) (int64, error) {
					ro, err := p.c.StartRollout(ctx, req)
					if err != nil {
						return 0, err
					}
					p.started = append(p.started, ro)
					return ro.ModRevision, nil
				}})
			continue
		}
		ch := change{Action: "create", Kind: "route", Name: routeName(rc.Host, rc.Path), To: describeRoute(want)}
		if cur != nil {
			ch.Action, ch.From = "update", describeRoute(cur)
		}
		spec := rc.spec(p.digests)
		ch.do = func(ctx context.Context) (int64, error) {
			_, rev, err := p.c.SetRoute(ctx, spec)
			return rev, err
		}
		changes = append(changes, ch)
	}
	if !prune {
		return changes, nil
	}
	for _, r := range routes {
		if wanted[r.Host+"\x00"+r.PathPrefix] {
			continue
		}
		r := r
		changes = append(changes, change{Action: "delete", Kind: "route", Name: routeName(r.Host, r.PathPrefix), From: describeRoute(r),
			do: func(ctx context.Context) (int64, error) { return p.c.DeleteRoute(ctx, r.Host, r.PathPrefix) }})
	}
	listed := map[string]bool{}
	for _, f := range cfg.Flags {
		listed[f.Name] = true
	}
	for _, f := range flags {
		if listed[f.Name] {
			continue
		}
		name := f.Name
		changes = append(changes, change{Action: "delete", Kind: "flag", Name: name, From: onOff(f.Enabled),
			do: func(ctx context.Context) (int64, error) { return p.c.DeleteFlag(ctx, name) }})
	}
	return changes, nil
}

// spec is the SetRoute call that makes the route; modules pushed by this
// apply are named by digest.
func (rc routeConfig) spec(digests map[string]string) client.Route {
	ref := func(m string) string {
		if (rc.Build != "" || rc.Wasm != "") && m == rc.Module {
			return m + "@" + digests[m]
		}
		return m
	}
	r := client.Route{Host: rc.Host, PathPrefix: rc.Path, StickyKey: rc.Sticky, Options: rc.options()}
	if rc.Module != "" {
		r.Module = ref(rc.Module)
	}
	for _, v := range rc.Versions {
		r.Versions = append(r.Versions, &registryv1.VersionSpec{Module: ref(v.Module), Weight: v.Weight})
	}
	for _, rl := range rc.Rules {
		r.Rules = append(r.Rules, &registryv1.RuleSpec{Kind: ruleKinds[rl.Kind], Name: rl.Name, Pattern: rl.Pattern, Module: ref(rl.Module)})
	}
	return r
}

func (rc routeConfig) options() *registryv1.RouteOptions {
	o := &registryv1.RouteOptions{TimeoutMs: time.Duration(rc.Timeout).Milliseconds(), MaxRequestBody: rc.MaxBodyKB << 10,
		StrictIsolation: rc.Strict, AccessLog: rc.AccessLog, Trace: rc.Trace, Browser: rc.Browser}
	if c := rc.CORS; c != nil {
		o.Cors = &registryv1.CorsPolicy{AllowOrigins: c.Origins, AllowMethods: c.Methods, AllowHeaders: c.Headers, ExposeHeaders: c.Expose,
			AllowCredentials: c.Credentials, MaxAgeSeconds: int64(time.Duration(c.MaxAge) / time.Second)}
	}
	if ob := rc.Outbound; ob != nil {
		o.Outbound = &registryv1.OutboundPolicy{Allow: ob.Allow, MaxCalls: ob.MaxCalls, MaxResponseBytes: ob.MaxKB << 10}
	}
	return o
}

// desired is the route the file asks for, its modules resolved to
// digests, for comparing with the stored one.
func (p *planner) desired(ctx context.Context, rc routeConfig) (*registryv1.Route, error) {
	spec := rc.spec(p.digests)
	r := &registryv1.Route{Host: strings.ToLower(rc.Host), PathPrefix: rc.Path, StickyKey: rc.Sticky, Options: spec.Options}
	var err error
	if spec.Module != "" {
		if r.ModuleDigest, err = p.resolve(ctx, spec.Module); err != nil {
			return nil, err
		}
		r.ModuleName = moduleNameOf(spec.Module)
	}
	for _, v := range spec.Versions {
		d, err := p.resolve(ctx, v.Module)
		if err != nil {
			return nil, err
		}
		r.Versions = append(r.Versions, &registryv1.RouteVersion{ModuleName: moduleNameOf(v.Module), ModuleDigest: d, Weight: v.Weight})
	}
	for _, rl := range spec.Rules {
		d, err := p.resolve(ctx, rl.Module)
		if err != nil {
			return nil, err
		}
		r.Rules = append(r.Rules, &registryv1.RouteRule{Kind: rl.Kind, Name: rl.Name, Pattern: rl.Pattern, ModuleName: moduleNameOf(rl.Module), ModuleDigest: d})
	}
	return r, nil
}

func moduleNameOf(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	return name
}

// sameRoute compares what a route does: where it sends requests, how and
// with which options; not its revisions or history.
func sameRoute(cur, want *registryv1.Route) bool {
	type version struct {
		digest string
		weight uint32
	}
	split := func(r *registryv1.Route) []version {
		if len(r.Versions) == 0 {
			return []version{{r.ModuleDigest, 100}}
		}
		var vs []version
		for _, v := range r.Versions {
			vs = append(vs, version{v.ModuleDigest, v.Weight})
		}
		sort.Slice(vs, func(i, j int) bool { return vs[i].digest < vs[j].digest })
		return vs
	}
	rules := func(r *registryv1.Route) []string {
		var out []string
		for _, rl := range r.Rules {
			out = append(out, rl.Kind.String()+"\x00"+rl.Name+"\x00"+rl.Pattern+"\x00"+rl.ModuleDigest)
		}
		return out
	}
	return slices.Equal(split(cur), split(want)) && slices.Equal(rules(cur), rules(want)) && cur.StickyKey == want.StickyKey &&
		proto.Equal(normalOptions(cur.Options), normalOptions(want.Options))
}

// onlyModuleDiffers: both routes serve one module, different ones, and
// nothing else about them differs; a rollout can move one to the other.
func onlyModuleDiffers(cur, want *registryv1.Route) bool {
	if len(cur.Versions) > 0 || len(want.Versions) > 0 || cur.ModuleDigest == want.ModuleDigest {
		return false
	}
	moved := proto.Clone(cur).(*registryv1.Route)
	moved.ModuleDigest = want.ModuleDigest
	return sameRoute(moved, want)
}

// normalOptions treats unset options as their zero value.
func normalOptions(o *registryv1.RouteOptions) *registryv1.RouteOptions {
	if o == nil {
		return &registryv1.RouteOptions{}
	}
	return o
}

// describeRoute is a route in one line: its split, rules and options.
func describeRoute(r *registryv1.Route) string {
	parts := []string{routeTarget(r)}
	for _, rl := range r.Rules {
		parts = append(parts, "rule "+rl.Match()+" => "+moduleRef(rl.ModuleName, rl.ModuleDigest))
	}
	if r.StickyKey != "" {
		parts = append(parts, "sticky by "+r.StickyKey)
	}
	parts = append(parts, r.GetOptions().Describe()...)
	return strings.Join(parts, ", ")
}
