package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
)

func runFlags(ctx context.Context, e *env, args []string) error {
	sub := "list"
	if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
		sub, args = args[0], args[1:]
	}
	usage := map[string]string{
		"set":    "set NAME on|off [--description TEXT] [flags]",
		"delete": "delete NAME [flags]",
		"list":   "list [flags]",
	}[sub]
	if usage == "" {
		fmt.Fprintf(e.stderr, "nanoedge flags: unknown subcommand %q; want set, delete or list\n", sub)
		return errUsage
	}
	fs := e.flags("flags", usage)
	cf := addClientFlags(fs)
	desc := fs.String("description", "", "with set: what the flag switches")
	want := map[string]int{"set": 2, "delete": 1, "list": 0}[sub]
	if err := parse(fs, args, want); err != nil {
		return err
	}
	if fs.NArg() != want {
		fs.Usage()
		return errUsage
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	switch sub {
	case "set":
		var on bool
		switch fs.Arg(1) {
		case "on", "true":
			on = true
		case "off", "false":
		default:
			return fmt.Errorf("%w: flag state %q: want on or off", errUsage, fs.Arg(1))
		}
		f, rev, err := c.SetFlag(ctx, fs.Arg(0), on, *desc)
		if err != nil {
			return err
		}
		return cf.emit(e, map[string]any{"flag": f, "revision": rev}, func(w io.Writer) {
			fmt.Fprintf(w, "flag %s %s (revision %d)\n", f.Name, onOff(f.Enabled), rev)
		})
	case "delete":
		rev, err := c.DeleteFlag(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		return cf.emit(e, map[string]any{"revision": rev}, func(w io.Writer) {
			fmt.Fprintf(w, "flag %s deleted (revision %d)\n", fs.Arg(0), rev)
		})
	case "list":
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
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
