package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

func (e *env) topCmd() *cobra.Command {
	return e.leaf("top", "live request rate, error rate and p99 of every route version across the fleet", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		window := fs.Duration("window", 10*time.Second, "how far back rates look (1s to 60s)")
		interval := fs.Duration("interval", 2*time.Second, "how often the table refreshes")
		once := fs.Bool("once", false, "print the table once and exit")
		return func(ctx context.Context, args []string) error {
			if *interval <= 0 {
				return usageErr("--interval must be positive")
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			if *cf.output != "text" { // one snapshot for scripts
				traffic, err := c.Traffic(ctx, *window)
				if err != nil {
					return err
				}
				return cf.emit(e, map[string]any{"window_seconds": int64(*window / time.Second), "versions": traffic}, nil)
			}
			clear := !*once && isTerminal(e.stdout)
			t := time.NewTicker(*interval)
			defer t.Stop()
			for {
				var b strings.Builder
				if err := printTop(ctx, &b, c, *window); err != nil {
					return err
				}
				if clear {
					fmt.Fprint(e.stdout, "\x1b[H\x1b[2J") // home, erase screen
				}
				fmt.Fprint(e.stdout, b.String())
				if *once {
					return nil
				}
				select {
				case <-ctx.Done():
					return nil
				case <-t.C:
				}
			}
		}
	})
}

// printTop writes one screen: every route, and for each of its versions
// the fleet's request rate, error rate and p99 over the window.
func printTop(ctx context.Context, out io.Writer, c *client.Client, window time.Duration) error {
	routes, rev, err := c.ListRoutes(ctx)
	if err != nil {
		return err
	}
	traffic, err := c.Traffic(ctx, window)
	if err != nil {
		return err
	}
	workers, err := c.Workers(ctx)
	if err != nil {
		return err
	}
	byRoute := make(map[string][]*registryv1.VersionTraffic)
	for _, v := range traffic {
		k := v.Host + v.PathPrefix
		byRoute[k] = append(byRoute[k], v)
	}
	fmt.Fprintf(out, "nanoedge top  %s  revision %d  %d workers  window %s\n\n", time.Now().Format(time.TimeOnly), rev, len(workers), window)
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tVERSION\tREQ/S\tERRORS\tP99\tTRAPS\tTIMEOUTS\tOUT/S\tOUT FAILED\tWORKERS")
	for _, r := range routes {
		name := r.Host + r.PathPrefix
		if r.Host == "" {
			name = "*" + r.PathPrefix
		}
		vs := byRoute[r.Host+r.PathPrefix]
		if len(vs) == 0 {
			fmt.Fprintf(tw, "%s\t%s@%s\t0.0\t-\t-\t0\t0\t0.0\t0\t0\n", name, r.ModuleName, strings.TrimPrefix(shortDigest(r.ModuleDigest), "sha256:"))
			continue
		}
		for _, v := range vs {
			fmt.Fprintf(tw, "%s\t%s@%s\t%.1f\t%.2f%%\t%s\t%d\t%d\t%.1f\t%d\t%d\n", name, dash(v.ModuleName), strings.TrimPrefix(shortDigest(v.ModuleDigest), "sha256:"),
				v.RequestsPerSecond, 100*v.ErrorRate, p99String(v.P99Ms), v.Traps, v.Timeouts, v.OutboundPerSecond, v.OutboundFailures, v.Workers)
		}
	}
	return tw.Flush()
}

func p99String(ms int64) string {
	if ms < 0 {
		return "slow"
	}
	return fmt.Sprintf("<=%dms", ms)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
