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

// The functions a host offers a handler beside WASI, under ImportModule,
// all optional to import: a handler reads its worker's feature flags and
// edge data with them, as of the registry revision the worker serves,
// the same for every call within one request.
const (
	ImportModule = "nanoedge"
	// ImportFlag: (name ptr i32, name len i32) -> i32: FlagOn, FlagOff or
	// NotFound.
	ImportFlag = "flag_get"
	// ImportKVGet: (store ptr, store len, key ptr, key len, buf ptr,
	// buf cap: i32) -> i32: the value's length n >= 0, copied to buf when
	// n <= cap (else nothing is written: call again with n bytes);
	// NotFound without the key, NoStore when the module may read no store
	// of that name.
	ImportKVGet = "kv_get"

	// Outbound HTTP. ImportHTTPSend: (req ptr, req len: i32) -> i32: sends
	// a request encoded as a Request whose URI is an absolute http or
	// https URL (Host, if set, overrides the URL's for the Host header;
	// RemoteAddr is ignored) and waits for the response's header: a
	// handle > 0 to it, or Refused (the route does not allow that
	// origin or the address it resolves to), Limited (the request's
	// outbound calls or bytes are used up), Failed or Invalid.
	ImportHTTPSend = "http_send"
	// ImportHTTPHead: (handle, buf ptr, buf cap: i32) -> i32: the length
	// n of the response's status and header, encoded as a Response with
	// an empty body, copied to buf when n <= cap; Invalid for a handle
	// that is not open.
	ImportHTTPHead = "http_head"
	// ImportHTTPRead: (handle, buf ptr, buf cap: i32) -> i32: reads what
	// has arrived of the body, waiting for at least one byte: n > 0
	// bytes, 0 at its end, or Failed, Limited or Invalid.
	ImportHTTPRead = "http_read"
	// ImportHTTPClose: (handle: i32) -> i32: closes a response, 0.
	// Responses still open when the handler returns are closed by the
	// host.
	ImportHTTPClose = "http_close"
	// ImportHTTPError: (buf ptr, buf cap: i32) -> i32: the length n of
	// the text of the last failed http_* call, copied when n <= cap.
	ImportHTTPError = "http_error"

	// Streaming responses. ImportResponseStart: (head ptr, head len:
	// i32) -> i32: sends the response's status and header, encoded as a
	// Response with an empty body, to the client now: 0, Unsupported
	// where the host delivers responses whole (the guest keeps
	// buffering), or Invalid for a head the host refuses (the request
	// fails). After it, the body goes through ImportResponseWrite and
	// what ExportHandle returns is ignored.
	ImportResponseStart = "response_start"
	// ImportResponseWrite: (ptr, len: i32) -> i32: sends body bytes to
	// the client now: 0, Failed when the client is gone, Limited past the
	// worker's response size limit, Invalid before response_start.
	ImportResponseWrite = "response_write"
	// ImportResponseTrailers: (ptr, len: i32) -> i32: sends trailers,
	// encoded as a Response (status ignored) with an empty body, after a
	// started response's body: 0, Invalid before response_start or for
	// trailers the host refuses.
	ImportResponseTrailers = "response_trailers"
)

// What the imports answer.
const (
	FlagOff     = 0
	FlagOn      = 1
	NotFound    = -1
	NoStore     = -2
	Refused     = -3
	Limited     = -4
	Failed      = -5
	Invalid     = -6
	Unsupported = -7
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

// DecodeRequest decodes a request. Body aliases b; the strings share one
// copy of b's string fields.
func DecodeRequest(b []byte) (Request, error) {
	var spans [4][2]int // method, URI, host, remote address
	i := 0
	for f := range spans {
		start, end, ok := field(b, i)
		if !ok {
			return Request{}, malformed("request", "truncated field")
		}
		spans[f] = [2]int{start, end}
		i = end
	}
	h, err := locateHeader(b, i)
	if err != nil {
		return Request{}, fmt.Errorf("decode request: %w", err)
	}
	body, err := lastField(b, h.end)
	if err != nil {
		return Request{}, fmt.Errorf("decode request: %w", err)
	}
	text := string(b[:h.end])
	return Request{
		Method:     text[spans[0][0]:spans[0][1]],
		URI:        text[spans[1][0]:spans[1][1]],
		Host:       text[spans[2][0]:spans[2][1]],
		RemoteAddr: text[spans[3][0]:spans[3][1]],
		Header:     h.decode(b, text),
		Body:       body,
	}, nil
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
	if len(b) < 4 {
		return Response{}, malformed("response", "truncated status")
	}
	status := int(binary.LittleEndian.Uint32(b))
	h, err := locateHeader(b, 4)
	if err != nil {
		return Response{}, fmt.Errorf("decode response: %w", err)
	}
	body, err := lastField(b, h.end)
	if err != nil {
		return Response{}, fmt.Errorf("decode response: %w", err)
	}
	if status < 100 || status > 999 {
		return Response{}, fmt.Errorf("%w: response status %d out of range", ErrMalformed, status)
	}
	return Response{Status: status, Header: h.decode(b, string(b[:h.end])), Body: body}, nil
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
// with several values is written once per value, in order. The count is
// filled in after the pairs: ranging over a map twice costs a module more
// than the writing.
func appendHeader(b []byte, h http.Header) []byte {
	at := len(b)
	b = append(b, 0, 0, 0, 0)
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			b = appendString(b, k)
			b = appendString(b, v)
		}
		n += len(vs)
	}
	binary.LittleEndian.PutUint32(b[at:], uint32(n))
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

// Decoding locates fields by offset first and copies the string fields
// once; field is small enough to inline. Guests decode every request, and
// in WebAssembly calls and allocations are dear.

// field locates the length-prefixed field at b[i:] as b[start:end].
func field(b []byte, i int) (start, end int, ok bool) {
	if i < 0 || i > len(b)-4 {
		return 0, 0, false
	}
	n := int(binary.LittleEndian.Uint32(b[i:]))
	start = i + 4
	if n > len(b)-start {
		return 0, 0, false
	}
	return start, start + n, true
}

// lastField returns the field at b[i:], which must end b.
func lastField(b []byte, i int) ([]byte, error) {
	start, end, ok := field(b, i)
	if !ok {
		return nil, fmt.Errorf("%w: truncated body", ErrMalformed)
	}
	if end != len(b) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(b)-end)
	}
	return b[start:end:end], nil
}

func malformed(what, msg string) error {
	return fmt.Errorf("decode %s: %w: %s", what, ErrMalformed, msg)
}

// header is an encoded header located in a message: n pairs from start to
// end.
type header struct{ n, start, end int }

func locateHeader(b []byte, i int) (header, error) {
	if i > len(b)-4 {
		return header{}, fmt.Errorf("%w: truncated header count", ErrMalformed)
	}
	n := uint64(binary.LittleEndian.Uint32(b[i:]))
	i += 4
	// Each pair takes at least 8 bytes; a count beyond that is a lie and
	// must not drive an allocation.
	if n*8 > uint64(len(b)-i) {
		return header{}, fmt.Errorf("%w: %d header pairs cannot fit in %d bytes", ErrMalformed, n, len(b)-i)
	}
	h := header{n: int(n), start: i}
	for f := 0; f < 2*h.n; f++ {
		_, end, ok := field(b, i)
		if !ok {
			return header{}, fmt.Errorf("%w: truncated header field", ErrMalformed)
		}
		i = end
	}
	h.end = i
	return h, nil
}

// decode builds the header located in b, its strings substrings of text,
// a copy of b up to at least h.end. Encoders write a name's values one
// after another, so decode stores each run of pairs with one name without
// looking it up first; a name whose pairs are apart is then stored twice,
// which the map's size gives away, and the header is built again pair by
// pair.
func (h header) decode(b []byte, text string) http.Header {
	m := make(http.Header, h.n)
	values := make([]string, h.n) // one backing array; each name's values capped at their end
	runs, run, name := 0, 0, ""
	i := h.start
	for p := 0; p < h.n; p++ {
		ks, ke, _ := field(b, i) // locateHeader checked every field
		vs, ve, _ := field(b, ke)
		i = ve
		k := text[ks:ke]
		values[p] = text[vs:ve]
		if p > 0 && k != name {
			m[name] = values[run:p:p]
			runs, run = runs+1, p
		}
		name = k
	}
	if h.n > 0 {
		m[name] = values[run:h.n:h.n]
		runs++
	}
	if len(m) == runs {
		return m
	}
	return h.decodeScattered(b, text)
}

// decodeScattered is decode for a header whose names may come back after
// other names.
func (h header) decodeScattered(b []byte, text string) http.Header {
	m := make(http.Header, h.n)
	values := make([]string, h.n) // one backing array; a repeated name appends past its slot's cap
	i := h.start
	for p := 0; p < h.n; p++ {
		ks, ke, _ := field(b, i) // locateHeader checked every field
		vs, ve, _ := field(b, ke)
		i = ve
		k, v := text[ks:ke], text[vs:ve]
		if old, ok := m[k]; ok {
			m[k] = append(old, v)
			continue
		}
		values[p] = v
		m[k] = values[p : p+1 : p+1]
	}
	return m
}
