//go:build wasip1

// Command badabi speaks the handler ABI itself, without the guest SDK, and
// breaks it on request: "/bad-response" answers with a response outside
// its memory, "/arm-bad-buffer" makes the next nanoedge_alloc return a
// buffer outside its memory. Every other path answers 204.
package main

import (
	"unsafe"

	"github.com/nanoedge/nanoedge/internal/abi"
)

// outside is an address past any memory a module can have that a
// length still fits after.
const outside = 0xffff0000

var (
	in, out   []byte
	badBuffer bool
)

//go:wasmexport nanoedge_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport nanoedge_alloc
func alloc(size int32) uint32 {
	if badBuffer {
		badBuffer = false
		return outside
	}
	in = make([]byte, max(size, 1))
	return uint32(uintptr(unsafe.Pointer(&in[0])))
}

//go:wasmexport nanoedge_handle
func handle(ptr unsafe.Pointer, size int32) uint64 {
	req, err := abi.DecodeRequest(unsafe.Slice((*byte)(ptr), size))
	if err != nil {
		panic(err)
	}
	switch req.URI {
	case "/bad-response":
		return outside<<32 | 100
	case "/arm-bad-buffer":
		badBuffer = true
	}
	out = abi.AppendResponse(out[:0], &abi.Response{Status: 204})
	return uint64(uintptr(unsafe.Pointer(&out[0])))<<32 | uint64(len(out))
}

func main() {}
