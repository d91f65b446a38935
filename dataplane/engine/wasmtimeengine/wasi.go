//go:build wasmtime

package wasmtimeengine

import (
	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/nanoedge/nanoedge/dataplane/engine/internal/wasishim"
)

// host is a store's data: the instance's WASI world and its memory.
type host struct {
	sys    *wasishim.System
	memory *wasmtime.Memory
}

func valTypes(ks []wasishim.Kind) []*wasmtime.ValType {
	out := make([]*wasmtime.ValType, len(ks))
	for i, k := range ks {
		out[i] = wasmtime.NewValType(wasmtime.KindI32)
		if k == wasishim.I64 {
			out[i] = wasmtime.NewValType(wasmtime.KindI64)
		}
	}
	return out
}

// defineWASI puts the shim and the host functions of abi.ImportModule in
// l, for instances of every store.
func defineWASI(l *wasmtime.Linker) error {
	for _, set := range wasishim.Imports {
		for i := range set.Funcs {
			f := &set.Funcs[i]
			ty := wasmtime.NewFuncType(valTypes(f.Params), valTypes(f.Results))
			err := l.FuncNew(set.Module, f.Name, ty, func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
				h := c.Data().(*host)
				var raw [16]uint64
				for i, a := range args {
					if a.Kind() == wasmtime.KindI64 {
						raw[i] = uint64(a.I64())
					} else {
						raw[i] = uint64(uint32(a.I32()))
					}
				}
				var mem []byte
				if h.memory != nil {
					mem = h.memory.UnsafeData(c)
				} else if ext := c.GetExport(exportMemory); ext != nil && ext.Memory() != nil {
					mem = ext.Memory().UnsafeData(c)
				}
				result, err := set.Call(f, h.sys, mem, raw[:len(args)])
				if err != nil {
					return nil, wasmtime.NewTrap(err.Error()) // proc_exit, a failed write, a bad pointer
				}
				if len(f.Results) == 0 {
					return nil, nil
				}
				return []wasmtime.Val{wasmtime.ValI32(int32(result))}, nil
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}
