//go:build wasmtime

package wasmtimeengine

/*
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
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
typedef struct { struct { uint64_t store_id; uint32_t private1; }; uint32_t private2; } nanoedge_memory_t;

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

// nanoedge_exchange_t is an instance's side of nanoedge_exchange, in C
// memory: what it calls and what the last call left.
typedef struct {
	wasmtime_context_t *ctx;
	nanoedge_func_t alloc, handle;
	nanoedge_memory_t mem;
	uint8_t *resp;
	uint64_t packed;
	size_t size;
	wasm_trap_t *trap;
	wasmtime_error_t *err;
} nanoedge_exchange_t;

// nanoedge_exchange passes a request to a handler module and finds its
// response in one crossing from Go, where the steps would take a dozen:
// set the epoch deadline (unless it is 0), call alloc, copy the request
// into the buffer it returned, call handle, and check that the response
// lies in memory. Once handle returned, x->packed holds its result and
// x->size the memory's; on EXCHANGE_OK, x->resp points at the response in
// guest memory; on EXCHANGE_FAILED, x->trap or x->err says why.
static int nanoedge_exchange(nanoedge_exchange_t *x, uint64_t deadline, const uint8_t *req, size_t n) {
	nanoedge_raw_t vals[2] = {{(uint32_t)n, 0}, {0, 0}};
	x->trap = NULL;
	x->err = NULL;
	x->size = 0;
	if (deadline != 0) {
		wasmtime_context_set_epoch_deadline(x->ctx, deadline);
	}
	if ((x->err = wasmtime_func_call_unchecked(x->ctx, &x->alloc, vals, 1, &x->trap)) != NULL || x->trap != NULL) {
		return EXCHANGE_FAILED;
	}
	uint64_t ptr = (uint32_t)vals[0].lo;
	if (ptr + n > wasmtime_memory_data_size(x->ctx, &x->mem)) {
		return EXCHANGE_BAD_BUFFER;
	}
	memcpy(wasmtime_memory_data(x->ctx, &x->mem) + ptr, req, n);
	vals[0] = (nanoedge_raw_t){ptr, 0};
	vals[1] = (nanoedge_raw_t){(uint32_t)n, 0};
	if ((x->err = wasmtime_func_call_unchecked(x->ctx, &x->handle, vals, 2, &x->trap)) != NULL || x->trap != NULL) {
		return EXCHANGE_FAILED;
	}
	x->packed = vals[0].lo;
	x->size = wasmtime_memory_data_size(x->ctx, &x->mem);
	uint64_t at = x->packed >> 32, len = (uint32_t)x->packed;
	if (at + len > x->size) {
		return EXCHANGE_BAD_RESPONSE;
	}
	x->resp = wasmtime_memory_data(x->ctx, &x->mem) + at;
	return EXCHANGE_OK;
}

static nanoedge_exchange_t *nanoedge_exchange_new(wasmtime_context_t *ctx, const nanoedge_func_t *alloc,
		const nanoedge_func_t *handle, const nanoedge_memory_t *mem) {
	nanoedge_exchange_t *x = calloc(1, sizeof *x);
	if (x != NULL) {
		x->ctx = ctx;
		x->alloc = *alloc;
		x->handle = *handle;
		x->mem = *mem;
	}
	return x;
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
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// wasmtime-go's Func and Memory hold the C API's values and nothing else,
// which the exchanger copies: a size that differs fails to compile.
var (
	_ [unsafe.Sizeof(wasmtime.Func{}) - C.sizeof_nanoedge_func_t]struct{}
	_ [C.sizeof_nanoedge_func_t - unsafe.Sizeof(wasmtime.Func{})]struct{}
	_ [unsafe.Sizeof(wasmtime.Memory{}) - C.sizeof_nanoedge_memory_t]struct{}
	_ [C.sizeof_nanoedge_memory_t - unsafe.Sizeof(wasmtime.Memory{})]struct{}
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

// exchanger runs nanoedge_exchange on an instance's exports. Its state
// lives in C memory, copied once from the store's handles, so that a
// request passes Go pointers to nothing but its bytes: each would be
// checked by cgo and moved to the heap. The same assumptions hold as for
// callUnchecked, and wasmtime.Memory is a wasmtime_memory_t.
type exchanger struct {
	x     *C.nanoedge_exchange_t
	store *wasmtime.Store // kept alive while x refers to its context
}

func newExchanger(r *running, alloc, handle *wasmtime.Func) *exchanger {
	x := C.nanoedge_exchange_new((*C.wasmtime_context_t)(r.ctx), (*C.nanoedge_func_t)(unsafe.Pointer(alloc)),
		(*C.nanoedge_func_t)(unsafe.Pointer(handle)), (*C.nanoedge_memory_t)(unsafe.Pointer(r.memory)))
	if x == nil {
		panic("wasmtimeengine: out of C memory")
	}
	return &exchanger{x: x, store: r.store}
}

// free releases the C state; the exchanger is unusable afterwards.
func (e *exchanger) free() {
	C.free(unsafe.Pointer(e.x))
	e.x = nil
}

// exchange passes req to the guest and returns the response, which
// aliases guest memory until the next call into it. A deadline of 0
// leaves the store's as it is. size is the memory's size after a call
// that returned, else 0. A broken ABI is ErrBadResponse; a failed call, a
// *callError.
func (e *exchanger) exchange(deadline uint64, req []byte) (resp []byte, size uint64, err error) {
	var in *C.uint8_t
	if len(req) > 0 {
		in = (*C.uint8_t)(unsafe.Pointer(&req[0]))
	}
	x := e.x
	rc := C.nanoedge_exchange(x, C.uint64_t(deadline), in, C.size_t(len(req)))
	runtime.KeepAlive(req)
	at, length := uint32(x.packed>>32), uint32(x.packed)
	switch rc {
	case C.EXCHANGE_OK:
		return unsafe.Slice((*byte)(unsafe.Pointer(x.resp)), int(length)), uint64(x.size), nil
	case C.EXCHANGE_BAD_BUFFER:
		return nil, 0, fmt.Errorf("%w: %s returned a buffer outside guest memory", engine.ErrBadResponse, abi.ExportAlloc)
	case C.EXCHANGE_BAD_RESPONSE:
		return nil, uint64(x.size), fmt.Errorf("%w: response at %d+%d lies outside guest memory", engine.ErrBadResponse, at, length)
	}
	return nil, 0, callFailure(x.trap, x.err)
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
