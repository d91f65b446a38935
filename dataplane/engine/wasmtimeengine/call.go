//go:build wasmtime

package wasmtimeengine

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

// The few functions of wasmtime's C API (v39) that wasmtime-go does not
// wrap cheaply, declared here because its headers live in its module;
// wasmtime-go links the library.
typedef struct wasmtime_context wasmtime_context_t;
typedef struct wasmtime_error wasmtime_error_t;
typedef struct wasm_trap_t wasm_trap_t;
typedef struct { uint64_t store_id; void *private_; } nanoedge_func_t;
typedef struct { uint64_t lo, hi; } nanoedge_raw_t; // wasmtime_val_raw_t: a 16-byte union
typedef struct { size_t size; char *data; } nanoedge_vec_t; // wasm_byte_vec_t
typedef struct { uint64_t store_id; uint32_t private1, private2; } nanoedge_memory_t;

extern wasmtime_error_t *wasmtime_func_call_unchecked(wasmtime_context_t *, const nanoedge_func_t *, nanoedge_raw_t *, size_t, wasm_trap_t **);
extern void wasm_trap_message(const wasm_trap_t *, nanoedge_vec_t *);
extern bool wasmtime_trap_code(const wasm_trap_t *, uint8_t *);
extern void wasm_trap_delete(wasm_trap_t *);
extern void wasmtime_error_message(const wasmtime_error_t *, nanoedge_vec_t *);
extern void wasmtime_error_delete(wasmtime_error_t *);
extern void wasm_byte_vec_delete(nanoedge_vec_t *);
extern uint8_t *wasmtime_memory_data(const wasmtime_context_t *, const nanoedge_memory_t *);
extern size_t wasmtime_memory_data_size(const wasmtime_context_t *, const nanoedge_memory_t *);
extern void wasmtime_context_set_epoch_deadline(wasmtime_context_t *, uint64_t);

enum { EXCHANGE_OK, EXCHANGE_FAILED, EXCHANGE_BAD_BUFFER, EXCHANGE_BAD_RESPONSE };

// nanoedge_exchange passes a request to a handler module and finds its
// response in one crossing from Go, where the steps would take a dozen:
// set the epoch deadline (unless it is 0), call alloc, copy the request
// into the buffer it returned, call handle, and check that the response
// lies in memory. Once handle returned, *packed holds its result and
// *size the memory's; on EXCHANGE_OK, *resp points at the response in
// guest memory; on EXCHANGE_FAILED, *trap or *err says why.
static int nanoedge_exchange(wasmtime_context_t *ctx, const nanoedge_func_t *alloc, const nanoedge_func_t *handle,
		const nanoedge_memory_t *mem, uint64_t deadline, const uint8_t *req, size_t n,
		uint8_t **resp, uint64_t *packed, size_t *size, wasm_trap_t **trap, wasmtime_error_t **err) {
	nanoedge_raw_t vals[2] = {{(uint32_t)n, 0}, {0, 0}};
	if (deadline != 0) {
		wasmtime_context_set_epoch_deadline(ctx, deadline);
	}
	if ((*err = wasmtime_func_call_unchecked(ctx, alloc, vals, 1, trap)) != NULL || *trap != NULL) {
		return EXCHANGE_FAILED;
	}
	uint64_t ptr = (uint32_t)vals[0].lo;
	if (ptr + n > wasmtime_memory_data_size(ctx, mem)) {
		return EXCHANGE_BAD_BUFFER;
	}
	memcpy(wasmtime_memory_data(ctx, mem) + ptr, req, n);
	vals[0] = (nanoedge_raw_t){ptr, 0};
	vals[1] = (nanoedge_raw_t){(uint32_t)n, 0};
	if ((*err = wasmtime_func_call_unchecked(ctx, handle, vals, 2, trap)) != NULL || *trap != NULL) {
		return EXCHANGE_FAILED;
	}
	*packed = vals[0].lo;
	*size = wasmtime_memory_data_size(ctx, mem);
	uint64_t at = *packed >> 32, len = (uint32_t)*packed;
	if (at + len > *size) {
		return EXCHANGE_BAD_RESPONSE;
	}
	*resp = wasmtime_memory_data(ctx, mem) + at;
	return EXCHANGE_OK;
}
*/
import "C"

import (
	"fmt"
	"runtime"
	"strings"
	"unsafe"

	"github.com/bytecodealliance/wasmtime-go/v39"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/abi"
)

// rawVal has wasmtime_val_raw_t's size and alignment: an i32 or i64 in
// the low bytes.
type rawVal struct{ lo, hi uint64 }

func (v rawVal) i32() int32 { return int32(uint32(v.lo)) }

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
	return callFailure(trap, err)
}

// exchange runs nanoedge_exchange on the instance's exports and returns
// the response, which aliases guest memory until the next call into it.
// The same assumptions hold as for callUnchecked, and wasmtime.Memory is
// a wasmtime_memory_t. A deadline of 0 leaves the store's as it is. size
// is the memory's size after a call that returned, else 0. A broken ABI
// is ErrBadResponse; a failed call, a *callError.
func exchange(r *running, alloc, handle *wasmtime.Func, deadline uint64, req []byte) (resp []byte, size uint64, err error) {
	var (
		trap   *C.wasm_trap_t
		cerr   *C.wasmtime_error_t
		out    *C.uint8_t
		packed C.uint64_t
		n      C.size_t
		in     *C.uint8_t
	)
	if len(req) > 0 {
		in = (*C.uint8_t)(unsafe.Pointer(&req[0]))
	}
	rc := C.nanoedge_exchange((*C.wasmtime_context_t)(r.ctx), (*C.nanoedge_func_t)(unsafe.Pointer(alloc)),
		(*C.nanoedge_func_t)(unsafe.Pointer(handle)), (*C.nanoedge_memory_t)(unsafe.Pointer(r.memory)),
		C.uint64_t(deadline), in, C.size_t(len(req)), &out, &packed, &n, &trap, &cerr)
	runtime.KeepAlive(r.store)
	runtime.KeepAlive(alloc)
	runtime.KeepAlive(handle)
	runtime.KeepAlive(r.memory)
	at, length := uint32(packed>>32), uint32(packed)
	switch rc {
	case C.EXCHANGE_OK:
		return unsafe.Slice((*byte)(unsafe.Pointer(out)), int(length)), uint64(n), nil
	case C.EXCHANGE_BAD_BUFFER:
		return nil, 0, fmt.Errorf("%w: %s returned a buffer outside guest memory", engine.ErrBadResponse, abi.ExportAlloc)
	case C.EXCHANGE_BAD_RESPONSE:
		return nil, uint64(n), fmt.Errorf("%w: response at %d+%d lies outside guest memory", engine.ErrBadResponse, at, length)
	}
	return nil, 0, callFailure(trap, cerr)
}

// storeContext is the store's wasmtime_context_t, fixed for its lifetime.
func storeContext(s *wasmtime.Store) unsafe.Pointer { return unsafe.Pointer(s.Context()) }

// callFailure turns what a call returned into nil or a *callError, and
// frees it.
func callFailure(trap *C.wasm_trap_t, err *C.wasmtime_error_t) error {
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
