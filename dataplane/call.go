package dataplane

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// requestCall is what one request's host functions reach, in one
// allocation: the engine's Call, the route's outbound HTTP, and the
// client's connection for a streamed response.
type requestCall struct {
	engine.Call
	out    outboundRequest
	stream stream
}

// takeCPU takes a place among the requests running guest code, waiting
// for one until ctx ends (503).
func (w *Worker) takeCPU(ctx context.Context) error {
	select {
	case w.cpu <- struct{}{}:
		return nil
	default:
	}
	select {
	case w.cpu <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w (no CPU free: %v)", errOverloaded, ctx.Err())
	}
}

// wait runs fn, a guest's wait outside its code, with the request's
// place given up meanwhile: requests waiting on the network or sleeping
// do not keep others from running.
func (w *Worker) wait(fn func()) {
	<-w.cpu
	defer func() { w.cpu <- struct{}{} }()
	fn()
}

// stream sends a response the handler streams (engine.Stream): the
// status and header once, sanitised as a whole response's are, then the
// body as it comes, flushed, within the worker's response size limit.
type stream struct {
	rw      http.ResponseWriter
	cors    bool
	limit   int
	status  int
	written int
	// broken is why the stream failed midway: the client then sees the
	// connection cut, not a short body passing for a whole one.
	broken error
}

// Start implements engine.Stream.
func (s *stream) Start(status int, h http.Header) error {
	if err := guestHeader(s.rw.Header(), abi.Response{Status: status, Header: h}, s.cors); err != nil {
		return err
	}
	s.status = status
	s.rw.WriteHeader(status)
	return s.flush()
}

// Write implements engine.Stream.
func (s *stream) Write(p []byte) error {
	if s.broken != nil {
		return s.broken
	}
	if len(p) > s.limit-s.written {
		s.broken = fmt.Errorf("%w: %w: more than %d bytes", engine.ErrLimited, errResponseTooLarge, s.limit)
		return s.broken
	}
	n, err := s.rw.Write(p)
	s.written += n
	if err == nil {
		err = s.flush()
	}
	if err != nil {
		s.broken = fmt.Errorf("dataplane: streaming the response: %w", err)
	}
	return s.broken
}

// Trailers implements engine.Stream: checked as a header is, and sent by
// net/http after the body.
func (s *stream) Trailers(h http.Header) error {
	checked := http.Header{}
	if err := copyGuestHeader(checked, h, s.cors); err != nil {
		return err
	}
	dst := s.rw.Header()
	for k, vs := range checked {
		dst[http.TrailerPrefix+k] = vs
	}
	return nil
}

func (s *stream) flush() error {
	return http.NewResponseController(s.rw).Flush()
}
