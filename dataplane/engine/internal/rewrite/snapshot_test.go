package rewrite

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/nanoedge/nanoedge/dataplane/engine/internal/wasishim"
	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// TestSnapshotSkipsInitialization: a Go handler initialized once and
// snapshotted serves requests from fresh instances that never run
// _initialize.
func TestSnapshotSkipsInitialization(t *testing.T) {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(guests.CacheDir())
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
	defer rt.Close(ctx)
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	instantiateNoEdge(t, rt)

	exported, names, err := ExportGlobals(guests.Build(t, guests.Echo))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := rt.InstantiateWithConfig(ctx, exported, wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize"))
	if err != nil {
		t.Fatal(err)
	}
	var values []uint64
	for _, n := range names {
		values = append(values, tmpl.ExportedGlobal(n).Get())
	}
	mem, _ := tmpl.Memory().Read(0, tmpl.Memory().Size())
	snap, err := Snapshot(exported, values, append([]byte(nil), mem...))
	tmpl.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cm, err := rt.CompileModule(ctx, snap)
	if err != nil {
		t.Fatalf("snapshot does not compile: %v", err)
	}
	for i := 0; i < 3; i++ {
		mod, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		req := abi.AppendRequest(nil, &abi.Request{Method: "POST", URI: "/snap?i=1", Host: "h", Header: http.Header{"X-A": {"b"}}, Body: []byte("body")})
		res, err := mod.ExportedFunction(abi.ExportAlloc).Call(ctx, uint64(len(req)))
		if err != nil {
			t.Fatal(err)
		}
		mod.Memory().Write(uint32(res[0]), req)
		res, err = mod.ExportedFunction(abi.ExportHandle).Call(ctx, res[0], uint64(len(req)))
		if err != nil {
			t.Fatalf("handle on a snapshot instance: %v", err)
		}
		out, _ := mod.Memory().Read(uint32(res[0]>>32), uint32(res[0]))
		resp, err := abi.DecodeResponse(out)
		if err != nil || resp.Status != 200 || string(resp.Body) != "body" || resp.Header.Get("X-Echo-H-X-A") != "b" || !strings.Contains(resp.Header.Get("X-Echo-Uri"), "/snap") {
			t.Fatalf("snapshot instance answered %v %v", resp, err)
		}
		mod.Close(ctx)
	}
}

// instantiateNoEdge gives rt the imports of abi.ImportModule, answering
// that no flag or store exists.
func instantiateNoEdge(t *testing.T, rt wazero.Runtime) {
	t.Helper()
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	for _, f := range wasishim.Host { // each answers abi.Unsupported
		types := func(ks []wasishim.Kind) []api.ValueType {
			out := make([]api.ValueType, len(ks))
			for i, k := range ks {
				out[i] = api.ValueTypeI32
				if k == wasishim.I64 {
					out[i] = api.ValueTypeI64
				}
			}
			return out
		}
		b.NewFunctionBuilder().WithGoFunction(api.GoFunc(func(_ context.Context, stack []uint64) {
			unsupported := int32(abi.Unsupported)
			stack[0] = uint64(uint32(unsupported))
		}), types(f.Params), types(f.Results)).Export(f.Name)
	}
	if _, err := b.Instantiate(context.Background()); err != nil {
		t.Fatal(err)
	}
}
