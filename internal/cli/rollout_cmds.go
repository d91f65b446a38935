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

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func runRollout(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "Usage: nanoedge rollout start|status|pause|resume|abort [flags]")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := e.flags("rollout "+sub, "[flags]")
	cf := addClientFlags(fs)
	var host, path, module *string
	var rf *rolloutFlags
	switch sub {
	case "start", "abort", "pause", "resume":
		host = fs.String("host", "", "route host (empty: any host)")
		path = fs.String("path", "", "route path prefix")
		if sub == "start" {
			module = fs.String("module", "", "module to roll out")
			rf = addRolloutFlags(fs)
		}
	case "status":
	default:
		fmt.Fprintf(e.stderr, "nanoedge rollout: unknown subcommand %q; want start, status, pause, resume or abort\n", sub)
		return errUsage
	}
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	switch sub {
	case "start":
		req, err := rf.request(*host, *path, *module)
		if err != nil {
			return err
		}
		ro, err := c.StartRollout(ctx, req)
		if err != nil {
			return err
		}
		return cf.emit(e, ro, func(w io.Writer) {
			fmt.Fprintf(w, "rollout of %s%s to %s@%s started at %d%%\n", ro.Host, ro.PathPrefix, ro.ModuleName, ro.ModuleDigest, ro.Steps[0])
		})
	case "pause", "resume":
		do := c.PauseRollout
		if sub == "resume" {
			do = c.ResumeRollout
		}
		ro, err := do(ctx, *host, *path)
		if err != nil {
			return err
		}
		return cf.emit(e, ro, func(w io.Writer) {
			fmt.Fprintf(w, "rollout of %s%s %s at %d%%\n", ro.Host, ro.PathPrefix, rolloutState(ro), ro.Steps[ro.Step])
		})
	case "abort":
		ro, err := c.AbortRollout(ctx, *host, *path)
		if err != nil {
			return err
		}
		return cf.emit(e, ro, func(w io.Writer) {
			fmt.Fprintf(w, "rollout of %s%s aborted; back on %s\n", ro.Host, ro.PathPrefix, ro.Baseline[0].ModuleName)
		})
	case "status":
		ros, err := c.Rollouts(ctx)
		if err != nil {
			return err
		}
		return cf.emit(e, map[string]any{"rollouts": ros}, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ROUTE\tTO\tSTEP\tSTATE\tREASON")
			for _, ro := range ros {
				fmt.Fprintf(tw, "%s%s\t%s@%s\t%d/%d (%d%%)\t%s\t%s\n", ro.Host, ro.PathPrefix, ro.ModuleName, shortDigest(ro.ModuleDigest),
					ro.Step+1, len(ro.Steps), ro.Steps[ro.Step], rolloutState(ro), dash(ro.Reason))
			}
			tw.Flush()
		})
	}
	return nil
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
