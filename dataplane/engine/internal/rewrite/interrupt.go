package rewrite

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// The globals an instrumented module exports. To stop a guest, a host
// sets GlobalName to 1, then CountdownName to 0: the countdown makes the
// guest look at the flag at its next count. (Should the guest's own
// decrement overwrite the zero, it looks within YieldInterval counts
// anyway; the flag is what stays set.)
const (
	GlobalName    = "nanoedge_interrupt"
	CountdownName = "nanoedge_countdown"
)

var (
	// ErrUnsupported: the module uses an encoding or instruction this
	// package does not walk (SIMD, threads, exceptions, 64-bit memory).
	// Hosts fall back to another way of stopping it.
	ErrUnsupported = errors.New("rewrite: unsupported module")
	// ErrMalformed: the bytes are not a well-formed module.
	ErrMalformed = errors.New("rewrite: malformed module")
)

const (
	secCustom   = 0
	secType     = 1
	secImport   = 2
	secFunction = 3
	secMemory   = 5
	secGlobal   = 6
	secExport   = 7
	secCode     = 10
)

// YieldInterval is how many counts (loop iterations and calls) a guest
// runs between looks at the interrupt flag and yields: a `memory.grow 0`, which engines that
// compile to machine code run by leaving it (wazero returns to Go), so
// that the host's runtime can stop the thread for its garbage collector.
// A guest spinning in a loop that never left machine code would hold up
// every stop-the-world, and with it the goroutine that raises the flag.
const YieldInterval = 1 << 14

type section struct {
	id      byte
	payload []byte
}

// Instrument returns a copy of wasm that counts down a global at the head
// of every loop and before every call no count dominates. When the count
// reaches zero, every YieldInterval counts or as soon as the host zeroes
// it, the guest traps (unreachable) if the interrupt flag is set, and
// otherwise yields and starts counting again. Both globals are exported
// (GlobalName, CountdownName). Modules without a memory to yield through
// are ErrUnsupported. DWARF sections are dropped: their code offsets would
// no longer hold.
func Instrument(wasm []byte) ([]byte, error) {
	all, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	var secs []section
	for _, s := range all {
		if s.id != secCustom || !isDebug(s.payload) {
			secs = append(secs, s)
		}
	}
	importedFuncs, definedFuncs, types := 0, 0, 0
	importedGlobals, definedGlobals, memories := 0, 0, 0
	hasTypes, hasFuncs, hasCode := false, false, false
	for _, s := range secs {
		var err error
		switch s.id {
		case secType:
			types, err = count(s.payload)
			hasTypes = true
		case secFunction:
			definedFuncs, err = count(s.payload)
			hasFuncs = true
		case secCode:
			hasCode = true
		case secImport:
			importedFuncs, importedGlobals, memories, err = countImports(s.payload)
		case secMemory:
			var n int
			n, err = count(s.payload)
			memories += n
		case secGlobal:
			definedGlobals, err = count(s.payload)
		case secExport:
			err = checkExports(s.payload)
		}
		if err != nil {
			return nil, err
		}
	}
	if memories == 0 {
		return nil, fmt.Errorf("%w: no memory to yield through", ErrUnsupported)
	}
	if hasCode && (!hasTypes || !hasFuncs) {
		return nil, fmt.Errorf("%w: code without types or functions", ErrMalformed)
	}
	// The checks call a function of their own, added after the module's
	// functions with a type added after its types: no index moves.
	global := uint32(importedGlobals + definedGlobals)
	slow := uint32(importedFuncs + definedFuncs)
	check := countCheck(global+1, slow)

	out := bytes.NewBuffer(make([]byte, 0, len(wasm)+len(wasm)/16))
	out.Write(wasm[:8])
	wroteGlobal, wroteExport := false, false
	for _, s := range secs {
		// The global section comes before exports; a module without one
		// gets it just before the export section or anything after it.
		if !wroteGlobal && s.id != secCustom && order(s.id) > order(secGlobal) {
			writeSection(out, secGlobal, append([]byte{2}, newGlobals()...))
			wroteGlobal = true
		}
		if !wroteExport && s.id != secCustom && order(s.id) > order(secExport) {
			writeSection(out, secExport, append([]byte{2}, newExports(global)...))
			wroteExport = true
		}
		payload := s.payload
		var err error
		switch s.id {
		case secType:
			if hasCode {
				payload, err = appendToVector(payload, 1, []byte{0x60, 0x00, 0x00}) // () -> ()
			}
		case secFunction:
			if hasCode {
				payload, err = appendToVector(payload, 1, uleb(uint32(types)))
			}
		case secGlobal:
			payload, err = appendToVector(payload, 2, newGlobals())
			wroteGlobal = true
		case secExport:
			payload, err = appendToVector(payload, 2, newExports(global))
			wroteExport = true
		case secCode:
			if payload, err = instrumentCode(payload, check); err == nil {
				body := slowCheck(global, global+1)
				payload, err = appendToVector(payload, 1, append(uleb(uint32(len(body))), body...))
			}
		}
		if err != nil {
			return nil, err
		}
		writeSection(out, s.id, payload)
	}
	if !wroteGlobal {
		writeSection(out, secGlobal, append([]byte{2}, newGlobals()...))
	}
	if !wroteExport {
		writeSection(out, secExport, append([]byte{2}, newExports(global)...))
	}
	return out.Bytes(), nil
}

// order is a section's place in the module (data count comes before code).
func order(id byte) int {
	switch id {
	case 12: // data count
		return 10
	case 13: // tag
		return 6
	case 10, 11:
		return int(id) + 1
	}
	return int(id)
}

func isDebug(payload []byte) bool {
	r := &reader{b: payload}
	name := r.sized()
	return r.err == nil && strings.HasPrefix(string(name), ".debug_")
}

// newGlobals is the two global entries: the interrupt flag, (mut i32 0),
// and the countdown, (mut i32 YieldInterval).
func newGlobals() []byte {
	b := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b, 0x7f, 0x01, 0x41}
	b = append(b, sleb(YieldInterval)...)
	return append(b, 0x0b)
}

// newExports is the export entries of the flag and the countdown.
func newExports(flag uint32) []byte {
	var b []byte
	for i, name := range []string{GlobalName, CountdownName} {
		b = append(b, uleb(uint32(len(name)))...)
		b = append(b, name...)
		b = append(b, 0x03)
		b = append(b, uleb(flag+uint32(i))...)
	}
	return b
}

// countCheck runs at each loop head and undominated call: count down, and
// at zero or below call the slow path. It is a load, a store and a branch
// when the countdown is not done.
func countCheck(countdown, slow uint32) []byte {
	c := uleb(countdown)
	b := append([]byte{0x23}, c...)
	b = append(b, 0x41, 0x01, 0x6b, 0x24) // global.get countdown; i32.const 1; i32.sub; global.set
	b = append(b, c...)
	b = append(b, 0x23)
	b = append(b, c...)
	b = append(b, 0x41, 0x01, 0x48, 0x04, 0x40, 0x10) // global.get countdown; i32.const 1; i32.lt_s; if; call
	b = append(b, uleb(slow)...)
	return append(b, 0x0b) // end
}

// slowCheck is the body of the function the checks call: trap if the
// flag is raised, else start counting again and yield.
func slowCheck(flag, countdown uint32) []byte {
	b := append([]byte{0x00, 0x23}, uleb(flag)...) // no locals; global.get flag
	b = append(b, 0x04, 0x40, 0x00, 0x0b, 0x41)    // if; unreachable; end; i32.const
	b = append(b, sleb(YieldInterval)...)
	b = append(b, 0x24)
	b = append(b, uleb(countdown)...) // global.set countdown
	// i32.const 0; memory.grow 0; drop; end
	return append(b, 0x41, 0x00, 0x40, 0x00, 0x1a, 0x0b)
}

func writeSection(out *bytes.Buffer, id byte, payload []byte) {
	out.WriteByte(id)
	out.Write(uleb(uint32(len(payload))))
	out.Write(payload)
}

// appendToVector adds k entries to a section that is a vector of entries.
func appendToVector(payload []byte, k uint32, entries []byte) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	if r.err != nil {
		return nil, r.err
	}
	out := append(uleb(n+k), payload[r.off:]...)
	return append(out, entries...), nil
}

func count(payload []byte) (int, error) {
	r := &reader{b: payload}
	n := r.u32()
	return int(n), r.err
}

// countImports counts the imported functions, globals and memories. Tags
// are ErrUnsupported: the instrumenter does not walk exception handling.
func countImports(payload []byte) (functions, globals, memories int, err error) {
	r := &reader{b: payload}
	for i, n := 0, r.u32(); i < int(n) && r.err == nil; i++ {
		switch r.importEntry() {
		case 0x00:
			functions++
		case 0x02:
			memories++
		case 0x03:
			globals++
		case 0x04:
			return 0, 0, 0, fmt.Errorf("%w: import kind 0x4", ErrUnsupported)
		}
	}
	return functions, globals, memories, r.err
}

func checkExports(payload []byte) error {
	r := &reader{b: payload}
	for i, n := 0, r.u32(); i < int(n) && r.err == nil; i++ {
		if name := string(r.sized()); name == GlobalName || name == CountdownName {
			return fmt.Errorf("%w: the module already exports %s", ErrMalformed, name)
		}
		r.byte()
		r.u32()
	}
	return r.err
}

// instrumentCode rewrites every function body of the code section.
func instrumentCode(payload, check []byte) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	out := uleb(n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		body := r.bytes(int(size))
		if r.err != nil {
			break
		}
		nb, err := instrumentBody(body, check)
		if err != nil {
			return nil, fmt.Errorf("function body %d: %w", i, err)
		}
		out = append(out, uleb(uint32(len(nb)))...)
		out = append(out, nb...)
	}
	if r.err == nil && r.off != len(r.b) {
		return nil, fmt.Errorf("%w: trailing bytes in the code section", ErrMalformed)
	}
	return out, r.err
}

// instrumentBody counts at the head of every loop, and before every call
// that no count dominates: whatever a guest runs between two counts is
// bounded by the size of its code, even when it recurses without loops,
// since an invocation that calls anything has counted first. Dominance
// is judged on the structure alone: inside a loop everything is dominated
// by its head; after a count, the rest of the enclosing block is, until
// its end, where a branch from before the count may arrive. (For Go's
// functions this adds one count, on the rarely taken path that grows the
// stack before the function's loop.)
func instrumentBody(body, check []byte) ([]byte, error) {
	r := &reader{b: body}
	for i, n := 0, r.u32(); i < int(n) && r.err == nil; i++ { // locals
		r.u32()
		r.byte()
	}
	out := make([]byte, 0, len(body)+len(body)/8)
	checked := false
	outer := []bool{false} // per enclosing block: was the code before it checked? The first is the body's.
	copied := 0            // body[:copied] is in out
	for r.off < len(r.b) && r.err == nil {
		start := r.off
		switch op := r.byte(); op {
		case 0x02, 0x04: // block, if
			r.blockType()
			outer = append(outer, checked)
		case 0x03: // loop: count at the head of every iteration
			r.blockType()
			outer = append(outer, checked)
			out = append(out, body[copied:r.off]...)
			out = append(out, check...)
			copied, checked = r.off, true
		case 0x05: // else: as the if began
			if len(outer) == 0 {
				return nil, fmt.Errorf("%w: else without an if", ErrMalformed)
			}
			checked = outer[len(outer)-1]
		case 0x0b: // end: branches from before any count may arrive here
			if len(outer) == 0 {
				return nil, fmt.Errorf("%w: end without a block", ErrMalformed)
			}
			checked, outer = outer[len(outer)-1], outer[:len(outer)-1]
		case 0x10, 0x11, 0x12, 0x13: // call, call_indirect, return_call, return_call_indirect
			if err := r.skipImmediates(op); err != nil {
				return nil, err
			}
			if !checked {
				out = append(out, body[copied:start]...)
				out = append(out, check...)
				copied, checked = start, true
			}
		default:
			if err := r.skipImmediates(op); err != nil {
				return nil, err
			}
		}
	}
	out = append(out, body[copied:]...)
	if r.err == nil && len(outer) != 0 {
		return nil, fmt.Errorf("%w: function body without its end", ErrMalformed)
	}
	return out, r.err
}

// ErrTooMuchMemory: a module declares more initial memory than the cap.
var ErrTooMuchMemory = errors.New("rewrite: module declares more memory than allowed")

// CapMemory returns a copy of wasm whose memories may grow to at most
// pages 64 KiB pages, for engines that cannot cap memory themselves: a
// memory.grow past it fails as the guest's allocator expects.
func CapMemory(wasm []byte, pages uint32) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	out := bytes.NewBuffer(make([]byte, 0, len(wasm)))
	out.Write(wasm[:8])
	for _, s := range secs {
		payload := s.payload
		if s.id == secMemory {
			if payload, err = capMemories(payload, pages); err != nil {
				return nil, err
			}
		}
		writeSection(out, s.id, payload)
	}
	return out.Bytes(), nil
}

func capMemories(payload []byte, pages uint32) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	out := uleb(n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.byte()
		if flags > 3 {
			return nil, fmt.Errorf("%w: memory limits flags %#x", ErrUnsupported, flags)
		}
		lo, hi := r.u32(), pages
		if flags&1 != 0 {
			hi = min(r.u32(), pages)
		}
		if lo > pages {
			return nil, fmt.Errorf("%w: %d pages initially, the cap is %d", ErrTooMuchMemory, lo, pages)
		}
		out = append(out, flags|1)
		out = append(out, uleb(lo)...)
		out = append(out, uleb(hi)...)
	}
	if r.err == nil && r.off != len(r.b) {
		return nil, fmt.Errorf("%w: trailing bytes in the memory section", ErrMalformed)
	}
	return out, r.err
}
