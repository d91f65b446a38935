//go:build wasmtime

package wasmtimeengine

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The few functions of wasmtime's C API (v39) that wasmtime-go does not
// wrap cheaply, declared here because its headers live in its module;
// wasmtime-go links the library.
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct { uint64_t store_id; void *private_; } nanoedge_func_t;
typedef struct { uint64_t lo, hi; } nanoedge_raw_t; // wasmtime_val_raw_t: a 16-byte union
typedef struct { size_t size; char *data; } nanoedge_vec_t; // wasm_byte_vec_t

extern wasmtime_error_t *wasmtime_func_call_unchecked(wasmtime_context_t *, const nanoedge_func_t *, nanoedge_raw_t *, size_t, wasm_trap_t **);
extern void wasm_trap_message(const wasm_trap_t *, nanoedge_vec_t *);
extern bool wasmtime_trap_code(const wasm_trap_t *, uint8_t *);
extern void wasm_trap_delete(wasm_trap_t *);
extern void wasmtime_error_message(const wasmtime_error_t *, nanoedge_vec_t *);
extern void wasmtime_error_delete(wasmtime_error_t *);
extern void wasm_byte_vec_delete(nanoedge_vec_t *);
*/
import "C"

import (
	"runtime"
	"strings"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// rawVal has wasmtime_val_raw_t's size and alignment: an i32 or i64 in
// the low bytes.
type rawVal struct{ lo, hi uint64 }

func rawI32(v int32) rawVal { return rawVal{lo: uint64(uint32(v))} }

func (v rawVal) i32() int32 { return int32(uint32(v.lo)) }

func (v rawVal) i64() int64 { return int64(v.lo) }

// callError is a trap or error out of a call, with the trap's code if it
// had one.
type callError struct {
	msg  string
	code *wasmtime.TrapCode
}

func (e *callError) Error() string { return e.msg }

// interrupted reports whether the epoch deadline stopped the call.
func (e *callError) interrupted() bool { return e.code != nil && *e.code == wasmtime.Interrupt }

// callUnchecked calls f with vals holding its arguments, and on return its
// results, as wasmtime_func_call_unchecked does: without wasmtime-go's
// per-call lookup of the function's type, which allocates (in C and in
// Go) more than a small call costs. The caller must pass as many vals as
// f has parameters or results, whichever is more, of the right types: the
// engine only calls the ABI's exports, whose signatures checkShape
// verified.
//
// It relies on wasmtime.Func being a wasmtime_func_t and nothing else,
// true of wasmtime-go v39 (pinned in go.mod); the engine suite fails
// loudly if that changes.
func callUnchecked(store *wasmtime.Store, f *wasmtime.Func, vals []rawVal) error {
	var trap *C.wasm_trap_t
	ctx := (*C.wasmtime_context_t)(unsafe.Pointer(store.Context()))
	var args *C.nanoedge_raw_t
	if len(vals) > 0 {
		args = (*C.nanoedge_raw_t)(unsafe.Pointer(&vals[0]))
	}
	err := C.wasmtime_func_call_unchecked(ctx, (*C.nanoedge_func_t)(unsafe.Pointer(f)), args, C.size_t(len(vals)), &trap)
	runtime.KeepAlive(store)
	runtime.KeepAlive(f)
	switch {
	case trap != nil:
		if err != nil {
			C.wasmtime_error_delete(err)
		}
		var msg C.nanoedge_vec_t
		C.wasm_trap_message(trap, &msg)
		e := &callError{msg: takeString(&msg)}
		var code C.uint8_t
		if C.wasmtime_trap_code(trap, &code) {
			c := wasmtime.TrapCode(code)
			e.code = &c
		}
		C.wasm_trap_delete(trap)
		return e
	case err != nil:
		var msg C.nanoedge_vec_t
		C.wasmtime_error_message(err, &msg)
		C.wasmtime_error_delete(err)
		return &callError{msg: takeString(&msg)}
	}
	return nil
}

func takeString(v *C.nanoedge_vec_t) string {
	s := C.GoStringN(v.data, C.int(v.size))
	C.wasm_byte_vec_delete(v)
	return strings.TrimRight(s, "\x00")
}
