//go:build wasip1

package fetch

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"unsafe"

	"github.com/nanoedge/nanoedge/sdk/abi"
)

//go:wasmimport nanoedge http_send
func httpSend(req unsafe.Pointer, n uint32) int32

//go:wasmimport nanoedge http_head
func httpHead(h int32, buf unsafe.Pointer, n uint32) int32

//go:wasmimport nanoedge http_read
func httpRead(h int32, buf unsafe.Pointer, n uint32) int32

//go:wasmimport nanoedge http_close
func httpClose(h int32) int32

//go:wasmimport nanoedge http_error
func httpError(buf unsafe.Pointer, n uint32) int32

// In a module, importing this package makes net/http's default transport
// the worker's: http.Get, http.DefaultClient and clients without a
// Transport of their own call out through it.
func init() { http.DefaultTransport = Transport{} }

// Transport is an http.RoundTripper that sends requests through the
// worker, under the route's outbound policy. It is http.DefaultTransport
// in a module that imports this package; give it to clients that set
// their own Transport.
type Transport struct{}

// RoundTrip implements http.RoundTripper. The request's body is read
// whole before it is sent; the response's body arrives as it is read.
func (Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	ar := abi.Request{Method: req.Method, URI: req.URL.String(), Header: req.Header, Body: body}
	if ar.Method == "" {
		ar.Method = http.MethodGet
	}
	if req.Host != "" && req.Host != req.URL.Host {
		ar.Host = req.Host
	}
	// The encoding is the host's to read during the call only, and the
	// decoded head's strings are copies: one buffer serves every call.
	sendBuf = abi.AppendRequest(sendBuf[:0], &ar)
	h := httpSend(unsafe.Pointer(unsafe.SliceData(sendBuf)), uint32(len(sendBuf)))
	if cap(sendBuf) > 1<<20 {
		sendBuf = nil
	}
	if h < 0 {
		return nil, outboundError(h, lastError())
	}
	head := headBuf[:cap(headBuf)]
	n := httpHead(h, unsafe.Pointer(&head[0]), uint32(len(head)))
	if n > int32(len(head)) {
		head = make([]byte, n)
		n = httpHead(h, unsafe.Pointer(&head[0]), uint32(len(head)))
	}
	if n < 0 {
		httpClose(h)
		return nil, outboundError(n, lastError())
	}
	ar2, err := abi.DecodeResponse(head[:n])
	if err != nil {
		httpClose(h)
		return nil, err
	}
	resp := &http.Response{
		Status: strconv.Itoa(ar2.Status) + " " + http.StatusText(ar2.Status), StatusCode: ar2.Status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: ar2.Header, Body: &responseBody{h: h}, ContentLength: -1, Request: req,
	}
	if resp.Header == nil {
		resp.Header = http.Header{}
	}
	if cl, err := strconv.ParseInt(resp.Header.Get("Content-Length"), 10, 64); err == nil && cl >= 0 {
		resp.ContentLength = cl
	}
	if req.Method == http.MethodHead || ar2.Status == http.StatusNoContent || ar2.Status == http.StatusNotModified {
		resp.Body.Close()
		resp.Body = http.NoBody
	}
	return resp, nil
}

// sendBuf and headBuf are reused by every outbound call.
var (
	sendBuf []byte
	headBuf = make([]byte, 4<<10)
)

func lastError() string {
	var buf [512]byte
	n := httpError(unsafe.Pointer(&buf[0]), uint32(len(buf)))
	if n <= 0 {
		return ""
	}
	if int(n) > len(buf) {
		big := make([]byte, n)
		httpError(unsafe.Pointer(&big[0]), uint32(len(big)))
		return string(big)
	}
	return string(buf[:n])
}

// responseBody reads an outbound response's body from the host.
type responseBody struct {
	h      int32
	closed bool
	err    error
}

func (b *responseBody) Read(p []byte) (int, error) {
	switch {
	case b.err != nil:
		return 0, b.err
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case len(p) == 0:
		return 0, nil
	}
	n := httpRead(b.h, unsafe.Pointer(&p[0]), uint32(len(p)))
	switch {
	case n > 0:
		return int(n), nil
	case n == 0:
		b.err = io.EOF
	default:
		b.err = outboundError(n, lastError())
	}
	return 0, b.err
}

func (b *responseBody) Close() error {
	if !b.closed {
		b.closed = true
		httpClose(b.h)
	}
	return nil
}

var _ io.ReadCloser = (*responseBody)(nil)

// outboundError is a failed outbound call: its kind and the host's text.
func outboundError(code int32, text string) error {
	kind := ErrFailed
	switch code {
	case abi.Refused:
		kind = ErrRefused
	case abi.Limited:
		kind = ErrLimit
	}
	if text == "" {
		return kind
	}
	return fmt.Errorf("%w: %s", kind, text)
}
