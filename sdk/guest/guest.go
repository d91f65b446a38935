package guest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/nanoedge/nanoedge/sdk/abi"
)

//lint:ignore U1000 served by the exports of export_wasip1.go
var handler http.Handler = http.NotFoundHandler()

// Handle registers h as the module's handler. Call it from an init function:
// a reactor module's main is never run.
func Handle(h http.Handler) {
	if h == nil {
		panic("guest: nil handler")
	}
	handler = h
}

// HandleFunc registers f as the module's handler.
func HandleFunc(f func(http.ResponseWriter, *http.Request)) { Handle(http.HandlerFunc(f)) }

// serve runs h on one encoded request and returns the encoded response,
// appended to out[:0]. w is reset and reused: what a handler wrote is
// copied into out before the next request.
func serve(h http.Handler, in, out []byte, w *responseWriter) []byte {
	ar, err := abi.DecodeRequest(in)
	if err != nil {
		return errorResponse(out, http.StatusBadRequest, err)
	}
	req, err := newRequest(&ar)
	if err != nil {
		return errorResponse(out, http.StatusBadRequest, err)
	}
	w.reset()
	if p := serveRecover(h, w, req); p != nil {
		// As net/http does, a panicking handler costs its request, not the
		// process: the instance stays warm for the next one.
		fmt.Fprintf(os.Stderr, "guest: panic serving %s %s: %v\n", ar.Method, ar.URI, p)
		return errorResponse(out, http.StatusInternalServerError, fmt.Errorf("guest: handler panicked: %v", p))
	}
	if tr := w.trailers(); len(tr) > 0 {
		w.Flush() // trailers follow a streamed body
		if w.started {
			w.send()
			responseTrailers(abi.AppendResponse(nil, &abi.Response{Status: w.status, Header: tr}))
		}
	}
	if w.started {
		w.send() // the rest of a streamed body; the host ignores what handle returns
		return out[:0]
	}
	w.finish()
	out = abi.AppendResponse(out[:0], &abi.Response{Status: w.status, Header: w.header, Body: w.body.Bytes()})
	if w.body.Cap() > maxKeptBody {
		w.body = bytes.Buffer{} // a large response's buffer is not kept
	}
	return out
}

func serveRecover(h http.Handler, w http.ResponseWriter, req *http.Request) (p any) {
	defer func() {
		if p = recover(); p == http.ErrAbortHandler {
			p = "aborted"
		}
	}()
	h.ServeHTTP(w, req)
	return nil
}

// requestBlock is a request and its URL in one allocation: in
// WebAssembly each allocation costs more than the fields it fills.
type requestBlock struct {
	req http.Request
	url url.URL
}

func newRequest(ar *abi.Request) (*http.Request, error) {
	blk := new(requestBlock)
	if err := parseRequestURL(&blk.url, ar.URI); err != nil {
		return nil, fmt.Errorf("guest: bad request URI %q: %w", ar.URI, err)
	}
	req := &blk.req
	*req = http.Request{
		Method:     ar.Method,
		URL:        &blk.url,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     ar.Header,
		Host:       ar.Host,
		RemoteAddr: ar.RemoteAddr,
		RequestURI: ar.URI,
		Body:       http.NoBody,
	}
	if len(ar.Body) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(ar.Body))
		req.ContentLength = int64(len(ar.Body))
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	// No WithContext: a Request without one reports context.Background.
	return req, nil
}

// parseRequestURL parses a request target into u as url.ParseRequestURI
// does. A plain target, a path of characters a URL never escapes and an
// optional query, is split without the general parser, which costs a
// module more than the rest of building its request.
func parseRequestURL(u *url.URL, uri string) error {
	if len(uri) == 0 || uri[0] != '/' {
		return parseRequestURLSlowly(u, uri)
	}
	q := len(uri)
	for i := 1; i < len(uri); i++ {
		if c := uri[i]; c == '?' {
			q = i
			break
		} else if !plainPath(c) {
			return parseRequestURLSlowly(u, uri)
		}
	}
	for i := q + 1; i < len(uri); i++ {
		if c := uri[i]; c < ' ' || c == 0x7f {
			return parseRequestURLSlowly(u, uri) // which refuses control bytes
		}
	}
	*u = url.URL{Path: uri[:q]}
	switch {
	case q == len(uri)-1:
		u.ForceQuery = true // "/p?": an empty query, asked for
	case q < len(uri):
		u.RawQuery = uri[q+1:]
	}
	return nil
}

func parseRequestURLSlowly(u *url.URL, uri string) error {
	parsed, err := url.ParseRequestURI(uri)
	if err != nil {
		return err
	}
	*u = *parsed
	return nil
}

// plainPath reports whether c stands for itself in a path: unreserved,
// or reserved but left unescaped in paths by net/url (so Path needs no
// RawPath beside it).
func plainPath(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '_', '.', '~', '/', '$', '&', '+', ',', ':', ';', '=', '@':
		return true
	}
	return false
}

func errorResponse(out []byte, status int, err error) []byte {
	h := http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	return abi.AppendResponse(out[:0], &abi.Response{Status: status, Header: h, Body: []byte(err.Error() + "\n")})
}

// responseWriter buffers the response, which the host sends in one
// piece, until the handler flushes it or it outgrows streamAfter: as
// net/http's does, it then sends the status and header, and the body in
// parts from there on.
type responseWriter struct {
	header      http.Header
	status      int
	wroteHeader bool
	body        bytes.Buffer
	started     bool  // the status and header are sent
	err         error // why the body could not be sent
}

// streamAfter is how much body a response buffers before it streams:
// small responses cost one exchange with the host, large ones bounded
// memory in module and worker alike.
const streamAfter = 256 << 10

// noStream is set when the host delivers responses whole: Flush does
// nothing from then on.
var noStream bool

// maxKeptBody and maxKeptRequest bound the response and request buffers
// kept between requests. Linear memory never shrinks, so dropping a
// megabyte buffer frees no memory, only makes a megabyte of garbage for
// the next large request to collect: they are large.
const (
	maxKeptBody    = 1 << 20
	maxKeptRequest = 8 << 20
)

func (w *responseWriter) reset() {
	if w.header == nil {
		w.header = make(http.Header)
	}
	clear(w.header)
	w.status, w.wroteHeader, w.started, w.err = 0, false, false, nil
	w.body.Reset()
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.wroteHeader || code < 100 || code > 999 {
		return
	}
	if code >= 200 { // 1xx responses are informational and not forwarded
		w.wroteHeader = true
		w.status = code
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	n, _ := w.body.Write(p)
	if w.body.Len() > streamAfter {
		w.Flush()
		if w.err != nil {
			return 0, w.err
		}
	}
	return n, nil
}

// Flush sends what the handler has written to the client now (the status
// and header first), where the host streams responses; it does nothing
// where the host delivers them whole.
func (w *responseWriter) Flush() {
	if !w.started {
		if noStream {
			return
		}
		if !w.wroteHeader {
			w.WriteHeader(http.StatusOK)
		}
		w.finish()
		delete(w.header, "Content-Length") // the body is not all here: the host frames it
		h := w.header
		for k := range h {
			if strings.HasPrefix(k, http.TrailerPrefix) { // trailers come after the body
				h = h.Clone()
				for k := range h {
					if strings.HasPrefix(k, http.TrailerPrefix) {
						delete(h, k)
					}
				}
				break
			}
		}
		head := abi.AppendResponse(nil, &abi.Response{Status: w.status, Header: h})
		switch responseStart(head) {
		case 0:
			w.started = true
		case abi.Unsupported:
			noStream = true
			return
		default: // the host refused the header; the buffered response fails the same way
			return
		}
	}
	w.send()
}

// trailers takes the response's trailers out of its header: the values
// of the names its Trailer header declares, and those set under
// http.TrailerPrefix, as net/http's server sends them.
func (w *responseWriter) trailers() http.Header {
	var tr http.Header
	set := func(k string, vs []string) {
		if tr == nil {
			tr = http.Header{}
		}
		tr[http.CanonicalHeaderKey(k)] = vs
	}
	for _, decl := range w.header["Trailer"] {
		for _, name := range strings.Split(decl, ",") {
			name = http.CanonicalHeaderKey(strings.TrimSpace(name))
			if vs, ok := w.header[name]; ok && name != "" {
				set(name, vs)
				delete(w.header, name)
			}
		}
	}
	for k, vs := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
			set(name, vs)
			delete(w.header, k)
		}
	}
	return tr
}

// send writes the buffered body to the client.
func (w *responseWriter) send() {
	if w.body.Len() == 0 || w.err != nil {
		w.body.Reset()
		return
	}
	switch code := responseWrite(w.body.Bytes()); code {
	case 0:
	case abi.Limited:
		w.err = fmt.Errorf("guest: the response is larger than the worker allows")
	default:
		w.err = fmt.Errorf("guest: the response could not be sent (code %d): the client is gone", code)
	}
	if w.body.Cap() > maxKeptBody {
		w.body = bytes.Buffer{}
	} else {
		w.body.Reset()
	}
}

// finish applies the defaults net/http's server applies, so a handler
// behaves the same natively and as a module.
func (w *responseWriter) finish() {
	if !w.wroteHeader {
		w.status = http.StatusOK
	}
	// Keys are canonical: the map is read directly, which in WebAssembly
	// is much cheaper than Get's canonicalization.
	h := w.header
	if w.body.Len() > 0 && first(h["Content-Type"]) == "" && first(h["Content-Encoding"]) == "" {
		if _, ok := h["Content-Type"]; !ok {
			h["Content-Type"] = []string{http.DetectContentType(w.body.Bytes())}
		}
	}
	if cl := first(h["Content-Length"]); cl != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(cl)); err != nil || n != w.body.Len() {
			delete(h, "Content-Length")
		}
	}
}

func first(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
}

func bodyAllowed(status int) bool {
	return !(status >= 100 && status <= 199) && status != http.StatusNoContent && status != http.StatusNotModified
}
