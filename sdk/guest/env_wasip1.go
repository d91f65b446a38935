//go:build wasip1

package guest

import (
	"os"
	"strings"
	"unsafe"
)

// The module's configuration (variables and secrets) is its WASI
// environment. Go reads that once, when the runtime starts, which for a
// worker's pre-initialized instances is before the configuration is
// given; so the SDK reads it again before an instance's first request,
// and the handler sees it through os.Getenv as usual.

//go:wasmimport wasi_snapshot_preview1 environ_sizes_get
func environSizesGet(count, size unsafe.Pointer) uint32

//go:wasmimport wasi_snapshot_preview1 environ_get
func environGet(ptrs, buf unsafe.Pointer) uint32

var envLoaded bool

// loadEnv replaces the process environment with the instance's.
func loadEnv() {
	envLoaded = true
	var count, size uint32
	if environSizesGet(unsafe.Pointer(&count), unsafe.Pointer(&size)) != 0 || count == 0 {
		return
	}
	ptrs := make([]uint32, count)
	buf := make([]byte, size)
	if environGet(unsafe.Pointer(&ptrs[0]), unsafe.Pointer(&buf[0])) != 0 {
		return
	}
	os.Clearenv()
	for _, kv := range strings.Split(strings.TrimRight(string(buf), "\x00"), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			os.Setenv(k, v)
		}
	}
}
