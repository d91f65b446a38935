//go:build wasip1

package guest

import (
	"unsafe"

	"github.com/nanoedge/nanoedge/sdk/abi"
)

//go:wasmimport nanoedge flag_get
func flagGet(name unsafe.Pointer, n uint32) int32

// LookupFlag reports a feature flag's state, and whether the registry
// has a flag of that name, as of the revision the worker serves: every
// call within one request sees the same one.
func LookupFlag(name string) (on, exists bool) {
	switch flagGet(unsafe.Pointer(unsafe.StringData(name)), uint32(len(name))) {
	case abi.FlagOn:
		return true, true
	case abi.FlagOff:
		return false, true
	}
	return false, false
}
