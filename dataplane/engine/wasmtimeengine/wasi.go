//go:build wasmtime

package wasmtimeengine

import (
	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/nanoedge/nanoedge/dataplane/engine/internal/wasishim"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// host is a store's data: the instance's WASI world and its memory.
type host struct {
	sys    *wasishim.System
	memory *wasmtime.Memory
}

// importNames are what a module may import, by module then name.
var importNames = map[string]map[string]bool{wasishim.ModuleName: {}, abi.ImportModule: {}}

func init() {
	for _, f := range wasishim.Funcs {
		importNames[wasishim.ModuleName][f.Name] = true
	}
	for _, f := range wasishim.Host {
		importNames[abi.ImportModule][f.Name] = true
	}
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
	for _, set := range []struct {
		module string
		funcs  []wasishim.Func
		host   bool
	}{{wasishim.ModuleName, wasishim.Funcs, false}, {abi.ImportModule, wasishim.Host, true}} {
		for i := range set.funcs {
			f, isHost := &set.funcs[i], set.host
			ty := wasmtime.NewFuncType(valTypes(f.Params), valTypes(f.Results))
			err := l.FuncNew(set.module, f.Name, ty, func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
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
				call := f.Call
				if isHost {
					call = f.CallHost
				}
				result, err := call(h.sys, mem, raw[:len(args)])
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
