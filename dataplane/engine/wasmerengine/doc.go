// Package wasmerengine is a second engine.Engine, on wasmer
// (github.com/wasmerio/wasmer-go 1.0.4, cgo), built only with the wasmer
// build tag: `go test -tags wasmer ./dataplane/engine/...`.
//
// wasmer 1.0.4 cannot cap memory, cannot interrupt a guest, and its own
// WASI aborts the whole process when a Go guest sleeps (poll_oneoff on a
// clock panics in Rust). This engine does not use that WASI: it provides
// the WASI imports handler modules need from Go (dataplane/engine/internal/wasishim),
// with sleeps sliced like the wazero engine's. It caps memory by rewriting each
// module's memory maximum (rewrite.CapMemory) and stops guests at their
// deadline with the same instrumented interrupt flag (dataplane/engine/internal/rewrite),
// so it passes the same suite (enginetest) as the default engine.
//
// wasmer-go 1.0.4 frees a trap returned by a host function twice, so the
// shim's functions never return one: proc_exit and a failed write record
// why and raise the interrupt, and the guest traps at its next call or
// loop iteration.
//
// What it still cannot promise: a module the instrumenter cannot walk
// (SIMD, threads, exceptions) is refused rather than run unstoppable; the
// interrupt flag is written from another thread while the guest runs,
// which wasmer's API does not document as safe (it is an aligned 32-bit
// store, and the tests exercise it under load); and a crash inside wasmer
// itself takes the worker process with it. The default static binary
// (CGO_ENABLED=0) does not include it.
package wasmerengine
