//go:build wasip1

package guest

import "unsafe"

//go:wasmimport nanoedge response_start
func responseStartImport(head unsafe.Pointer, n uint32) int32

//go:wasmimport nanoedge response_write
func responseWriteImport(p unsafe.Pointer, n uint32) int32

func responseStart(head []byte) int32 {
	return responseStartImport(unsafe.Pointer(unsafe.SliceData(head)), uint32(len(head)))
}

//go:wasmimport nanoedge response_trailers
func responseTrailersImport(p unsafe.Pointer, n uint32) int32

func responseTrailers(p []byte) int32 {
	return responseTrailersImport(unsafe.Pointer(unsafe.SliceData(p)), uint32(len(p)))
}

func responseWrite(p []byte) int32 {
	return responseWriteImport(unsafe.Pointer(unsafe.SliceData(p)), uint32(len(p)))
}
