package guests

import (
	"context"
	"os"
	"os/exec"
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
	Echo      = "internal/testing/guests/echo"
	Misbehave = "internal/testing/guests/misbehave"
	Flaky     = "internal/testing/guests/flaky"
	Page      = "internal/testing/guests/page"
	Caller    = "internal/testing/guests/caller"
	// CEcho is a C source, built by BuildC.
	CEcho = "internal/testing/guests/cgi/echo.c"
	// BadABI is a C source, built by BuildC.
	BadABI = "internal/testing/guests/badabi/badabi.c"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// Root returns the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
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

// BuildC compiles the C file at rel (relative to the repository root) into
// a WASI command with clang and wasi-libc, on first use. It fails the test
// when clang cannot target wasm32-wasi: `make test-deps` installs what it
// needs (Debian's clang, lld, wasi-libc and libclang-rt-dev-wasm32).
func BuildC(tb testing.TB, rel string) []byte {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[rel]; ok {
		return b
	}
	out := filepath.Join(tb.TempDir(), "module.wasm")
	cmd := exec.Command("clang", "--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-o", out, filepath.Join(Root(), rel))
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("clang %s: %v\n%s\n(`make test-deps` installs clang, lld, wasi-libc and libclang-rt-dev-wasm32)", rel, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	built[rel] = b
	return b
}
