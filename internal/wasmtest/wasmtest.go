package wasmtest

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/internal/wasmbuild"
)

// Paths of the modules tests use, relative to the repository root.
const (
	Hello     = "examples/hello"
	Echo      = "internal/testguests/echo"
	Misbehave = "internal/testguests/misbehave"
	Flaky     = "internal/testguests/flaky"
	Page      = "internal/testguests/page"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// Root returns the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build returns the module built from the package at rel (relative to the
// repository root), building it on first use.
func Build(tb testing.TB, rel string) []byte {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[rel]; ok {
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b, err := wasmbuild.Build(ctx, filepath.Join(Root(), rel))
	if err != nil {
		tb.Fatalf("build %s: %v", rel, err)
	}
	built[rel] = b
	return b
}

// CacheDir is a compilation cache shared by every test binary on the
// machine. Compiling a Go module under the race detector takes tens of
// seconds; the cache pays that once per module and wazero version. Entries
// are written atomically, so concurrent test binaries may share it.
func CacheDir() string {
	return filepath.Join(os.TempDir(), "nanoedge-test-wazero-cache")
}
