package wasishim

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"
)

func lookup(t *testing.T, name string) *Func { return find(t, Funcs, name) }

// find is the function of that name in funcs.
func find(t *testing.T, funcs []Func, name string) *Func {
	t.Helper()
	for i := range funcs {
		if funcs[i].Name == name {
			return &funcs[i]
		}
	}
	t.Fatalf("no %s", name)
	return nil
}

func TestFuncsAreSortedAndTyped(t *testing.T) {
	for i, f := range Funcs {
		if i > 0 && Funcs[i-1].Name >= f.Name {
			t.Fatalf("%s after %s", f.Name, Funcs[i-1].Name)
		}
		if f.Name != "proc_exit" && (len(f.Results) != 1 || f.Results[0] != I32) {
			t.Fatalf("%s must return one i32 errno", f.Name)
		}
	}
}

// TestPointersOutsideMemory: a guest passing pointers past its memory gets
// EFAULT, and the host does not panic.
func TestPointersOutsideMemory(t *testing.T) {
	mem := make([]byte, 64)
	s := &System{Env: []string{"A=1"}, Stdin: strings.NewReader("in"), Stdout: &bytes.Buffer{}}
	far := uint64(1 << 20)
	tests := []struct {
		name string
		args []uint64
	}{
		{"clock_time_get", []uint64{0, 0, far}},
		{"environ_get", []uint64{far, far}},
		{"environ_sizes_get", []uint64{60, far}},
		{"fd_write", []uint64{1, far, 1, 0}},
		{"fd_write", []uint64{1, 0, 1 << 30, 0}},
		{"fd_read", []uint64{0, 56, 1, 0}},
		{"random_get", []uint64{32, 64}},
		{"poll_oneoff", []uint64{0, 0, 1000, 0}},
		{"fd_fdstat_get", []uint64{1, 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "fd_read" {
				binary.LittleEndian.PutUint32(mem[56:], uint32(far)) // iovec pointing outside
				binary.LittleEndian.PutUint32(mem[60:], 4)
			}
			errno, err := lookup(t, tt.name).Call(s, mem, tt.args)
			if errno != ErrnoFault || err != nil {
				t.Fatalf("exp EFAULT, got %d %v", errno, err)
			}
		})
	}
}

func TestWriteReadEnviron(t *testing.T) {
	mem := make([]byte, 256)
	var out, errOut bytes.Buffer
	s := &System{Env: []string{"REQUEST_METHOD=GET", "X=y"}, Stdin: strings.NewReader("hello"), Stdout: &out, Stderr: &errOut}

	copy(mem[100:], "to stdout")
	binary.LittleEndian.PutUint32(mem[0:], 100)
	binary.LittleEndian.PutUint32(mem[4:], 9)
	if errno, err := lookup(t, "fd_write").Call(s, mem, []uint64{1, 0, 1, 8}); errno != 0 || err != nil {
		t.Fatal(errno, err)
	}
	if out.String() != "to stdout" || binary.LittleEndian.Uint32(mem[8:]) != 9 {
		t.Fatalf("stdout %q, written %d", out.String(), binary.LittleEndian.Uint32(mem[8:]))
	}
	if errno, _ := lookup(t, "fd_write").Call(s, mem, []uint64{7, 0, 1, 8}); errno != ErrnoBadf {
		t.Fatalf("fd 7: exp EBADF, got %d", errno)
	}

	binary.LittleEndian.PutUint32(mem[0:], 120)
	binary.LittleEndian.PutUint32(mem[4:], 16)
	if errno, err := lookup(t, "fd_read").Call(s, mem, []uint64{0, 0, 1, 8}); errno != 0 || err != nil {
		t.Fatal(errno, err)
	}
	if n := binary.LittleEndian.Uint32(mem[8:]); n != 5 || string(mem[120:125]) != "hello" {
		t.Fatalf("read %d bytes: %q", n, mem[120:125])
	}

	if errno, _ := lookup(t, "environ_sizes_get").Call(s, mem, []uint64{0, 4}); errno != 0 {
		t.Fatal(errno)
	}
	if c, n := binary.LittleEndian.Uint32(mem[0:]), binary.LittleEndian.Uint32(mem[4:]); c != 2 || n != 23 {
		t.Fatalf("environ sizes %d %d", c, n)
	}
	if errno, _ := lookup(t, "environ_get").Call(s, mem, []uint64{0, 200}); errno != 0 {
		t.Fatal(errno)
	}
	if got := string(mem[200:223]); got != "REQUEST_METHOD=GET\x00X=y\x00" || binary.LittleEndian.Uint32(mem[4:]) != 219 {
		t.Fatalf("environ %q", got)
	}
}

func TestExitUnwinds(t *testing.T) {
	s := &System{}
	_, err := lookup(t, "proc_exit").Call(s, nil, []uint64{3})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.Code != 3 || s.Exit != exit {
		t.Fatalf("exp exit code 3, got %v", err)
	}
}

// TestSleepsAreSliced: a guest asking for a long sleep is back within
// MaxSleepSlice, told its timer is due, so it can be interrupted.
func TestSleepsAreSliced(t *testing.T) {
	mem := make([]byte, 256)
	sub := mem[0:48]
	binary.LittleEndian.PutUint64(sub[0:], 0xfeed)                           // userdata
	sub[8] = 0                                                               // clock
	binary.LittleEndian.PutUint32(sub[16:], 1)                               // monotonic
	binary.LittleEndian.PutUint64(sub[24:], uint64(time.Hour.Nanoseconds())) // relative
	start := time.Now()
	errno, err := lookup(t, "poll_oneoff").Call(&System{}, mem, []uint64{0, 64, 1, 200})
	if errno != 0 || err != nil {
		t.Fatal(errno, err)
	}
	if d := time.Since(start); d > 20*MaxSleepSlice {
		t.Fatalf("slept %v", d)
	}
	if n := binary.LittleEndian.Uint32(mem[200:]); n != 1 || binary.LittleEndian.Uint64(mem[64:]) != 0xfeed {
		t.Fatalf("exp one event for the timer, got %d", n)
	}
}
