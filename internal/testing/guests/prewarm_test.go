package guests_test

import (
	"context"
	"flag"
	"path/filepath"
	"testing"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine/wazeroengine"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
)

var prewarm = flag.Bool("prewarm", false, "fill the shared compilation cache (make unit runs it first, without the race detector)")

// TestPrewarm fills the compilation cache the tests share (CacheDir) with
// wazero's code for every Go test guest, plain and pre-initialized. Run
// without the race detector, under which wazero's compiler takes a minute
// or more per module, it spares a fresh machine that cost in each test
// package that compiles a module first. It runs as a test so that it
// shares the test binaries' cache directory (wazero names it by its
// version, which test binaries do not carry). Tests do not depend on it:
// they compile what is missing.
func TestPrewarm(t *testing.T) {
	if !*prewarm {
		t.Skip("run with -args -prewarm")
	}
	ctx := context.Background()
	start := time.Now()
	for _, guest := range []string{guests.Hello, guests.Echo, guests.Misbehave, guests.Flaky, guests.Page, guests.Caller} {
		wasm := guests.Build(t, guest)
		for _, pre := range []bool{false, true} {
			cfg := wazeroengine.DefaultConfig()
			cfg.CacheDir, cfg.PreInitialize = guests.CacheDir(), pre
			e, err := wazeroengine.New(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			m, err := e.Compile(ctx, wasm)
			if err != nil {
				t.Fatalf("%s: %v", guest, err)
			}
			m.Close(ctx)
			e.Close(ctx)
		}
	}
	entries, _ := filepath.Glob(filepath.Join(guests.CacheDir(), "*", "*"))
	if len(entries) == 0 {
		t.Fatalf("nothing cached in %s", guests.CacheDir())
	}
	t.Logf("compiled into %s (%d entries) in %v", guests.CacheDir(), len(entries), time.Since(start).Round(time.Millisecond))
}
