package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nanoedge/nanoedge/internal/wasmbuild"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// watchPoll is how often dev --watch looks for saved files.
const watchPoll = 200 * time.Millisecond

// watchLoop serves the handler in dir, built and routed again on every
// save, until ctx ends: a Go package is pushed and routed on /<name>/; a
// directory with a nanoedge.yaml is applied (its routes and flags, the
// modules they build). It says on stdout what it serves, and each build
// error.
func (e *env) watchLoop(ctx context.Context, cpAddr, workerURL string, creds *devCreds, dir string) error {
	config := filepath.Join(dir, "nanoedge.yaml")
	_, err := os.Stat(config)
	useConfig := err == nil
	if !useConfig && !wasmbuild.IsGoPackage(dir) {
		return usageErr("--watch %s: want a Go package directory or a directory with a nanoedge.yaml", dir)
	}
	c, err := client.New(cpAddr, client.WithToken(creds.adminToken))
	if err != nil {
		return err
	}
	defer c.Close()
	output, timeout := "text", 30*time.Second
	cf := clientFlags{output: &output, timeout: &timeout}
	deploy := func() {
		start := time.Now()
		var msg string
		var err error
		if useConfig {
			msg, err = e.watchApply(ctx, c, cf, creds, config, workerURL)
		} else {
			msg, err = watchPush(ctx, c, creds, dir, workerURL)
		}
		if err != nil {
			fmt.Fprintf(e.stdout, "[%s] %v\n", time.Now().Format(time.TimeOnly), err)
			return
		}
		fmt.Fprintf(e.stdout, "[%s] %s (%d ms)\n", time.Now().Format(time.TimeOnly), msg, time.Since(start).Milliseconds())
	}
	seen := snapshotTree(dir)
	deploy()
	fmt.Fprintf(e.stdout, "watching %s; save a file to redeploy, Ctrl-C to stop\n", dir)
	t := time.NewTicker(watchPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now := snapshotTree(dir)
		if now == seen {
			continue
		}
		// Let an editor finish writing: wait until the tree holds still.
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(watchPoll):
			}
			again := snapshotTree(dir)
			if again == now {
				break
			}
			now = again
		}
		seen = now
		deploy()
	}
}

// snapshotTree sums the names, sizes and modification times of dir's
// files, leaving out hidden directories and build output.
func snapshotTree(dir string) string {
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		if info, err := d.Info(); err == nil {
			fmt.Fprintf(&b, "%s %d %d\n", p, info.Size(), info.ModTime().UnixNano())
		}
		return nil
	})
	return b.String()
}

// watchPush builds the Go package in dir and routes it on /<name>/.
func watchPush(ctx context.Context, c *client.Client, creds *devCreds, dir, workerURL string) (string, error) {
	wasm, err := wasmbuild.Build(ctx, dir)
	if err != nil {
		return "", buildFailed(err)
	}
	name := defaultName(dir)
	res, err := c.Upload(ctx, name, wasm, client.WithSigner(creds.key))
	if err != nil {
		return "", err
	}
	path := "/" + name + "/"
	if _, _, err := c.SetRoute(ctx, client.Route{PathPrefix: path, Module: res.Module.Name + "@" + res.Module.Digest}); err != nil {
		return "", err
	}
	return fmt.Sprintf("serving %s@%s at %s%s", name, shortDigest(res.Module.Digest), workerURL, path), nil
}

// watchApply applies the nanoedge.yaml in the watched directory.
func (e *env) watchApply(ctx context.Context, c *client.Client, cf clientFlags, creds *devCreds, config, workerURL string) (string, error) {
	cfg, err := readEdgeConfig(config)
	if err != nil {
		return "", errors.New(strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
	}
	p := &planner{c: c, e: e, cf: cf, keyFile: creds.keyFile, apply: true}
	changes, err := p.plan(ctx, cfg, false)
	if errors.Is(err, wasmbuild.ErrBuild) {
		return "", buildFailed(err)
	}
	if err != nil {
		return "", err
	}
	for _, ch := range changes {
		if _, err := ch.do(ctx); err != nil {
			return "", fmt.Errorf("%s %s %s: %w", ch.Action, ch.Kind, ch.Name, err)
		}
	}
	var serving []string
	for _, r := range cfg.Routes {
		what := routeTarget(&registryv1.Route{ModuleName: r.Module, ModuleDigest: p.digests[r.Module]})
		if len(r.Versions) > 0 {
			what = "a split"
		}
		serving = append(serving, fmt.Sprintf("serving %s at %s%s", what, workerURL, r.Path))
	}
	return fmt.Sprintf("applied %d changes; %s", len(changes), strings.Join(serving, "; ")), nil
}

// buildFailed says a build failed, and what the compiler said.
func buildFailed(err error) error {
	msg := err.Error()
	if i := strings.Index(msg, wasmbuild.ErrBuild.Error()+": "); i >= 0 {
		msg = msg[i+len(wasmbuild.ErrBuild.Error())+2:]
	}
	return fmt.Errorf("build failed, still serving the last good build:\n%s", msg)
}
