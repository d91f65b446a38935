package abi

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
)

// Version is the ABI version this package speaks. A module reports its own
// through the ExportVersion function; hosts refuse versions they do not know.
const Version = 1

// Names of the functions a handler module exports.
const (
	ExportInitialize = "_initialize"          // WASI reactor start; runs Go's init
	ExportVersion    = "nanoedge_abi_version" // () -> i32
	ExportAlloc      = "nanoedge_alloc"       // (size i32) -> ptr i32
	ExportHandle     = "nanoedge_handle"      // (ptr i32, len i32) -> (ptr<<32 | len) i64
)

// ErrMalformed reports bytes that are not a valid encoding.
var ErrMalformed = errors.New("abi: malformed message")

// Request is what the host passes to the guest.
type Request struct {
	Method     string
	URI        string // request target as sent: path plus optional "?query"
	Host       string
	RemoteAddr string
	Header     http.Header
	Body       []byte
}

// Response is what the guest returns to the host.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// AppendRequest appends the encoding of r to b.
func AppendRequest(b []byte, r *Request) []byte {
	b = appendString(b, r.Method)
	b = appendString(b, r.URI)
	b = appendString(b, r.Host)
	b = appendString(b, r.RemoteAddr)
	b = appendHeader(b, r.Header)
	return appendBytes(b, r.Body)
}

// DecodeRequest decodes a request. Body aliases b.
func DecodeRequest(b []byte) (Request, error) {
	d := decoder{b: b}
	d.intern(4, true)
	r := Request{
		Method:     d.string(),
		URI:        d.string(),
		Host:       d.string(),
		RemoteAddr: d.string(),
		Header:     d.header(),
		Body:       d.bytes(),
	}
	return r, d.finish("request")
}

// RequestSize returns the exact length of r's encoding.
func RequestSize(r *Request) int {
	return 4*5 + len(r.Method) + len(r.URI) + len(r.Host) + len(r.RemoteAddr) + headerSize(r.Header) + len(r.Body)
}

// AppendResponse appends the encoding of r to b.
func AppendResponse(b []byte, r *Response) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Status))
	b = appendHeader(b, r.Header)
	return appendBytes(b, r.Body)
}

// DecodeResponse decodes a response. Body aliases b.
func DecodeResponse(b []byte) (Response, error) {
	d := decoder{b: b}
	r := Response{Status: int(d.uint32())}
	d.intern(0, true)
	r.Header = d.header()
	r.Body = d.bytes()
	if err := d.finish("response"); err != nil {
		return Response{}, err
	}
	if r.Status < 100 || r.Status > 999 {
		return Response{}, fmt.Errorf("%w: response status %d out of range", ErrMalformed, r.Status)
	}
	return r, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBytes(b, p []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// appendHeader writes a pair count followed by (name, value) pairs; a name
// with several values is written once per value, in order.
func appendHeader(b []byte, h http.Header) []byte {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	for k, vs := range h {
		for _, v := range vs {
			b = appendString(b, k)
			b = appendString(b, v)
		}
	}
	return b
}

func headerSize(h http.Header) int {
	n := 4
	for k, vs := range h {
		n += len(vs) * (8 + len(k))
		for _, v := range vs {
			n += len(v)
		}
	}
	return n
}

// decoder reads fields from b. Strings are substrings of text, one copy
// of the string fields' bytes made by intern, so that decoding a message
// costs one string allocation instead of one per field.
type decoder struct {
	b        []byte
	text     string // copy of b[textFrom:textFrom+len(text)]
	textFrom int
	err      error
}

func (d *decoder) uint32() uint32 {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 4 {
		d.err = fmt.Errorf("%w: truncated length", ErrMalformed)
		return 0
	}
	v := binary.LittleEndian.Uint32(d.b)
	d.b = d.b[4:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uint32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: field of %d bytes but %d remain", ErrMalformed, n, len(d.b))
		return nil
	}
	p := d.b[:n:n]
	d.b = d.b[n:]
	return p
}

func (d *decoder) string() string {
	p := d.bytes()
	if len(p) == 0 {
		return ""
	}
	// p ends where the decoder stands: as far into the interned text as
	// the decoder has read since it was made.
	end := d.textFrom - len(d.b)
	if start := end - len(p); start >= 0 && end <= len(d.text) {
		return d.text[start:end]
	}
	return string(p)
}

// intern copies the next fields strings and, if header, the header after
// them into one string, for string to slice. A malformed message is left
// for the decoding itself to report.
func (d *decoder) intern(fields int, header bool) {
	c := decoder{b: d.b}
	for i := 0; i < fields; i++ {
		c.bytes()
	}
	if header {
		if n := c.uint32(); c.err == nil && uint64(n)*8 <= uint64(len(c.b)) {
			for i := uint32(0); i < 2*n; i++ {
				c.bytes()
			}
		}
	}
	if c.err != nil {
		return
	}
	d.text = string(d.b[:len(d.b)-len(c.b)])
	d.textFrom = len(d.b) // remaining length where text starts
}

func (d *decoder) header() http.Header {
	n := d.uint32()
	if d.err != nil {
		return nil
	}
	// Each pair takes at least 8 bytes; a count beyond that is a lie and
	// must not drive an allocation.
	if uint64(n)*8 > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: %d header pairs cannot fit in %d bytes", ErrMalformed, n, len(d.b))
		return nil
	}
	h := make(http.Header, n)
	values := make([]string, n) // one backing array; a repeated name appends past its slot's cap
	for i := uint32(0); i < n && d.err == nil; i++ {
		k := d.string()
		v := d.string()
		if d.err != nil {
			break
		}
		if vs, ok := h[k]; ok {
			h[k] = append(vs, v)
			continue
		}
		values[i] = v
		h[k] = values[i : i+1 : i+1]
	}
	return h
}

func (d *decoder) finish(what string) error {
	if d.err != nil {
		return fmt.Errorf("decode %s: %w", what, d.err)
	}
	if len(d.b) != 0 {
		return fmt.Errorf("decode %s: %w: %d trailing bytes", what, ErrMalformed, len(d.b))
	}
	return nil
}
