package wasishim

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
)

// ModuleName is the import module every Func belongs to.
const ModuleName = "wasi_snapshot_preview1"

// WASI errno values the shim returns.
const (
	ErrnoSuccess = 0
	ErrnoBadf    = 8
	ErrnoFault   = 21
	ErrnoInval   = 28
	ErrnoNosys   = 52
)

// MaxSleepSlice bounds one host sleep, so that a sleeping guest returns to
// its own code, where interruption is checked, at least this often.
const MaxSleepSlice = 5 * time.Millisecond

// Kind is a WebAssembly value type of a Func's parameter or result.
type Kind uint8

const (
	I32 Kind = iota
	I64
)

// ExitError is what proc_exit returns to unwind the guest.
type ExitError struct{ Code int32 }

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// System is one instance's view of the world.
type System struct {
	Env    []string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Exit is set by proc_exit.
	Exit *ExitError
	// Call is what the Host functions reach during the current call.
	Call *engine.Call
	// Random is random_get's source; nil: crypto/rand.
	Random io.Reader
}

// Func is one WASI import. Every Func but proc_exit returns one i32, the
// errno.
type Func struct {
	Name            string
	Params, Results []Kind
	call            func(s *System, mem []byte, a []uint64) (uint32, error)
}

// Call runs f with the guest's memory and raw arguments (i32 values in the
// low 32 bits). A non-nil error must trap the guest: proc_exit returns
// *ExitError, a failed stdout or stderr write the writer's error.
func (f *Func) Call(s *System, mem []byte, args []uint64) (errno uint32, err error) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(outOfBounds); !ok {
				panic(r)
			}
			errno, err = ErrnoFault, nil
		}
	}()
	return f.call(s, mem, args)
}

// outOfBounds is panicked by memory accessors and recovered by Call.
type outOfBounds struct{}

func slice(mem []byte, p, n uint64) []byte {
	if p+n > uint64(len(mem)) {
		panic(outOfBounds{})
	}
	return mem[p : p+n]
}

func u32(mem []byte, p uint64) uint32 { return binary.LittleEndian.Uint32(slice(mem, p, 4)) }

func putU32(mem []byte, p uint64, v uint32) { binary.LittleEndian.PutUint32(slice(mem, p, 4), v) }

func putU64(mem []byte, p uint64, v uint64) { binary.LittleEndian.PutUint64(slice(mem, p, 8), v) }

// arg is the i32 argument i, as an unsigned offset or count.
func arg(a []uint64, i int) uint64 { return uint64(uint32(a[i])) }

// Funcs is the shim, sorted by name.
var Funcs = []Func{
	{"args_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoSuccess, nil
	}},
	{"args_sizes_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		sizes(mem, nil, arg(a, 0), arg(a, 1))
		return ErrnoSuccess, nil
	}},
	{"clock_res_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		if a[0] > 1 {
			return ErrnoInval, nil
		}
		putU64(mem, arg(a, 1), 1000)
		return ErrnoSuccess, nil
	}},
	{"clock_time_get", []Kind{I32, I64, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		now, ok := clock(uint32(a[0]))
		if !ok {
			return ErrnoInval, nil
		}
		putU64(mem, arg(a, 2), uint64(now))
		return ErrnoSuccess, nil
	}},
	{"environ_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		writeStrings(mem, s.Env, arg(a, 0), arg(a, 1))
		return ErrnoSuccess, nil
	}},
	{"environ_sizes_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		sizes(mem, s.Env, arg(a, 0), arg(a, 1))
		return ErrnoSuccess, nil
	}},
	{"fd_close", []Kind{I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoSuccess, nil
	}},
	{"fd_fdstat_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		if a[0] > 2 {
			return ErrnoBadf, nil
		}
		st := slice(mem, arg(a, 1), 24)
		clear(st)
		st[0] = 2 // character device
		return ErrnoSuccess, nil
	}},
	{"fd_fdstat_set_flags", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoNosys, nil
	}},
	{"fd_filestat_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		if a[0] > 2 {
			return ErrnoBadf, nil
		}
		st := slice(mem, arg(a, 1), 64)
		clear(st)
		st[16] = 2 // character device
		return ErrnoSuccess, nil
	}},
	{"fd_prestat_dir_name", []Kind{I32, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoBadf, nil
	}},
	{"fd_prestat_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoBadf, nil // no preopened directories
	}},
	{"fd_read", []Kind{I32, I32, I32, I32}, []Kind{I32}, fdRead},
	{"fd_readdir", []Kind{I32, I32, I32, I64, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoBadf, nil // no directories
	}},
	{"fd_seek", []Kind{I32, I64, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoBadf, nil // nothing is seekable
	}},
	{"fd_write", []Kind{I32, I32, I32, I32}, []Kind{I32}, fdWrite},
	{"path_filestat_get", []Kind{I32, I32, I32, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoNosys, nil
	}},
	{"path_open", []Kind{I32, I32, I32, I32, I32, I64, I64, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoNosys, nil
	}},
	{"path_readlink", []Kind{I32, I32, I32, I32, I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoBadf, nil // no preopened directories to resolve a path in
	}},
	{"poll_oneoff", []Kind{I32, I32, I32, I32}, []Kind{I32}, pollOneoff},
	{"proc_exit", []Kind{I32}, nil, func(s *System, mem []byte, a []uint64) (uint32, error) {
		s.Exit = &ExitError{Code: int32(a[0])}
		return 0, s.Exit
	}},
	{"random_get", []Kind{I32, I32}, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		b := slice(mem, arg(a, 0), arg(a, 1))
		if s.Random != nil {
			io.ReadFull(s.Random, b)
		} else {
			rand.Read(b)
		}
		return ErrnoSuccess, nil
	}},
	{"sched_yield", nil, []Kind{I32}, func(s *System, mem []byte, a []uint64) (uint32, error) {
		return ErrnoSuccess, nil
	}},
}

var epoch = time.Now()

// clock reads WASI clock id: 0 realtime, 1 monotonic.
func clock(id uint32) (int64, bool) {
	switch id {
	case 0:
		return time.Now().UnixNano(), true
	case 1:
		return time.Since(epoch).Nanoseconds(), true
	}
	return 0, false
}

// writeStrings writes NUL-terminated strings at buf with their pointers
// at ptrs.
func writeStrings(mem []byte, list []string, ptrs, buf uint64) {
	for i, s := range list {
		putU32(mem, ptrs+4*uint64(i), uint32(buf))
		b := slice(mem, buf, uint64(len(s))+1)
		copy(b, s)
		b[len(s)] = 0
		buf += uint64(len(s)) + 1
	}
}

func sizes(mem []byte, list []string, countPtr, sizePtr uint64) {
	n := 0
	for _, s := range list {
		n += len(s) + 1
	}
	putU32(mem, countPtr, uint32(len(list)))
	putU32(mem, sizePtr, uint32(n))
}

// iovecs calls fn on each buffer of the guest's iovec array, until fn
// reports it is done.
func iovecs(mem []byte, iovs, n uint64, fn func(b []byte) (done bool, err error)) error {
	for i := uint64(0); i < n; i++ {
		p, l := u32(mem, iovs+8*i), u32(mem, iovs+8*i+4)
		done, err := fn(slice(mem, uint64(p), uint64(l)))
		if err != nil || done {
			return err
		}
	}
	return nil
}

func fdWrite(s *System, mem []byte, a []uint64) (uint32, error) {
	var out io.Writer
	switch a[0] {
	case 1:
		out = s.Stdout
	case 2:
		out = s.Stderr
	default:
		return ErrnoBadf, nil
	}
	if out == nil {
		out = io.Discard
	}
	total := 0
	err := iovecs(mem, arg(a, 1), arg(a, 2), func(b []byte) (bool, error) {
		n, err := out.Write(b)
		total += n
		return false, err
	})
	if err != nil {
		return 0, err // a stdout over its limit: the guest traps
	}
	putU32(mem, arg(a, 3), uint32(total))
	return ErrnoSuccess, nil
}

func fdRead(s *System, mem []byte, a []uint64) (uint32, error) {
	if a[0] != 0 {
		return ErrnoBadf, nil
	}
	total := 0
	if s.Stdin != nil {
		iovecs(mem, arg(a, 1), arg(a, 2), func(b []byte) (bool, error) {
			n, err := io.ReadFull(s.Stdin, b)
			total += n
			return err != nil, nil // a short read ends this call; EOF is 0 bytes
		})
	}
	putU32(mem, arg(a, 3), uint32(total))
	return ErrnoSuccess, nil
}

// sleep waits up to d outside the request's CPU share and returns how
// long it slept. With the request's context it sleeps until d or the
// context's end, when the guest, back in its code, is stopped; without
// one, MaxSleepSlice at most, so that the guest comes back to where
// interruption is checked that often.
func (s *System) sleep(d time.Duration) time.Duration {
	c := s.call()
	if c.Ctx == nil {
		d = min(d, MaxSleepSlice)
		c.Waiting(func() { time.Sleep(d) })
		return d
	}
	start := time.Now()
	c.Waiting(func() {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-c.Ctx.Done():
		}
	})
	return time.Since(start)
}

// pollOneoff sleeps for the shortest clock subscription and reports the
// subscriptions that are due; there are no file descriptors to wait on.
func pollOneoff(s *System, mem []byte, a []uint64) (uint32, error) {
	in, out, n := arg(a, 0), arg(a, 1), arg(a, 2)
	if n == 0 || n > 1024 {
		return ErrnoInval, nil
	}
	subs := slice(mem, in, 48*n)
	events := slice(mem, out, 32*n)
	waits := make([]int64, n)
	shortest := int64(-1)
	for i := range waits {
		sub := subs[48*i:]
		waits[i] = -1
		if sub[8] != 0 { // not a clock
			continue
		}
		t := int64(binary.LittleEndian.Uint64(sub[24:]))
		if binary.LittleEndian.Uint16(sub[40:])&1 != 0 { // absolute
			now, ok := clock(binary.LittleEndian.Uint32(sub[16:]))
			if !ok {
				return ErrnoInval, nil
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
		slept = int64(s.sleep(time.Duration(shortest)))
	}
	k := 0
	report := func(i int, errno uint16) {
		sub, ev := subs[48*i:], events[32*k:32*k+32]
		clear(ev)
		copy(ev[:8], sub[:8]) // userdata
		binary.LittleEndian.PutUint16(ev[8:], errno)
		ev[10] = sub[8]
		k++
	}
	for i, t := range waits {
		switch {
		case t < 0:
			report(i, ErrnoBadf)
		case t <= slept:
			report(i, ErrnoSuccess)
		}
	}
	if k == 0 { // woken early by the slice: report the shortest as due
		for i, t := range waits {
			if t == shortest {
				report(i, ErrnoSuccess)
				break
			}
		}
	}
	putU32(mem, arg(a, 3), uint32(k))
	return ErrnoSuccess, nil
}
