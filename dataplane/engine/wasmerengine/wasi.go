//go:build wasmer

package wasmerengine

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/wasmerio/wasmer-go/wasmer"
)

// WASI errno values the shim returns.
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoInval   = 28
	errnoNosys   = 52
)

// maxSleepSlice bounds one host sleep, so that a sleeping guest returns to
// its loops, where the interrupt flag is checked.
const maxSleepSlice = 5 * time.Millisecond

// exitError is returned by proc_exit to unwind the guest.
type exitError struct{ code int32 }

func (e *exitError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// wasi is one instance's WASI preview 1: what a worker gives a guest, and
// nothing more (no files, no preopens, no arguments).
type wasi struct {
	memory *wasmer.Memory
	env    []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	exit   *exitError // set by proc_exit
}

func (w *wasi) mem() []byte { return w.memory.Data() }

func (w *wasi) u32(p int32) uint32 { return binary.LittleEndian.Uint32(w.mem()[uint32(p):]) }

func (w *wasi) putU32(p int32, v uint32) {
	binary.LittleEndian.PutUint32(w.mem()[uint32(p):], v)
}

func (w *wasi) putU64(p int32, v uint64) {
	binary.LittleEndian.PutUint64(w.mem()[uint32(p):], v)
}

type hostFunc struct {
	params, results []wasmer.ValueKind
	fn              func(w *wasi, args []wasmer.Value) ([]wasmer.Value, error)
}

var (
	i32 = wasmer.I32
	i64 = wasmer.I64
)

func errno(n int32) ([]wasmer.Value, error) { return []wasmer.Value{wasmer.NewI32(n)}, nil }

// imports registers the shim for one instance.
func (w *wasi) imports(store *wasmer.Store) *wasmer.ImportObject {
	ns := map[string]wasmer.IntoExtern{}
	for name, h := range wasiFuncs {
		h := h
		ty := wasmer.NewFunctionType(wasmer.NewValueTypes(h.params...), wasmer.NewValueTypes(h.results...))
		ns[name] = wasmer.NewFunctionWithEnvironment(store, ty, w, func(env interface{}, args []wasmer.Value) ([]wasmer.Value, error) {
			return h.fn(env.(*wasi), args)
		})
	}
	io := wasmer.NewImportObject()
	io.Register("wasi_snapshot_preview1", ns)
	return io
}

// strings writes a list of NUL-terminated strings (arguments or the
// environment) at bufPtr with their pointers at ptrsPtr.
func (w *wasi) strings(list []string, ptrsPtr, bufPtr int32) {
	mem := w.mem()
	for i, s := range list {
		w.putU32(ptrsPtr+int32(4*i), uint32(bufPtr))
		copy(mem[uint32(bufPtr):], s)
		mem[uint32(bufPtr)+uint32(len(s))] = 0
		bufPtr += int32(len(s) + 1)
	}
}

func (w *wasi) sizes(list []string, countPtr, sizePtr int32) {
	n := 0
	for _, s := range list {
		n += len(s) + 1
	}
	w.putU32(countPtr, uint32(len(list)))
	w.putU32(sizePtr, uint32(n))
}

var wasiFuncs = map[string]hostFunc{
	"args_get": {[]wasmer.ValueKind{i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoSuccess)
	}},
	"args_sizes_get": {[]wasmer.ValueKind{i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		w.sizes(nil, a[0].I32(), a[1].I32())
		return errno(errnoSuccess)
	}},
	"environ_get": {[]wasmer.ValueKind{i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		w.strings(w.env, a[0].I32(), a[1].I32())
		return errno(errnoSuccess)
	}},
	"environ_sizes_get": {[]wasmer.ValueKind{i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		w.sizes(w.env, a[0].I32(), a[1].I32())
		return errno(errnoSuccess)
	}},
	"clock_time_get": {[]wasmer.ValueKind{i32, i64, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		switch a[0].I32() {
		case 0: // realtime
			w.putU64(a[2].I32(), uint64(time.Now().UnixNano()))
		case 1: // monotonic
			w.putU64(a[2].I32(), uint64(time.Since(epoch).Nanoseconds()))
		default:
			return errno(errnoInval)
		}
		return errno(errnoSuccess)
	}},
	"random_get": {[]wasmer.ValueKind{i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		p, n := uint32(a[0].I32()), uint32(a[1].I32())
		rand.Read(w.mem()[p : p+n])
		return errno(errnoSuccess)
	}},
	"fd_write": {[]wasmer.ValueKind{i32, i32, i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		var out io.Writer
		switch a[0].I32() {
		case 1:
			out = w.stdout
		case 2:
			out = w.stderr
		default:
			return errno(errnoBadf)
		}
		total := 0
		for i := int32(0); i < a[2].I32(); i++ {
			p, n := w.u32(a[1].I32()+8*i), w.u32(a[1].I32()+8*i+4)
			written, err := out.Write(w.mem()[p : p+n])
			total += written
			if err != nil {
				return nil, err // a stdout over its limit: the guest traps
			}
		}
		w.putU32(a[3].I32(), uint32(total))
		return errno(errnoSuccess)
	}},
	"fd_read": {[]wasmer.ValueKind{i32, i32, i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		if a[0].I32() != 0 {
			return errno(errnoBadf)
		}
		total := 0
		for i := int32(0); i < a[2].I32(); i++ {
			p, n := w.u32(a[1].I32()+8*i), w.u32(a[1].I32()+8*i+4)
			got, err := w.stdin.Read(w.mem()[p : p+n])
			total += got
			if err != nil || got < int(n) {
				break
			}
		}
		w.putU32(a[3].I32(), uint32(total))
		return errno(errnoSuccess)
	}},
	"fd_close": {[]wasmer.ValueKind{i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoSuccess)
	}},
	"fd_seek": {[]wasmer.ValueKind{i32, i64, i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoBadf) // no seekable files
	}},
	"fd_fdstat_get": {[]wasmer.ValueKind{i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		if fd := a[0].I32(); fd < 0 || fd > 2 {
			return errno(errnoBadf)
		}
		mem, p := w.mem(), uint32(a[1].I32())
		clear(mem[p : p+24])
		mem[p] = 2 // character device
		return errno(errnoSuccess)
	}},
	"fd_fdstat_set_flags": {[]wasmer.ValueKind{i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoNosys)
	}},
	"fd_prestat_get": {[]wasmer.ValueKind{i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoBadf) // no preopened directories
	}},
	"fd_prestat_dir_name": {[]wasmer.ValueKind{i32, i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoBadf)
	}},
	"path_open": {[]wasmer.ValueKind{i32, i32, i32, i32, i32, i64, i64, i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoNosys)
	}},
	"path_filestat_get": {[]wasmer.ValueKind{i32, i32, i32, i32, i32}, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoNosys)
	}},
	"sched_yield": {nil, []wasmer.ValueKind{i32}, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		return errno(errnoSuccess)
	}},
	"proc_exit": {[]wasmer.ValueKind{i32}, nil, func(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
		w.exit = &exitError{code: a[0].I32()}
		return nil, w.exit // unwinds the guest
	}},
	"poll_oneoff": {[]wasmer.ValueKind{i32, i32, i32, i32}, []wasmer.ValueKind{i32}, pollOneoff},
}

var epoch = time.Now()

// pollOneoff sleeps for the shortest clock subscription, at most
// maxSleepSlice at a time, and reports the subscriptions that are due;
// there are no file descriptors to wait on.
func pollOneoff(w *wasi, a []wasmer.Value) ([]wasmer.Value, error) {
	in, out, n := uint32(a[0].I32()), uint32(a[1].I32()), uint32(a[2].I32())
	if n == 0 {
		return errno(errnoInval)
	}
	mem := w.mem()
	waits := make([]int64, n)
	shortest := int64(-1)
	for i := uint32(0); i < n; i++ {
		sub := mem[in+48*i:]
		waits[i] = -1
		if sub[8] != 0 { // not a clock
			continue
		}
		t := int64(binary.LittleEndian.Uint64(sub[24:]))
		if binary.LittleEndian.Uint16(sub[40:])&1 != 0 { // absolute
			now := time.Now().UnixNano()
			if binary.LittleEndian.Uint32(sub[16:]) == 1 {
				now = time.Since(epoch).Nanoseconds()
			}
			t = max(t-now, 0)
		}
		waits[i] = t
		if shortest < 0 || t < shortest {
			shortest = t
		}
	}
	slept := int64(0)
	if shortest > 0 {
		d := min(time.Duration(shortest), maxSleepSlice)
		time.Sleep(d)
		slept = int64(d)
	}
	events := uint32(0)
	mem = w.mem()
	for i := uint32(0); i < n; i++ {
		t := waits[i]
		if t >= 0 && t > slept {
			continue // not due yet
		}
		sub, ev := mem[in+48*i:], mem[out+32*events:]
		copy(ev[:8], sub[:8]) // userdata
		code := uint16(errnoSuccess)
		if t < 0 {
			code = errnoBadf
		}
		binary.LittleEndian.PutUint16(ev[8:], code)
		ev[10] = sub[8]
		events++
	}
	if events == 0 { // woken early by the slice: report the shortest as due
		for i := uint32(0); i < n; i++ {
			if waits[i] == shortest {
				sub, ev := mem[in+48*i:], mem[out:]
				copy(ev[:8], sub[:8])
				binary.LittleEndian.PutUint16(ev[8:], errnoSuccess)
				ev[10] = 0
				events = 1
				break
			}
		}
	}
	binary.LittleEndian.PutUint32(mem[uint32(a[3].I32()):], events)
	return errno(errnoSuccess)
}
