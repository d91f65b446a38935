package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Call is what the host functions of one request reach beyond the
// guest's memory (sdk/abi's ImportModule): the worker's edge data, the
// network, and the client's connection. The worker makes one per request
// and gives it to Handle with WithCall; its zero value reaches nothing.
// A Call is used by one goroutine at a time.
type Call struct {
	// Ctx bounds what the call waits for outside the guest: outbound
	// requests end with it. Nil: context.Background.
	Ctx context.Context
	// Edge is the flags and stores the handler reads; nil knows nothing.
	Edge Edge
	// Outbound sends the handler's HTTP requests; nil refuses them all.
	Outbound Outbound
	// Wait, if set, runs fn, a wait for something outside the guest (a
	// sleep, the network), and gives the request's share of the worker's
	// CPU back meanwhile. Nil runs fn.
	Wait func(fn func())
	// Stream, if set, takes a response the handler sends in parts; nil:
	// the handler's response is delivered whole.
	Stream Stream

	streamed bool
	open     []*http.Response // outbound responses by handle-1; nil once closed
	err      string           // the last outbound failure, for the guest to read
}

// Outbound sends a handler's HTTP requests, enforcing the route's policy.
type Outbound interface {
	// Do sends req. It fails with an error wrapping ErrRefused or
	// ErrLimited when the route does not allow the call.
	Do(ctx context.Context, req *http.Request) (*http.Response, error)
}

// Stream is a client's connection, for a response the handler sends in
// parts.
type Stream interface {
	// Start sends the status and header; an error wrapping
	// ErrBadResponse refuses them (the handler then fails).
	Start(status int, header http.Header) error
	// Write sends part of the body to the client at once.
	Write(p []byte) error
	// Trailers sends trailers after the body; an error wrapping
	// ErrBadResponse refuses them.
	Trailers(h http.Header) error
}

var (
	// ErrRefused: the route does not let its handler make that call.
	ErrRefused = errors.New("engine: outbound call refused")
	// ErrLimited: a request used up one of its outbound limits.
	ErrLimited = errors.New("engine: outbound limit reached")
)

// ErrNoResponse: a handle that names no open outbound response.
var ErrNoResponse = errors.New("engine: no open outbound response with that handle")

// MaxOpenResponses bounds the outbound responses one request holds open.
const MaxOpenResponses = 16

type callKey struct{}

// WithCall gives the guest calls made with ctx what their host functions
// reach.
func WithCall(ctx context.Context, c *Call) context.Context {
	return context.WithValue(ctx, callKey{}, c)
}

// CallFrom is the Call of ctx; one that reaches nothing if none was given.
func CallFrom(ctx context.Context) *Call {
	if c, ok := ctx.Value(callKey{}).(*Call); ok {
		return c
	}
	return &Call{}
}

// Context is the Call's Ctx, or context.Background.
func (c *Call) Context() context.Context {
	if c.Ctx == nil {
		return context.Background()
	}
	return c.Ctx
}

// EdgeData is the Call's Edge, or one that knows nothing.
func (c *Call) EdgeData() Edge {
	if c.Edge == nil {
		return noEdge{}
	}
	return c.Edge
}

// Waiting runs fn through Wait.
func (c *Call) Waiting(fn func()) {
	if c.Wait == nil {
		fn()
		return
	}
	c.Wait(fn)
}

// Send sends req through Outbound, waiting outside the CPU share, and
// keeps the response open under the handle it returns (from 1).
func (c *Call) Send(req *http.Request) (int, *http.Response, error) {
	if c.Outbound == nil {
		return 0, nil, c.fail(ErrRefused, errors.New("this worker makes no outbound calls"))
	}
	free := -1
	for i, b := range c.open {
		if b == nil {
			free = i
			break
		}
	}
	if free < 0 && len(c.open) >= MaxOpenResponses {
		return 0, nil, c.fail(ErrLimited, errors.New("too many outbound responses open at once: close their bodies"))
	}
	var resp *http.Response
	var err error
	c.Waiting(func() { resp, err = c.Outbound.Do(c.Context(), req) })
	if err != nil {
		return 0, nil, c.fail(err, nil)
	}
	if free < 0 {
		c.open = append(c.open, nil)
		free = len(c.open) - 1
	}
	c.open[free] = resp
	return free + 1, resp, nil
}

// Response is the open response of a handle, or nil.
func (c *Call) Response(h int) *http.Response {
	if h < 1 || h > len(c.open) {
		return nil
	}
	return c.open[h-1]
}

// Read reads what has arrived of a handle's body into p (at least one
// byte, waiting outside the CPU share). It returns io.EOF at the end, and
// an error for an unknown handle.
func (c *Call) Read(h int, p []byte) (int, error) {
	resp := c.Response(h)
	if resp == nil {
		return 0, c.fail(ErrNoResponse, nil)
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	c.Waiting(func() {
		for n == 0 && err == nil {
			n, err = resp.Body.Read(p)
		}
	})
	switch {
	case err == io.EOF:
		return n, io.EOF
	case err != nil && n == 0:
		return 0, c.fail(err, nil)
	}
	return n, nil // an error after n bytes comes with the next read
}

// CloseResponse closes a handle's body; closing an unknown handle does
// nothing.
func (c *Call) CloseResponse(h int) {
	if resp := c.Response(h); resp != nil {
		resp.Body.Close()
		c.open[h-1] = nil
	}
}

// End closes the responses the handler left open. The worker calls it
// once the guest has returned.
func (c *Call) End() {
	for i := range c.open {
		c.CloseResponse(i + 1)
	}
}

// ErrNoStream: the host delivers this call's response whole.
var ErrNoStream = errors.New("engine: responses are delivered whole here")

// StartResponse sends the response's status and header through Stream.
func (c *Call) StartResponse(status int, h http.Header) error {
	switch {
	case c.Stream == nil:
		return ErrNoStream
	case c.streamed:
		return fmt.Errorf("%w: the response was started already", ErrBadResponse)
	}
	if err := c.Stream.Start(status, h); err != nil {
		return err
	}
	c.streamed = true
	return nil
}

// WriteResponse sends part of a started response's body.
func (c *Call) WriteResponse(p []byte) error {
	if !c.streamed {
		return fmt.Errorf("%w: body written before the response was started", ErrBadResponse)
	}
	return c.Stream.Write(p)
}

// WriteTrailers sends a started response's trailers.
func (c *Call) WriteTrailers(h http.Header) error {
	if !c.streamed {
		return fmt.Errorf("%w: trailers before the response was started", ErrBadResponse)
	}
	return c.Stream.Trailers(h)
}

// Streamed reports whether the handler started its response through
// Stream: what the guest then returns is not a response.
func (c *Call) Streamed() bool { return c.streamed }

// Fail records err as the last outbound failure.
func (c *Call) Fail(err error) { c.err = err.Error() }

// LastError is the text of the last outbound failure.
func (c *Call) LastError() string { return c.err }

func (c *Call) fail(err, detail error) error {
	if detail != nil {
		err = fmt.Errorf("%w: %v", err, detail)
	}
	c.err = err.Error()
	return err
}
