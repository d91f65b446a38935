package cli

import (
	"context"
	"fmt"
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
		fmt.Fprintf(e.stdout, "flag %s %s (revision %d)\n", f.Name, onOff(f.Enabled), rev)
	case "delete":
		rev, err := c.DeleteFlag(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "flag %s deleted (revision %d)\n", fs.Arg(0), rev)
	case "list":
		flags, rev, err := c.ListFlags(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "FLAG\tSTATE\tREVISION\tDESCRIPTION\n")
		for _, f := range flags {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", f.Name, onOff(f.Enabled), f.ModRevision, f.Description)
		}
		tw.Flush()
		fmt.Fprintf(e.stdout, "(%d flags at revision %d)\n", len(flags), rev)
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}
