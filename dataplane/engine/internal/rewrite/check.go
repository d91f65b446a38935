package rewrite

import "fmt"

// MaxLocals is the most locals a function may declare (as in wasmtime and
// V8).
const MaxLocals = 50000

const (
	secTable   = 4
	secElement = 9
	secTag     = 13
)

// CheckBounds reports a module whose declared counts and lengths exceed
// the bytes it has (ErrMalformed), or a function declaring more than
// MaxLocals locals (ErrUnsupported). Decoders that allocate by a declared
// count before reading what it counts, as wazero's does, could otherwise
// be made to allocate gigabytes by a few bytes of input. It walks the
// module's structure, not its code, and judges nothing else: engines
// validate the rest.
func CheckBounds(wasm []byte) error {
	secs, err := sections(wasm)
	if err != nil {
		return err
	}
	for _, s := range secs {
		r := &reader{b: s.payload}
		switch s.id {
		case secCustom:
			if string(r.sized()) == "name" {
				r.nameSection()
			}
		case secType:
			for n := r.count(); n > 0 && r.err == nil; n-- {
				if form := r.byte(); form != 0x60 {
					return fmt.Errorf("%w: type form %#x", ErrUnsupported, form)
				}
				for k := r.count(); k > 0; k-- { // parameters
					r.valueType()
				}
				for k := r.count(); k > 0; k-- { // results
					r.valueType()
				}
			}
		case secImport:
			for n := r.count(); n > 0 && r.err == nil; n-- {
				r.importEntry()
			}
		case secFunction, secMemory, secGlobal, secExport, secTable, secTag:
			// Entries of at least a byte each; their insides are checked
			// by the engine as it reads them, allocating nothing by count.
			r.count()
		case secElement:
			for n := r.count(); n > 0 && r.err == nil; n-- {
				r.elementSegment()
			}
		case secCode:
			for n := r.count(); n > 0 && r.err == nil; n-- {
				body := &reader{b: r.sized()}
				locals := uint64(0)
				for g := body.count(); g > 0 && body.err == nil; g-- {
					locals += uint64(body.u32())
					body.valueType()
				}
				if body.err != nil {
					return body.err
				}
				if locals > MaxLocals {
					return fmt.Errorf("%w: a function declares %d locals, at most %d are allowed", ErrUnsupported, locals, MaxLocals)
				}
			}
		case secData:
			for n := r.count(); n > 0 && r.err == nil; n-- {
				switch flags := r.u32(); flags {
				case 0:
					r.constExpr()
				case 1:
				case 2:
					r.u32()
					r.constExpr()
				default:
					return fmt.Errorf("%w: data segment flags %d", ErrMalformed, flags)
				}
				r.sized() // the bytes
			}
		}
		if r.err != nil {
			return fmt.Errorf("section %d: %w", s.id, r.err)
		}
	}
	return nil
}

// elementSegment reads one segment in any of its eight encodings.
func (r *reader) elementSegment() {
	flags := r.u32()
	if flags > 7 {
		r.fail("element segment flags %d", flags)
		return
	}
	if flags&2 != 0 && flags&1 == 0 { // explicit table index
		r.u32()
	}
	if flags&1 == 0 { // active: an offset
		r.constExpr()
	}
	if flags&3 != 0 { // element kind or reference type
		r.valueType()
	}
	for n := r.count(); n > 0 && r.err == nil; n-- {
		if flags&4 != 0 {
			r.constExpr()
		} else {
			r.u32()
		}
	}
}

// nameSection bounds the name section's subsections, whose maps decoders
// also size by their counts.
func (r *reader) nameSection() {
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		sub := &reader{b: r.sized()}
		switch id {
		case 0: // module name
			sub.sized()
		case 1: // function names
			for n := sub.count(); n > 0 && sub.err == nil; n-- {
				sub.u32()
				sub.sized()
			}
		case 2: // local names
			for n := sub.count(); n > 0 && sub.err == nil; n-- {
				sub.u32()
				for k := sub.count(); k > 0 && sub.err == nil; k-- {
					sub.u32()
					sub.sized()
				}
			}
		}
		if sub.err != nil && r.err == nil {
			r.err = sub.err
		}
	}
}
