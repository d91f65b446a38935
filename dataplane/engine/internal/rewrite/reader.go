package rewrite

import "fmt"

// reader walks module bytes; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format+" at byte %d", append([]any{ErrMalformed}, append(args, r.off)...)...)
	}
}

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		r.fail("%d bytes past the end", n)
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) u32() uint32 {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c := r.byte()
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 too long")
	return 0
}

// sleb skips a signed LEB128 of at most max bytes.
func (r *reader) sleb(max int) {
	for i := 0; i < max; i++ {
		if r.byte()&0x80 == 0 {
			return
		}
	}
	r.fail("LEB128 too long")
}

func (r *reader) limits() {
	switch flags := r.byte(); flags {
	case 0x00, 0x02:
		r.u32()
	case 0x01, 0x03:
		r.u32()
		r.u32()
	default:
		if r.err == nil {
			r.err = fmt.Errorf("%w: limits flags %#x", ErrUnsupported, flags)
		}
	}
}

func (r *reader) blockType() {
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return
	}
	switch c := r.b[r.off]; c {
	case 0x40, 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		r.byte()
	default:
		r.sleb(5) // a type index, as s33
	}
}

func (r *reader) memarg() {
	align := r.u32()
	if align&0x40 != 0 { // multi-memory: a memory index follows
		r.u32()
	}
	r.u32()
}

// skipImmediates moves past an instruction's immediates.
func (r *reader) skipImmediates(op byte) error {
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block loop if
		r.blockType()
	case op == 0x0c || op == 0x0d || op == 0x10 || op == 0x12: // br br_if call return_call
		r.u32()
	case op == 0x0e: // br_table
		for i, n := 0, r.u32(); i <= int(n) && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x11 || op == 0x13: // call_indirect return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1c: // select with types
		r.sized()
	case op >= 0x20 && op <= 0x26: // locals, globals, table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3e: // loads and stores
		r.memarg()
	case op == 0x3f || op == 0x40: // memory.size memory.grow
		r.u32()
	case op == 0x41:
		r.sleb(5)
	case op == 0x42:
		r.sleb(10)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xd0: // ref.null
		r.byte()
	case op == 0xd2: // ref.func
		r.u32()
	case op == 0xfc:
		switch sub := r.u32(); {
		case sub <= 7: // saturating truncations
		case sub == 8 || sub == 10 || sub == 12 || sub == 14: // memory.init memory.copy table.init table.copy
			r.u32()
			r.u32()
		case sub == 9 || sub == 11 || sub == 13 || sub >= 15 && sub <= 17: // data.drop memory.fill elem.drop table.grow/size/fill
			r.u32()
		default:
			return fmt.Errorf("%w: instruction 0xfc %d", ErrUnsupported, sub)
		}
	case op <= 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b: // unreachable nop else end return drop select
	case op >= 0x45 && op <= 0xc4: // numeric
	case op == 0xd1: // ref.is_null
	default:
		return fmt.Errorf("%w: instruction %#x", ErrUnsupported, op)
	}
	return r.err
}

// count reads a vector's length, which may not exceed the bytes left: each
// entry takes at least one.
func (r *reader) count() uint32 {
	n := r.u32()
	if r.err == nil && int64(n) > int64(len(r.b)-r.off) {
		r.fail("a vector of %d entries in %d bytes", n, len(r.b)-r.off)
		return 0
	}
	return n
}

// sized reads a length and that many bytes: a name, a section, a body.
func (r *reader) sized() []byte { return r.bytes(int(r.u32())) }

// valueType reads a value type: one byte, or a reference type with its
// heap type.
func (r *reader) valueType() {
	if t := r.byte(); t == 0x63 || t == 0x64 {
		r.sleb(5)
	}
}

func (r *reader) constExpr() {
	for r.err == nil {
		op := r.byte()
		if op == 0x0b {
			return
		}
		if err := r.skipImmediates(op); err != nil && r.err == nil {
			r.err = err
		}
	}
}

// importEntry reads one import and returns its kind: 0 function, 1 table,
// 2 memory, 3 global, 4 tag.
func (r *reader) importEntry() byte {
	r.sized() // module
	r.sized() // field
	kind := r.byte()
	switch kind {
	case 0x00: // function: a type index
		r.u32()
	case 0x01: // table
		r.valueType()
		r.limits()
	case 0x02: // memory
		r.limits()
	case 0x03: // global
		r.valueType()
		r.byte()
	case 0x04: // tag: an attribute and a type index
		r.byte()
		r.u32()
	default:
		if r.err == nil {
			r.err = fmt.Errorf("%w: import kind %#x", ErrUnsupported, kind)
		}
	}
	return kind
}

func uleb(v uint32) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}
