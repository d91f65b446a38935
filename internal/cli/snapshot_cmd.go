package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// runSnapshot is "cluster snapshot save|restore|inspect FILE": online
// backups of the registry.
func runSnapshot(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "Usage: nanoedge cluster snapshot save|restore|inspect FILE [flags]")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := e.flags("cluster snapshot "+sub, "FILE [flags]")
	var cf clientFlags
	var yes *bool
	switch sub {
	case "save":
		cf = addClientFlags(fs)
	case "restore":
		cf = addClientFlags(fs)
		yes = fs.Bool("yes", false, "replace the cluster's state, tokens included, with the file's (required)")
	case "inspect":
		cf = clientFlags{output: fs.String("output", "text", "text for people, json for scripts")}
	default:
		fmt.Fprintf(e.stderr, "nanoedge cluster snapshot: unknown subcommand %q; want save, restore or inspect\n", sub)
		return errUsage
	}
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: name the snapshot file", errUsage)
	}
	path := fs.Arg(0)
	var info *registryv1.SnapshotInfo
	var err error
	switch sub {
	case "save":
		info, err = saveSnapshot(ctx, cf, path)
	case "restore":
		if !*yes {
			return fmt.Errorf("%w: a restore replaces every module, route, key and token of the cluster with the file's; add --yes to go ahead", errUsage)
		}
		info, err = restoreSnapshot(ctx, cf, path)
	case "inspect":
		var ri registry.SnapshotInfo
		if ri, err = registry.InspectSnapshot(path); err == nil {
			info = &registryv1.SnapshotInfo{Revision: ri.Revision, Size: ri.Size, Sha256: ri.SHA256, Modules: int32(ri.Modules),
				Routes: int32(ri.Routes), Keys: int32(ri.Keys), Tokens: int32(ri.Tokens), Flags: int32(ri.Flags)}
		}
	}
	if err != nil {
		return err
	}
	return cf.emit(e, info, func(w io.Writer) {
		verb := map[string]string{"save": "saved", "restore": "restored", "inspect": "checked"}[sub]
		fmt.Fprintf(w, "%s %s: revision %d, %d bytes, sha256 %s\n", verb, path, info.Revision, info.Size, info.Sha256)
		fmt.Fprintf(w, "%d modules, %d routes, %d keys, %d tokens, %d flags\n", info.Modules, info.Routes, info.Keys, info.Tokens, info.Flags)
		if info.NodeId != "" {
			fmt.Fprintf(w, "(the state of node %s)\n", info.NodeId)
		}
	})
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
