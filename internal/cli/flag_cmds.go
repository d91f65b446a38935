package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (e *env) flagsCmd() *cobra.Command {
	set := e.leaf("set <name> on|off", "turn a feature flag on or off (creating it)", exactArgs(2, "the flag's name and its state, on or off"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		desc := fs.String("description", "", "what the flag switches")
		return func(ctx context.Context, args []string) error {
			var on bool
			switch args[1] {
			case "on", "true":
				on = true
			case "off", "false":
			default:
				return usageErr("flag state %q: want on or off", args[1])
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			f, rev, err := c.SetFlag(ctx, args[0], on, *desc)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"flag": f, "revision": rev}, func(w io.Writer) {
				fmt.Fprintf(w, "flag %s %s (revision %d)\n", f.Name, onOff(f.Enabled), rev)
			})
		}
	})
	del := e.leaf("delete <name>", "delete a feature flag no route rule follows", exactArgs(1, "the flag's name"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			rev, err := c.DeleteFlag(ctx, args[0])
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"revision": rev}, func(w io.Writer) {
				fmt.Fprintf(w, "flag %s deleted (revision %d)\n", args[0], rev)
			})
		}
	})
	list := func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			flags, rev, err := c.ListFlags(ctx)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"flags": flags, "revision": rev}, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintf(tw, "FLAG\tSTATE\tREVISION\tDESCRIPTION\n")
				for _, f := range flags {
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", f.Name, onOff(f.Enabled), f.ModRevision, f.Description)
				}
				tw.Flush()
				fmt.Fprintf(w, "(%d flags at revision %d)\n", len(flags), rev)
			})
		}
	}
	cmd := e.leaf("flags", "set, list or delete feature flags that route rules follow (no subcommand: list)", noSubcommand, list)
	cmd.AddCommand(set, del, e.leaf("list", "list feature flags", noArgs, list))
	return cmd
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
