package wasmbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrBuild reports that the Go toolchain could not build the package.
var ErrBuild = errors.New("wasmbuild: build failed")

// Build compiles the Go package in dir for GOOS=wasip1 GOARCH=wasm as a
// reactor (-buildmode=c-shared) and returns the module's bytes.
func Build(ctx context.Context, dir string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "nanoedge-build-")
	if err != nil {
		return nil, fmt.Errorf("wasmbuild: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "module.wasm")
	cmd := exec.CommandContext(ctx, GoTool(), "build", "-buildmode=c-shared", "-trimpath", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%w: %s: %v\n%s", ErrBuild, dir, err, strings.TrimSpace(stderr.String()))
	}
	return os.ReadFile(out)
}

// IsGoPackage reports whether path is a directory holding Go files.
func IsGoPackage(path string) bool {
	matches, _ := filepath.Glob(filepath.Join(path, "*.go"))
	return len(matches) > 0
}

// GoTool is the go command to run: $GOROOT/bin/go if there is one, else
// the one on PATH.
func GoTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
