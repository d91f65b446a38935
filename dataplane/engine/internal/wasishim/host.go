package wasishim

import (
	"context"
	"errors"
	"slices"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// Host is the host functions of abi.ImportModule, for every engine: a
// handler reads its worker's flags and edge data through them, from
// System.Edge. Unlike WASI's, a pointer outside guest memory traps.
var Host = []Func{
	{abi.ImportFlag, []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		on, ok := s.edge().Flag(string(slice(mem, arg(a, 0), arg(a, 1))))
		switch {
		case !ok:
			return i32(abi.NotFound), nil
		case on:
			return abi.FlagOn, nil
		}
		return abi.FlagOff, nil
	}},
	{abi.ImportKVGet, []Kind{I32, I32, I32, I32, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		v, found, ok := s.edge().Get(string(slice(mem, arg(a, 0), arg(a, 1))), string(slice(mem, arg(a, 2), arg(a, 3))))
		switch {
		case !ok:
			return i32(abi.NoStore), nil
		case !found:
			return i32(abi.NotFound), nil
		}
		if uint64(len(v)) <= arg(a, 5) {
			copy(slice(mem, arg(a, 4), uint64(len(v))), v)
		}
		return uint32(len(v)), nil
	}},
}

func i32(v int32) uint32 { return uint32(v) }

func (s *System) edge() engine.Edge {
	if s.Edge == nil {
		return engine.EdgeFrom(context.Background())
	}
	return s.Edge
}

// Set is one import module the engines offer a handler.
type Set struct {
	Module string
	Funcs  []Func
	// Traps: a bad pointer traps the call (Host) rather than answering
	// EFAULT (WASI).
	Traps bool
}

// Call runs f, one of the set's functions.
func (set Set) Call(f *Func, s *System, mem []byte, args []uint64) (uint32, error) {
	if set.Traps {
		return f.CallHost(s, mem, args)
	}
	return f.Call(s, mem, args)
}

// Imports are all a handler may import: WASI, and the host functions of
// abi.ImportModule.
var Imports = []Set{{ModuleName, Funcs, false}, {abi.ImportModule, Host, true}}

// Importable reports whether module.name is one of Imports.
func Importable(module, name string) bool {
	for _, set := range Imports {
		if set.Module != module {
			continue
		}
		for _, f := range set.Funcs {
			if f.Name == name {
				return true
			}
		}
	}
	return false
}

// errFault traps a host function given a pointer outside guest memory.
var errFault = errors.New("nanoedge host function: pointer outside guest memory")

// CallHost runs a Host function: as Call, but a bad pointer traps.
func (f *Func) CallHost(s *System, mem []byte, args []uint64) (result uint32, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(outOfBounds); !ok {
				panic(r)
			}
			result, err = 0, errFault
		}
	}()
	return f.call(s, mem, args)
}

// HostFunc reports whether a Host function has that name and signature:
// what the checks of a module's imports ask.
func HostFunc(name string, params, results []Kind) bool {
	for _, f := range Host {
		if f.Name == name {
			return slices.Equal(f.Params, params) && slices.Equal(f.Results, results)
		}
	}
	return false
}
