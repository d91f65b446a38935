//go:build wasmer

package wasmerengine

import (
	"github.com/wasmerio/wasmer-go/wasmer"

	"github.com/nanoedge/nanoedge/dataplane/engine/internal/wasishim"
)

// wasi is one instance's WASI: the project's shim (wasishim) on the
// instance's memory, instead of wasmer's own.
//
// Host functions never return an error to wasmer-go: 1.0.4 hands the trap
// it makes of one to wasmer and also frees it from a Go finalizer, a
// double free that crashes the process later. A function that must stop
// the guest (proc_exit, a write past the stdout limit) records why and
// raises the interrupt instead; the guest traps at its next call or loop
// iteration, or at the unreachable that follows proc_exit in WASI libcs.
type wasi struct {
	wasishim.System
	memory    *wasmer.Memory
	interrupt *interrupt // nil if the module is not instrumented
	failed    error      // a write that failed, stopping the guest
}

// errnoIO is what a failed write returns to the guest, which is stopped
// through the interrupt flag anyway.
const errnoIO = 29

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

// imports registers the shim and the host functions of abi.ImportModule
// for one instance.
func (w *wasi) imports(store *wasmer.Store) *wasmer.ImportObject {
	imports := wasmer.NewImportObject()
	for _, set := range wasishim.Imports {
		ns := map[string]wasmer.IntoExtern{}
		for i := range set.Funcs {
			f := &set.Funcs[i]
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
				result, err := set.Call(f, &w.System, w.mem(), raw[:len(args)])
				if err != nil {
					if w.Exit == nil {
						w.failed, result = err, errnoIO
					}
					w.interrupt.raise()
				}
				if len(f.Results) == 0 {
					return nil, nil
				}
				return []wasmer.Value{wasmer.NewI32(int32(result))}, nil
			})
		}
		imports.Register(set.Module, ns)
	}
	return imports
}
