package systemtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestHandlersInOtherLanguages: the guides' handlers, written against
// docs/abi.md alone in C and in the WebAssembly text format, build with
// their own toolchains, pass upload validation and answer through a worker.
func TestHandlersInOtherLanguages(t *testing.T) {
	env := startEnv(t)
	w := testenv.StartWorker(t, env.WorkerConfig())
	dir := t.TempDir()
	for _, c := range []struct {
		name  string
		build []string
		want  string
	}{
		{"c-abi", []string{"clang", "--target=wasm32-wasi", "-O2", "-mexec-model=reactor", "-o", "{out}", "examples/c-abi/handler.c"}, "Hello from C! GET /c-abi/x?y=1\n"},
		{"wat", []string{"wat2wasm", "examples/wat/handler.wat", "-o", "{out}"}, "Hello from WAT\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(dir, c.name+".wasm")
			args := make([]string, len(c.build))
			for i, a := range c.build {
				args[i] = strings.ReplaceAll(a, "{out}", out)
			}
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Dir = guests.Root()
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s\n(make test-deps installs clang, wasi-libc and wabt)", args, err, b)
			}
			wasm, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := env.Publisher.Upload(ctxT(t), c.name, wasm, client.WithSigner(env.Key)); err != nil {
				t.Fatalf("upload: %v", err)
			}
			if _, _, err := env.Publisher.SetRoute(ctxT(t), client.Route{PathPrefix: "/" + c.name + "/", Module: c.name}); err != nil {
				t.Fatal(err)
			}
			r := waitServed(t, w.URL()+"/"+c.name+"/x?y=1", func(r response) bool { return r.status == 200 })
			if r.body != c.want || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
				t.Fatalf("answer %q, %v; want %q", r.body, r.header, c.want)
			}
		})
	}
}
