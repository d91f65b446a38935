// Package engine declares the small interface a Wasm engine implements for
// the data plane: compile a module once, instantiate it many times, and call
// one request through an instance at a time. Implementations live in
// subpackages: wazeroengine (the default, pure Go), wasmtimeengine and
// wasmerengine (cgo, behind build tags); enginetest is the suite they all
// pass and wasishim the WASI the cgo engines share.
package engine
