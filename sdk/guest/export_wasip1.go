//go:build wasip1

package guest

import (
	"runtime/debug"
	"unsafe"

	"github.com/nanoedge/nanoedge/sdk/abi"
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
	if !envLoaded {
		loadEnv()
	}
	out = serve(handler, unsafe.Slice((*byte)(ptr), size), out, &writer)
	if cap(in) > maxKeptRequest {
		in = nil // a very large body's buffer is not kept for the next request
	}
	if len(out) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&out[0])))<<32 | uint64(len(out))
}

// GCPercent is the garbage collection target the SDK sets for a module, in
// place of Go's 100. It bounds what an instance dirties over its life: Go's
// smallest heap goal is 4 MB scaled by the target, a handler's live heap is
// tens of kilobytes, and every page the heap cycles through stays resident.
// At 25 a warm hello instance settles near 5 MB where 100 reaches 8 MB and
// 400 keeps growing past 20 MB (docs/benchmarks-history.md); a collection of such a
// small heap takes about 0.35 ms. A module that allocates heavily per
// request sets its own with debug.SetGCPercent from its init, which runs
// after this one.
const GCPercent = 25

func init() { debug.SetGCPercent(GCPercent) }
