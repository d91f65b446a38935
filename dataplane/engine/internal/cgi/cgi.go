// Package cgi runs CGI (WAGI) modules the same way on every engine.
package cgi

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/nanoedge/nanoedge/dataplane/engine"

	"github.com/nanoedge/nanoedge/dataplane/engine/internal/wagi"
	"github.com/nanoedge/nanoedge/sdk/abi"
)

// Run runs a WASI command once, from start to exit, with env as its
// environment, stdin and stdout; it reports the guest's memory size.
type Run func(ctx context.Context, env []string, stdin io.Reader, stdout io.Writer) (memory uint64, err error)

// Instance is the Instance of a CGI (WAGI) module, the same on every
// engine: each request runs the command afresh, the request in its
// environment and on stdin, the response on stdout (dataplane/engine/internal/wagi).
// Nothing survives from one request to the next.
type Instance struct {
	Run Run
	// Env comes before the request's variables in each run's
	// environment: the module's configuration.
	Env    []string
	memory uint64
	stdout Output
	out    []byte
}

// MemorySize is the memory size of the last run.
func (c *Instance) MemorySize() uint64 { return c.memory }

// Close implements Instance; runs hold nothing between requests.
func (c *Instance) Close(context.Context) error { return nil }

// Handle implements Instance.
func (c *Instance) Handle(ctx context.Context, req []byte) ([]byte, error) {
	r, err := abi.DecodeRequest(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrBadResponse, err)
	}
	c.stdout.Reset(engine.CallFrom(ctx))
	c.memory, err = c.Run(ctx, append(append([]string(nil), c.Env...), wagi.Env(&r)...), bytes.NewReader(r.Body), &c.stdout)
	if c.stdout.call.Streamed() {
		return nil, err // the response went out as it was written
	}
	if err != nil {
		return nil, err
	}
	if c.stdout.Over {
		return nil, fmt.Errorf("%w: wrote more than %d bytes to stdout", engine.ErrTrap, MaxOutput)
	}
	resp, err := wagi.ParseResponse(c.stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrBadResponse, err)
	}
	c.out = abi.AppendResponse(c.out[:0], resp)
	return c.out, nil
}

// MaxOutput bounds what a CGI module may write to stdout for one
// response; more is a trap.
const MaxOutput = 32 << 20

// Output collects a CGI module's stdout up to MaxOutput bytes; a
// write past it fails and sets Over. Where the request's Call has a
// Stream, the response streams from the end of its header section: each
// later write reaches the client as it is made.
type Output struct {
	bytes.Buffer
	Over bool
	call *engine.Call
	// whole: the response goes out whole (no Stream, or a header section
	// the stream refused or that is too long).
	whole bool
}

func (b *Output) Write(p []byte) (int, error) {
	if b.call.Streamed() {
		if err := b.call.WriteResponse(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	if b.Len()+len(p) > MaxOutput {
		b.Over = true
		return 0, fmt.Errorf("wrote more than %d bytes to stdout", MaxOutput)
	}
	b.Buffer.Write(p)
	if !b.whole {
		b.start()
	}
	return len(p), nil
}

// start begins streaming once the header section is complete.
func (b *Output) start() {
	end, sep := wagi.HeaderEnd(b.Bytes())
	switch {
	case end < 0 && b.Len() > wagi.MaxHeaderBytes:
		b.whole = true // ParseResponse will say why
		return
	case end < 0:
		return
	}
	resp, err := wagi.ParseResponse(b.Bytes()[:end+sep])
	if err == nil {
		err = b.call.StartResponse(resp.Status, resp.Header)
	}
	if err != nil {
		b.whole = true // no stream here, or a header it refused: answered whole, as it fails whole
		return
	}
	body := b.Bytes()[end+sep:]
	if len(body) > 0 {
		b.call.WriteResponse(body) // a failure shows at the next write
	}
	b.Buffer.Reset()
}

// Reset empties the buffer for the next request, whose Call c is.
func (b *Output) Reset(c *engine.Call) {
	b.Buffer.Reset()
	b.Over = false
	b.call, b.whole = c, c.Stream == nil
}
