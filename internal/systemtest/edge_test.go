package systemtest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestFlagsInHandlers: a handler reads feature flags (guest.LookupFlag)
// as of the revision its worker serves, so a flip changes behaviour
// inside a module on every worker, not only which module runs.
func TestFlagsInHandlers(t *testing.T) {
	env := startEnv(t)
	workers := []string{testenv.StartWorker(t, env.WorkerConfig()).URL()}
	wcfg := env.WorkerConfig()
	wcfg.Engine.PreInitialize = true
	workers = append(workers, testenv.StartWorker(t, wcfg).URL())
	env.Upload(t, "echo", guests.Echo)
	ctx := ctxT(t)
	if _, _, err := env.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/e/", Module: "echo"}); err != nil {
		t.Fatal(err)
	}
	want := func(state string) {
		t.Helper()
		for _, w := range workers {
			poll.Eventually(t, 30*time.Second, func() error {
				if got := get(t, w+"/e/x?flag=new-checkout").header.Get("X-Echo-Flag-new-checkout"); got != state {
					return fmt.Errorf("%s: flag reads %q, want %q", w, got, state)
				}
				return nil
			})
		}
	}
	want("-")
	for _, on := range []bool{true, false, true} {
		if _, _, err := env.Admin.SetFlag(ctx, "new-checkout", on, ""); err != nil {
			t.Fatal(err)
		}
		want(map[bool]string{true: "on", false: "off"}[on])
	}
	if _, err := env.Admin.DeleteFlag(ctx, "new-checkout"); err != nil {
		t.Fatal(err)
	}
	want("-")
}

// TestHostImportsAreChecked: a module may import the functions of the
// nanoedge host module only by their documented names and signatures;
// anything else is refused at upload with a clear error, nothing stored.
func TestHostImportsAreChecked(t *testing.T) {
	env := startEnv(t)
	ctx := ctxT(t)
	i32 := byte(0x7f)
	tests := []struct {
		name, field     string
		params, results []byte
		mention         string
	}{
		{"unknown function", "flag_set", []byte{i32, i32}, []byte{i32}, "imports nanoedge.flag_set"},
		{"wrong signature", "flag_get", []byte{i32}, []byte{i32}, "imports nanoedge.flag_get"},
		{"wrong result", "kv_get", []byte{i32, i32, i32, i32, i32, i32}, []byte{0x7e}, "imports nanoedge.kv_get"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := env.Publisher.Upload(ctx, "hostile", importing("nanoedge", tt.field, tt.params, tt.results), client.WithSigner(env.Key))
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("exp InvalidArgument mentioning %q, got %v", tt.mention, err)
			}
		})
	}
	if mods, _, err := env.Admin.ListModules(ctx); err != nil || len(mods) != 0 {
		t.Fatalf("exp nothing stored, got %v, %v", mods, err)
	}
}

// importing is a Wasm module that imports one function and does nothing.
func importing(module, field string, params, results []byte) []byte {
	section := func(id byte, body []byte) []byte { return append([]byte{id, byte(len(body))}, body...) }
	name := func(s string) []byte { return append([]byte{byte(len(s))}, s...) }
	typ := append([]byte{1, 0x60, byte(len(params))}, params...)
	typ = append(append(typ, byte(len(results))), results...)
	imp := append(append([]byte{1}, name(module)...), name(field)...)
	imp = append(imp, 0, 0)
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	return append(append(out, section(1, typ)...), section(2, imp)...)
}
