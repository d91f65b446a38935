//go:build wasip1

package kv

import (
	"unsafe"

	"github.com/nanoedge/nanoedge/sdk/abi"
)

//go:wasmimport nanoedge kv_get
func kvGet(store unsafe.Pointer, storeLen uint32, key unsafe.Pointer, keyLen uint32, buf unsafe.Pointer, bufCap uint32) int32

// buf is reused between reads: most values fit, and a read that does
// not asks again with the size the host gave.
var buf = make([]byte, 1024)

func get(store, key string) (value []byte, found, storeOK bool) {
	for {
		n := kvGet(unsafe.Pointer(unsafe.StringData(store)), uint32(len(store)),
			unsafe.Pointer(unsafe.StringData(key)), uint32(len(key)),
			unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)))
		switch {
		case n == abi.NoStore:
			return nil, false, false
		case n < 0:
			return nil, false, true
		case int(n) <= len(buf):
			return append([]byte(nil), buf[:n]...), true, true
		}
		buf = make([]byte, n)
	}
}
