package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

func (e *env) rolloutCmd() *cobra.Command {
	start := e.leaf("start", "move a route to a module step by step, rolling back on errors", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		rt := addRouteFlags(fs)
		module := fs.String("module", "", "module to roll out")
		rf := addRolloutFlags(fs)
		return func(ctx context.Context, args []string) error {
			if err := rt.need(); err != nil {
				return err
			}
			if *module == "" {
				return usageErr("--module is required: the module to roll out")
			}
			req, err := rf.request(*rt.host, *rt.path, *module)
			if err != nil {
				return err
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ro, err := c.StartRollout(ctx, req)
			if err != nil {
				return err
			}
			return cf.emit(e, ro, func(w io.Writer) {
				fmt.Fprintf(w, "rollout of %s to %s@%s started at %d%% (from %s)\n", routeName(ro.Host, ro.PathPrefix), ro.ModuleName, ro.ModuleDigest, ro.Steps[ro.Step], baselineText(ro))
			})
		}
	})
	change := func(verb string) *cobra.Command {
		return e.leaf(verb, verb+" a rollout", noArgs, func(fs *flag.FlagSet) runFunc {
			cf := addClientFlags(fs)
			rt := addRouteFlags(fs)
			return func(ctx context.Context, args []string) error {
				if err := rt.need(); err != nil {
					return err
				}
				c, err := cf.dial()
				if err != nil {
					return err
				}
				defer c.Close()
				do := map[string]func(context.Context, string, string) (*registryv1.Rollout, error){
					"pause": c.PauseRollout, "resume": c.ResumeRollout, "abort": c.AbortRollout}[verb]
				ro, err := do(ctx, *rt.host, *rt.path)
				if err != nil {
					return err
				}
				return cf.emit(e, ro, func(w io.Writer) {
					if verb == "abort" {
						fmt.Fprintf(w, "rollout of %s aborted; back on %s\n", routeName(ro.Host, ro.PathPrefix), baselineText(ro))
						return
					}
					fmt.Fprintf(w, "rollout of %s %s at %d%%\n", routeName(ro.Host, ro.PathPrefix), rolloutState(ro), ro.Steps[ro.Step])
				})
			}
		})
	}
	status := e.leaf("status", "list rollouts: route, module, step, state and why it ended", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		watch := fs.Bool("watch", false, "follow the rollouts in flight until each ends, printing every step")
		rt := addRouteFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			ros, err := c.Rollouts(ctx)
			if err != nil {
				return err
			}
			if *rt.path != "" {
				var mine []*registryv1.Rollout
				for _, ro := range ros {
					if ro.PathPrefix == *rt.path && ro.Host == *rt.host {
						mine = append(mine, ro)
					}
				}
				ros = mine
			}
			if *watch {
				return e.watchRollouts(ctx, c, cf, ros)
			}
			return cf.emit(e, map[string]any{"rollouts": ros}, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ROUTE\tTO\tFROM\tSTEP\tSTATE\tREASON")
				for _, ro := range ros {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d/%d (%d%%)\t%s\t%s\n", routeName(ro.Host, ro.PathPrefix), moduleRef(ro.ModuleName, ro.ModuleDigest),
						baselineText(ro), ro.Step+1, len(ro.Steps), ro.Steps[ro.Step], rolloutState(ro), dash(ro.Reason))
				}
				tw.Flush()
			})
		}
	})
	return group("rollout", "start, follow, pause, resume or abort a stepwise rollout with automatic rollback",
		start, status, change("pause"), change("resume"), change("abort"))
}

// watchRollouts follows each rollout in flight to its end, saying every
// step; it fails if one ends other than succeeded.
func (e *env) watchRollouts(ctx context.Context, c *client.Client, cf clientFlags, ros []*registryv1.Rollout) error {
	say := func(format string, args ...any) {
		if *cf.output == "text" {
			fmt.Fprintf(e.stdout, format+"\n", args...)
		}
	}
	var failed []string
	var done []*registryv1.Rollout
	for _, ro := range ros {
		if inFlight(ro) {
			say("rollout of %s to %s at %d%% (step %d of %d)", routeName(ro.Host, ro.PathPrefix), moduleRef(ro.ModuleName, ro.ModuleDigest), ro.Steps[ro.Step], ro.Step+1, len(ro.Steps))
			end, err := waitRollout(ctx, c, ro, say)
			if err != nil {
				return err
			}
			ro = end
		}
		done = append(done, ro)
		if ro.State != registryv1.RolloutState_ROLLOUT_STATE_SUCCEEDED {
			failed = append(failed, fmt.Sprintf("%s %s: %s", routeName(ro.Host, ro.PathPrefix), rolloutState(ro), dash(ro.Reason)))
		}
	}
	if *cf.output != "text" {
		if err := cf.emit(e, map[string]any{"rollouts": done}, nil); err != nil {
			return err
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s", strings.Join(failed, "; "))
	}
	return nil
}

func inFlight(ro *registryv1.Rollout) bool {
	return ro.State == registryv1.RolloutState_ROLLOUT_STATE_RUNNING || ro.State == registryv1.RolloutState_ROLLOUT_STATE_PAUSED
}

// baselineText says what a rollout moves away from (and returns to on a
// rollback): the route's split when it started.
func baselineText(ro *registryv1.Rollout) string {
	if len(ro.Baseline) == 0 {
		return "-"
	}
	if len(ro.Baseline) == 1 {
		return moduleRef(ro.Baseline[0].ModuleName, ro.Baseline[0].ModuleDigest)
	}
	parts := make([]string, len(ro.Baseline))
	for i, v := range ro.Baseline {
		parts[i] = fmt.Sprintf("%d%% %s", v.Weight, moduleRef(v.ModuleName, v.ModuleDigest))
	}
	return strings.Join(parts, " + ")
}

func rolloutState(ro *registryv1.Rollout) string {
	return strings.ToLower(strings.TrimPrefix(ro.State.String(), "ROLLOUT_STATE_"))
}

// rolloutFlags are the step and threshold flags of `rollout start` and
// `deploy --rollout`.
type rolloutFlags struct {
	steps, maxErr    *string
	interval, maxP99 *time.Duration
}

func addRolloutFlags(fs *flag.FlagSet) *rolloutFlags {
	return &rolloutFlags{
		steps:    fs.String("steps", "1,5,25,50,100", "traffic percentages for the new module, ending at 100"),
		interval: fs.Duration("interval", time.Minute, "time each step runs before the next"),
		maxErr:   fs.String("max-error-rate", "1%", "roll back when the new module's 5xx share passes this"),
		maxP99:   fs.Duration("max-p99", 0, "roll back when the new module's p99 latency passes this (0: no check)"),
	}
}

func (f *rolloutFlags) request(host, path, module string) (*registryv1.StartRolloutRequest, error) {
	req := &registryv1.StartRolloutRequest{Host: host, PathPrefix: path, Module: module, IntervalMs: f.interval.Milliseconds(), MaxP99Ms: f.maxP99.Milliseconds()}
	for _, s := range strings.Split(*f.steps, ",") {
		n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("--steps %q: want percentages like 1,5,25,50,100", *f.steps)
		}
		req.Steps = append(req.Steps, uint32(n))
	}
	rate, err := strconv.ParseFloat(strings.TrimSuffix(*f.maxErr, "%"), 64)
	if err != nil {
		return nil, fmt.Errorf("--max-error-rate %q: want a percentage like 1%%", *f.maxErr)
	}
	req.MaxErrorRate = rate / 100
	return req, nil
}
