// Package guest turns an ordinary net/http Handler into a Nanoedge handler
// module. Register the handler from an init function and build with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o handler.wasm .
//
// The module then exports the functions of ABI version 1 (docs/abi.md).
//
// As with net/http, a handler must not use its ResponseWriter, or the
// request's body, after it returns: a module reuses both buffers for the
// next request. Everything else of the request (URL, header, strings) is
// the handler's to keep.
//
// The SDK sets the module's garbage collection target to GCPercent (25)
// instead of Go's 100; a module's own debug.SetGCPercent in its init wins.
package guest
