//go:build wasip1

package guest

import (
	"runtime/debug"
	"unsafe"

	"github.com/nanoedge/nanoedge/internal/abi"
)

var (
	// in holds the request of the current call, reused by the next one
	// when it fits: as with net/http, a request's body is not to be used
	// after its handler returns (header strings are copies).
	in []byte
	// out holds the encoded response until the next call.
	out []byte
	// writer is the ResponseWriter, reset for each request.
	writer responseWriter
)

//go:wasmexport nanoedge_abi_version
func abiVersion() int32 { return abi.Version }

//go:wasmexport nanoedge_alloc
func alloc(size int32) unsafe.Pointer {
	if size <= 0 {
		in = nil
		return nil
	}
	if int(size) <= cap(in) {
		in = in[:size]
	} else {
		in = make([]byte, size, max(int(size), 4<<10))
	}
	return unsafe.Pointer(&in[0])
}

//go:wasmexport nanoedge_handle
func handle(ptr unsafe.Pointer, size int32) uint64 {
	out = serve(handler, unsafe.Slice((*byte)(ptr), size), out, &writer)
	if cap(in) > maxKeptBody {
		in = nil // a large body's buffer is not kept for the next request
	}
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&out[0])))<<32 | uint64(len(out))
}

// GCPercent is the garbage collection target the SDK sets for a module, in
// place of Go's 100: a handler's heap is small and allocation is dear in
// WebAssembly, so collecting a fifth as often costs little memory and
// saves time on every request. A module sets its own with
// debug.SetGCPercent from its init, which runs after this one.
const GCPercent = 400

func init() { debug.SetGCPercent(GCPercent) }
