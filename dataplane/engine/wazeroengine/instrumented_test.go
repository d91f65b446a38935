package wazeroengine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/nanoedge/nanoedge/dataplane/engine/internal/rewrite"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
)

// TestInstrumentedCache: a module instrumented once is read back from the
// cache, byte for byte what the instrumenter makes; a damaged or
// truncated file is instrumented again and replaced.
func TestInstrumentedCache(t *testing.T) {
	wasm := guests.Build(t, guests.Hello)
	want, err := rewrite.Instrument(wasm)
	if err != nil {
		t.Fatal(err)
	}
	c := newInstrumentedCache(t.TempDir())
	file := func() string {
		t.Helper()
		files, _ := filepath.Glob(filepath.Join(c.dir, "*.wasm"))
		if len(files) != 1 {
			t.Fatalf("exp one cached file, got %v", files)
		}
		return files[0]
	}
	for _, damage := range []struct {
		name string
		do   func(b []byte) []byte
	}{
		{"none", func(b []byte) []byte { return b }},
		{"a byte changed", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }},
		{"cut short", func(b []byte) []byte { return b[:len(b)/3] }},
		{"empty", func(b []byte) []byte { return nil }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			if _, err := c.instrument(wasm); err != nil { // fills the cache
				t.Fatal(err)
			}
			b, err := os.ReadFile(file())
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(file(), damage.do(b), 0o600)
			got, err := c.instrument(wasm)
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("exp the instrumented module, got %d bytes, %v", len(got), err)
			}
			if b, _ := os.ReadFile(file()); !bytes.Equal(b[:len(b)-32], want) {
				t.Fatal("exp the cache file whole again")
			}
		})
	}
	// A whole file is what the cache answers: it was read, not redone.
	marked := append(append([]byte(nil), want...), 0, 2, 1, 'x')
	sum := sha256.Sum256(marked)
	os.WriteFile(file(), append(marked, sum[:]...), 0o600)
	if got, err := c.instrument(wasm); err != nil || !bytes.Equal(got, marked) {
		t.Fatalf("exp the cached file's module, got %d bytes, %v", len(got), err)
	}
	os.Remove(file())

	// The engine compiles from it.
	e, err := New(context.Background(), Config{MemoryLimit: 64 << 20, CacheDir: filepath.Dir(c.dir)})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(context.Background())
	if _, err := e.Compile(context.Background(), wasm); err != nil {
		t.Fatal(err)
	}
}
