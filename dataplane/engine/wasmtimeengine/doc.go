// Package wasmtimeengine is an engine.Engine on wasmtime
// (github.com/bytecodealliance/wasmtime-go, cgo, Cranelift), built only
// with the wasmtime build tag: `go test -tags wasmtime ./dataplane/engine/...`.
//
// Deadlines use wasmtime's epoch interruption: the engine advances a
// global epoch every EpochTick, and each call sets its store's deadline to
// the number of ticks left before its context's deadline, so a runaway
// guest traps within one tick after it. Guest sleeps are sliced by the
// project's WASI (wasishim), which this engine uses instead of wasmtime's
// own so that each request has its own stdin, stdout and environment.
// Memory is capped by the store's limiter.
//
// Compiled code is kept on disk (Config.CacheDir) keyed by the module's
// digest and the wasmtime version, and loaded by mapping the file.
// With Config.PreInitialize, handler modules are snapshotted after their
// _initialize (dataplane/engine/internal/rewrite), and wasmtime maps the snapshot's memory
// copy-on-write: a new instance costs page mappings, not a run of the Go
// runtime's start-up.
//
// What it cannot promise: a context canceled without a deadline does not
// interrupt a running guest (epochs are engine-wide, so cancellation
// would stop every instance); the call runs until it returns or reaches
// its deadline, which workers always set. A crash inside wasmtime itself
// takes the worker process with it. The default static binary
// (CGO_ENABLED=0) does not include it.
package wasmtimeengine
