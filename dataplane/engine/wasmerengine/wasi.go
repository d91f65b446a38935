//go:build wasmer

package wasmerengine

import (
	"github.com/wasmerio/wasmer-go/wasmer"

	"github.com/nanoedge/nanoedge/dataplane/engine/wasishim"
)

// wasi is one instance's WASI: the project's shim (wasishim) on the
// instance's memory, instead of wasmer's own.
type wasi struct {
	wasishim.System
	memory *wasmer.Memory
}

func (w *wasi) mem() []byte { return w.memory.Data() }

func kinds(ks []wasishim.Kind) []*wasmer.ValueType {
	out := make([]wasmer.ValueKind, len(ks))
	for i, k := range ks {
		out[i] = wasmer.I32
		if k == wasishim.I64 {
			out[i] = wasmer.I64
		}
	}
	return wasmer.NewValueTypes(out...)
}

// imports registers the shim for one instance.
func (w *wasi) imports(store *wasmer.Store) *wasmer.ImportObject {
	ns := map[string]wasmer.IntoExtern{}
	for i := range wasishim.Funcs {
		f := &wasishim.Funcs[i]
		ty := wasmer.NewFunctionType(kinds(f.Params), kinds(f.Results))
		ns[f.Name] = wasmer.NewFunctionWithEnvironment(store, ty, w, func(env any, args []wasmer.Value) ([]wasmer.Value, error) {
			w := env.(*wasi)
			var raw [16]uint64
			for i, a := range args {
				if a.Kind() == wasmer.I64 {
					raw[i] = uint64(a.I64())
				} else {
					raw[i] = uint64(uint32(a.I32()))
				}
			}
			errno, err := f.Call(&w.System, w.mem(), raw[:len(args)])
			if err != nil || len(f.Results) == 0 {
				return nil, err // proc_exit, or a failed write: the guest traps
			}
			return []wasmer.Value{wasmer.NewI32(int32(errno))}, nil
		})
	}
	imports := wasmer.NewImportObject()
	imports.Register(wasishim.ModuleName, ns)
	return imports
}
