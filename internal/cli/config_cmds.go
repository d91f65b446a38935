package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// Variables and secrets belong to a module name: every route serving a
// module of that name, whatever its version, gives its instances that
// environment. A new version keeps its configuration; a rollout compares
// versions under the same one.

func (e *env) varsCmd() *cobra.Command {
	set := e.leaf("set <module> NAME=value...", "set variables a module's handlers read from their environment", minArgs(2, "the module name and NAME=value pairs"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			vars := map[string]string{}
			for _, kv := range args[1:] {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return usageErr("%q: want NAME=value", kv)
				}
				vars[k] = v
			}
			return e.changeConfig(ctx, cf, args[0], client.ConfigChange{SetVars: vars})
		}
	})
	unset := e.leaf("unset <module> NAME...", "remove variables from a module's environment", minArgs(2, "the module name and variable names"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			return e.changeConfig(ctx, cf, args[0], client.ConfigChange{DeleteVars: args[1:]})
		}
	})
	list := e.leaf("list <module>", "list a module's variables and secrets (secrets by name, version and digest)", exactArgs(1, "the module name"), e.showConfig)
	return group("vars", "set, unset or list the variables handlers read from their environment", set, unset, list)
}

func (e *env) secretsCmd() *cobra.Command {
	set := e.leaf("set <module> <NAME>", "set a secret from standard input or a file; its value is never shown again", exactArgs(2, "the module name and the secret's name"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		from := fs.String("from-file", "", "read the value from this file (default: standard input); never a flag, which process listings show")
		return func(ctx context.Context, args []string) error {
			var value []byte
			var err error
			if *from != "" {
				value, err = os.ReadFile(*from)
			} else {
				if isTerminal(os.Stdin) {
					fmt.Fprintf(e.stderr, "value of %s (end with Ctrl-D): ", args[1])
				}
				value, err = io.ReadAll(io.LimitReader(os.Stdin, 64<<10))
			}
			if err != nil {
				return err
			}
			value = []byte(strings.TrimRight(string(value), "\r\n"))
			if len(value) == 0 {
				return usageErr("the secret's value is empty: pipe it in or pass --from-file")
			}
			return e.changeConfig(ctx, cf, args[0], client.ConfigChange{SetSecrets: map[string][]byte{args[1]: value}})
		}
	})
	del := e.leaf("delete <module> NAME...", "delete secrets", minArgs(2, "the module name and secret names"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			return e.changeConfig(ctx, cf, args[0], client.ConfigChange{DeleteSecrets: args[1:]})
		}
	})
	list := e.leaf("list <module>", "list a module's secrets: names, versions, digests; never values", exactArgs(1, "the module name"), e.showConfig)
	rekey := e.leaf("rekey", "seal every secret again with the control plane's current data key (admin)", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.RekeySecrets(ctx)
			if err != nil {
				return err
			}
			return cf.emit(e, resp, func(w io.Writer) {
				fmt.Fprintf(w, "resealed %d secrets with data key %s (revision %d); older keys are no longer needed\n", resp.Resealed, resp.KeyId, resp.Revision)
			})
		}
	})
	return group("secrets", "set, delete or list the secrets handlers read from their environment", set, del, list, rekey)
}

func (e *env) changeConfig(ctx context.Context, cf clientFlags, module string, ch client.ConfigChange) error {
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	cfg, rev, err := c.SetConfig(ctx, module, ch)
	if err != nil {
		return err
	}
	return cf.emit(e, map[string]any{"config": cfg, "revision": rev}, func(w io.Writer) {
		fmt.Fprintf(w, "configuration of %s changed (revision %d); new instances start with it\n", module, rev)
		printConfig(w, cfg)
	})
}

func (e *env) showConfig(fs *flag.FlagSet) runFunc {
	cf := addClientFlags(fs)
	return func(ctx context.Context, args []string) error {
		c, err := cf.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		cfg, err := c.GetConfig(ctx, args[0])
		if err != nil {
			return err
		}
		return cf.emit(e, map[string]any{"config": cfg}, func(w io.Writer) { printConfig(w, cfg) })
	}
}

func printConfig(w io.Writer, cfg *registryv1.Config) {
	if cfg == nil {
		fmt.Fprintln(w, "(no variables or secrets)")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tKIND\tVALUE\tREVISION")
	names := make([]string, 0, len(cfg.Vars))
	for k := range cfg.Vars {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(tw, "%s\tvar\t%s\t-\n", k, cfg.Vars[k])
	}
	names = names[:0]
	for k := range cfg.Secrets {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s := cfg.Secrets[k]
		fmt.Fprintf(tw, "%s\tsecret\t(version %d, digest %s)\t%d\n", k, s.Version, s.Digest, s.ModRevision)
	}
	tw.Flush()
	if len(cfg.Stores) > 0 {
		fmt.Fprintf(w, "stores it reads: %s\n", strings.Join(cfg.Stores, ", "))
	}
	fmt.Fprintf(w, "(configuration revision %d)\n", cfg.ModRevision)
}

// minArgs wants at least n positional arguments, named in what.
func minArgs(n int, what string) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return usageErr("missing %s", what)
		}
		return nil
	}
}
