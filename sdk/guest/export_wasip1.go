//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/nanoedge/nanoedge/internal/abi"
)

var (
	// in holds the request of the current call. A fresh slice per call lets a
	// handler keep a reference to its body after returning.
	in []byte
	// out holds the encoded response until the next call.
	out []byte
)

//go:wasmexport nanoedge_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport nanoedge_alloc
func alloc(size int32) unsafe.Pointer {
	if size <= 0 {
		in = nil
		return nil
	}
	in = make([]byte, size)
	return unsafe.Pointer(&in[0])
}

//go:wasmexport nanoedge_handle
func handle(ptr unsafe.Pointer, size int32) uint64 {
	out = serve(handler, unsafe.Slice((*byte)(ptr), size), out)
	in = nil
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&out[0])))<<32 | uint64(len(out))
}
