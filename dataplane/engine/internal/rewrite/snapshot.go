package rewrite

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Snapshots: a module initialized once (its _initialize run) is captured
// as a new module whose globals and memory start where initialization
// left them, so that instances skip initialization entirely, as Wizer
// does. ExportGlobals makes a module's globals readable from outside;
// Snapshot builds the pre-initialized module from their values and the
// memory.

const (
	secStart     = 8
	secData      = 11
	secDataCount = 12
)

// globalExport names the export of defined global i.
func globalExport(i int) string { return fmt.Sprintf("nanoedge_global_%d", i) }

// ExportGlobals returns a copy of wasm that exports each global it
// defines, and the export names, in order.
func ExportGlobals(wasm []byte) ([]byte, []string, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, nil, err
	}
	imported, defined := 0, 0
	for _, s := range secs {
		switch s.id {
		case secImport:
			_, imported, _, err = countImports(s.payload)
		case secGlobal:
			defined, err = count(s.payload)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	var names []string
	var entries []byte
	for i := 0; i < defined; i++ {
		name := globalExport(i)
		names = append(names, name)
		entries = append(entries, uleb(uint32(len(name)))...)
		entries = append(entries, name...)
		entries = append(entries, 0x03)
		entries = append(entries, uleb(uint32(imported+i))...)
	}
	out := bytes.NewBuffer(append([]byte(nil), wasm[:8]...))
	wrote := false
	for _, s := range secs {
		if !wrote && s.id != secCustom && order(s.id) > order(secExport) {
			writeSection(out, secExport, append(uleb(uint32(defined)), entries...))
			wrote = true
		}
		payload := s.payload
		if s.id == secExport {
			r := &reader{b: payload}
			n := r.u32()
			if r.err != nil {
				return nil, nil, r.err
			}
			payload = append(append(uleb(n+uint32(defined)), payload[r.off:]...), entries...)
			wrote = true
		}
		writeSection(out, s.id, payload)
	}
	if !wrote {
		writeSection(out, secExport, append(uleb(uint32(defined)), entries...))
	}
	return out.Bytes(), names, nil
}

// Snapshot returns wasm (as ExportGlobals returned it) with every defined
// global initialized to values[i], memory 0 holding exactly memory, and
// no start section: what an instance looked like when the values were
// read. Modules with passive data segments, a data count section or
// vector or reference globals are ErrUnsupported.
func Snapshot(wasm []byte, values []uint64, memory []byte) ([]byte, error) {
	secs, err := sections(wasm)
	if err != nil {
		return nil, err
	}
	if len(memory)%65536 != 0 {
		return nil, fmt.Errorf("%w: memory of %d bytes is not whole pages", ErrMalformed, len(memory))
	}
	out := bytes.NewBuffer(append([]byte(nil), wasm[:8]...))
	wroteData := false
	for _, s := range secs {
		payload := s.payload
		switch s.id {
		case secStart:
			continue // what it did is in the snapshot
		case secDataCount:
			return nil, fmt.Errorf("%w: a data count section", ErrUnsupported)
		case secGlobal:
			if payload, err = snapshotGlobals(payload, values); err != nil {
				return nil, err
			}
		case secMemory:
			if payload, err = snapshotMemory(payload, uint32(len(memory)/65536)); err != nil {
				return nil, err
			}
		case secData:
			if err := allActive(payload); err != nil {
				return nil, err
			}
			payload, wroteData = dataSegments(memory), true
		}
		if !wroteData && s.id != secCustom && order(s.id) > order(secData) {
			writeSection(out, secData, dataSegments(memory))
			wroteData = true
		}
		writeSection(out, s.id, payload)
	}
	if !wroteData {
		writeSection(out, secData, dataSegments(memory))
	}
	return out.Bytes(), nil
}

func sections(wasm []byte) ([]section, error) {
	if len(wasm) < 8 || !bytes.Equal(wasm[:8], []byte("\x00asm\x01\x00\x00\x00")) {
		return nil, fmt.Errorf("%w: no wasm header", ErrMalformed)
	}
	r := &reader{b: wasm, off: 8}
	var secs []section
	for r.off < len(r.b) {
		id := r.byte()
		payload := r.sized()
		if r.err != nil {
			return nil, r.err
		}
		secs = append(secs, section{id, payload})
	}
	return secs, nil
}

func snapshotGlobals(payload []byte, values []uint64) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	if int(n) != len(values) {
		return nil, fmt.Errorf("%w: %d globals, %d values", ErrMalformed, n, len(values))
	}
	out := uleb(n)
	for i := 0; i < int(n) && r.err == nil; i++ {
		typ, mut := r.byte(), r.byte()
		for r.err == nil { // skip the old init expression
			op := r.byte()
			if op == 0x0b {
				break
			}
			if err := r.skipImmediates(op); err != nil {
				return nil, err
			}
		}
		out = append(out, typ, mut)
		v := values[i]
		switch typ {
		case 0x7f:
			out = append(out, 0x41)
			out = append(out, sleb(int64(int32(uint32(v))))...)
		case 0x7e:
			out = append(out, 0x42)
			out = append(out, sleb(int64(v))...)
		case 0x7d:
			out = append(out, 0x43)
			out = binary.LittleEndian.AppendUint32(out, uint32(v))
		case 0x7c:
			out = append(out, 0x44)
			out = binary.LittleEndian.AppendUint64(out, v)
		default:
			return nil, fmt.Errorf("%w: global of type %#x", ErrUnsupported, typ)
		}
		out = append(out, 0x0b)
	}
	return out, r.err
}

func snapshotMemory(payload []byte, pages uint32) ([]byte, error) {
	r := &reader{b: payload}
	n := r.u32()
	if n != 1 {
		return nil, fmt.Errorf("%w: %d memories", ErrUnsupported, n)
	}
	flags := r.byte()
	if flags > 1 {
		return nil, fmt.Errorf("%w: memory limits flags %#x", ErrUnsupported, flags)
	}
	r.u32()
	out := append(uleb(1), flags)
	out = append(out, uleb(pages)...)
	if flags&1 != 0 {
		out = append(out, uleb(max(r.u32(), pages))...)
	}
	return out, r.err
}

func allActive(payload []byte) error {
	r := &reader{b: payload}
	for i, n := 0, r.u32(); i < int(n) && r.err == nil; i++ {
		switch flag := r.u32(); flag {
		case 0:
		case 2:
			r.u32() // memory index
		default:
			return fmt.Errorf("%w: passive data segments", ErrUnsupported)
		}
		for r.err == nil { // offset expression
			op := r.byte()
			if op == 0x0b {
				break
			}
			if err := r.skipImmediates(op); err != nil {
				return err
			}
		}
		r.sized()
	}
	return r.err
}

// dataSegments encodes memory as active segments of its non-zero runs;
// zero gaps shorter than gap stay inside a run.
func dataSegments(memory []byte) []byte {
	const gap = 4096 // a segment costs the host more than copying this many zeros
	var segs [][2]int
	for i := 0; i < len(memory); {
		for i < len(memory) && memory[i] == 0 {
			i++
		}
		if i == len(memory) {
			break
		}
		start, zeros := i, 0
		for ; i < len(memory) && zeros < gap; i++ {
			if memory[i] == 0 {
				zeros++
			} else {
				zeros = 0
			}
		}
		segs = append(segs, [2]int{start, i - zeros})
	}
	out := uleb(uint32(len(segs)))
	for _, s := range segs {
		out = append(out, 0x00, 0x41) // active, memory 0, i32.const offset
		out = append(out, sleb(int64(int32(uint32(s[0]))))...)
		out = append(out, 0x0b)
		out = append(out, uleb(uint32(s[1]-s[0]))...)
		out = append(out, memory[s[0]:s[1]]...)
	}
	return out
}

func sleb(v int64) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}
