package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// snapshotCmd is "cluster snapshot save|restore|inspect FILE": online
// backups of the registry.
func (e *env) snapshotCmd() *cobra.Command {
	show := func(verb, path string, info *registryv1.SnapshotInfo) func(io.Writer) {
		return func(w io.Writer) {
			fmt.Fprintf(w, "%s %s: revision %d, %d bytes, sha256 %s\n", verb, path, info.Revision, info.Size, info.Sha256)
			fmt.Fprintf(w, "%d modules, %d routes, %d keys, %d tokens, %d flags\n", info.Modules, info.Routes, info.Keys, info.Tokens, info.Flags)
			if info.NodeId != "" {
				fmt.Fprintf(w, "(the state of node %s)\n", info.NodeId)
			}
		}
	}
	file := exactArgs(1, "the snapshot file")
	save := e.leaf("save <file>", "write a backup of the called node's state to a file (admin)", file, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			info, err := saveSnapshot(ctx, cf, args[0])
			if err != nil {
				return err
			}
			return cf.emit(e, info, show("saved", args[0], info))
		}
	})
	restore := e.leaf("restore <file>", "replace the whole cluster's state, tokens included, with a backup (admin)", file, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		yes := fs.Bool("yes", false, "replace the cluster's state, tokens included, with the file's (required)")
		return func(ctx context.Context, args []string) error {
			if !*yes {
				return usageErr("a restore replaces every module, route, key and token of the cluster with the file's; add --yes to go ahead")
			}
			info, err := restoreSnapshot(ctx, cf, args[0])
			if err != nil {
				return err
			}
			return cf.emit(e, info, show("restored", args[0], info))
		}
	})
	inspect := e.leaf("inspect <file>", "check a backup file offline and say what it holds", file, func(fs *flag.FlagSet) runFunc {
		output := addOutputFlag(fs)
		return func(ctx context.Context, args []string) error {
			ri, err := registry.InspectSnapshot(args[0])
			if err != nil {
				return err
			}
			info := &registryv1.SnapshotInfo{Revision: ri.Revision, Size: ri.Size, Sha256: ri.SHA256, Modules: int32(ri.Modules),
				Routes: int32(ri.Routes), Keys: int32(ri.Keys), Tokens: int32(ri.Tokens), Flags: int32(ri.Flags)}
			return emit(e.stdout, *output, info, show("checked", args[0], info))
		}
	})
	return group("snapshot", "save, restore or inspect online backups of the registry", save, restore, inspect)
}

// saveSnapshot writes the backup beside path and renames it into place
// once its sum checks: an interrupted save never leaves a partial file
// under the name asked for.
func saveSnapshot(ctx context.Context, cf clientFlags, path string) (*registryv1.SnapshotInfo, error) {
	c, err := cf.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".part-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	info, err := c.SaveSnapshot(ctx, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	return info, err
}

func restoreSnapshot(ctx context.Context, cf clientFlags, path string) (*registryv1.SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// Check it here first: a damaged file is refused without a transfer.
	if _, err := registry.InspectSnapshot(path); err != nil {
		return nil, err
	}
	c, err := cf.dial()
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.RestoreSnapshot(ctx, f)
}
