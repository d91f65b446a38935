package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// deployCmd builds (if given a Go package), signs, uploads, and then
// routes the module or rolls it out, optionally waiting for the outcome.
func (e *env) deployCmd() *cobra.Command {
	return e.leaf("deploy [flags] <go-package-dir | module.wasm>", "build, sign, upload and route a handler, or roll it out step by step",
		exactArgs(1, "the handler: a Go package directory or a .wasm file"), func(fs *flag.FlagSet) runFunc {
			cf := addClientFlags(fs)
			name := fs.String("name", "", "module name (default: the directory or file name)")
			keyFile := fs.String("key", "", "publisher private key file to sign with (env NANOEDGE_KEY; default: "+devKeyFile+" if present)")
			source := fs.String("source", "", "source revision or CI run id to record as provenance")
			host := fs.String("host", "", "route host (empty: any host)")
			path := fs.String("path", "", "route path prefix; default /<name>/")
			rollout := fs.Bool("rollout", false, "if the route exists, move it to the module step by step (see --steps) instead of at once")
			rf := addRolloutFlags(fs)
			wait := fs.Bool("wait", false, "wait until the rollout ends (exit 1 unless it succeeds) or every reporting worker applied the route")
			timeout := fs.Duration("wait-timeout", 30*time.Minute, "give up waiting after this long")
			return func(ctx context.Context, args []string) error {
				src := args[0]
				if *keyFile == "" {
					*keyFile = os.Getenv("NANOEDGE_KEY")
				}
				if *name == "" {
					*name = defaultName(src)
				}
				if *path == "" {
					*path = "/" + *name + "/"
				}
				req, err := rf.request(*host, *path, "")
				if err != nil {
					return err
				}
				wasm, err := readModule(ctx, src)
				if err != nil {
					return err
				}
				c, err := cf.dial()
				if err != nil {
					return err
				}
				defer c.Close()
				up, err := upload(ctx, e, cf, c, src, *name, wasm, *keyFile, "", *source)
				if err != nil {
					return err
				}
				ref := up.Module.Name + "@" + up.Module.Digest
				result := map[string]any{"module": up.Module, "created": up.Created}
				say := func(format string, args ...any) {
					if *cf.output == "text" {
						fmt.Fprintf(e.stdout, format+"\n", args...)
					}
				}
				say("uploaded %s (%d bytes)", ref, up.Module.Size)

				cur, _ := currentRoute(ctx, c, *host, *path)
				var ro *registryv1.Rollout
				var rev int64
				switch {
				case *rollout && cur != nil:
					req.Module = ref
					if ro, err = c.StartRollout(ctx, req); err != nil {
						return err
					}
					rev = ro.ModRevision
					say("rollout of %s%s to %s started at %d%%", *host, *path, ref, ro.Steps[0])
				default: // a new route starts with all of its traffic; so does a direct deploy
					r, rv, err := c.SetRoute(ctx, client.Route{Host: *host, PathPrefix: *path, Module: ref})
					if err != nil {
						return err
					}
					rev = rv
					result["route"] = r
					say("route %s%s -> %s (revision %d)", r.Host, r.PathPrefix, ref, rev)
				}
				result["revision"] = rev
				if *wait {
					wctx, cancel := context.WithTimeout(ctx, *timeout)
					defer cancel()
					if ro != nil {
						if ro, err = waitRollout(wctx, c, ro, say); err != nil {
							return err
						}
					} else if err := waitApplied(wctx, c, rev); err != nil {
						return err
					}
				}
				if ro != nil {
					result["rollout"] = ro
				}
				if *cf.output != "text" {
					if err := cf.emit(e, result, nil); err != nil {
						return err
					}
				}
				if ro != nil && *wait && ro.State != registryv1.RolloutState_ROLLOUT_STATE_SUCCEEDED {
					return fmt.Errorf("rollout %s: %s", rolloutState(ro), ro.Reason)
				}
				return nil
			}
		})
}

func currentRoute(ctx context.Context, c *client.Client, host, path string) (*registryv1.Route, error) {
	routes, _, err := c.ListRoutes(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.Host == strings.ToLower(host) && r.PathPrefix == path {
			return r, nil
		}
	}
	return nil, nil
}

// waitRollout polls until the rollout ends, saying each step.
func waitRollout(ctx context.Context, c *client.Client, ro *registryv1.Rollout, say func(string, ...any)) (*registryv1.Rollout, error) {
	step := ro.Step
	for {
		ros, err := c.Rollouts(ctx)
		if err != nil && status.Code(err) != codes.Unavailable {
			return nil, err
		}
		for _, r := range ros {
			if r.Host != ro.Host || r.PathPrefix != ro.PathPrefix {
				continue
			}
			if r.Step != step {
				step = r.Step
				say("rollout at %d%% (step %d of %d)", r.Steps[r.Step], r.Step+1, len(r.Steps))
			}
			if r.State != registryv1.RolloutState_ROLLOUT_STATE_RUNNING && r.State != registryv1.RolloutState_ROLLOUT_STATE_PAUSED {
				say("rollout %s: %s", rolloutState(r), r.Reason)
				return r, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the rollout: %w", ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// waitApplied polls until every reporting worker applied revision rev.
func waitApplied(ctx context.Context, c *client.Client, rev int64) error {
	for {
		workers, err := c.Workers(ctx)
		if err == nil {
			behind := 0
			for _, w := range workers {
				if w.Report.AppliedRevision < rev {
					behind++
				}
			}
			if behind == 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("waiting for workers to apply revision %d: %w", rev, ctx.Err()), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// progressBar draws an upload's progress on a terminal.
func progressBar(w io.Writer, name string) func(sent, total int64) {
	const width = 30
	return func(sent, total int64) {
		if total <= 0 {
			return
		}
		n := int(width * sent / total)
		fmt.Fprintf(w, "\r%s [%s%s] %3d%% %s", name, strings.Repeat("=", n), strings.Repeat(" ", width-n), 100*sent/total, humanBytes(sent))
		if sent >= total {
			fmt.Fprintln(w)
		}
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
