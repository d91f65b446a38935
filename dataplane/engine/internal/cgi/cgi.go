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
	c.stdout.Reset()
	c.memory, err = c.Run(ctx, append(append([]string(nil), c.Env...), wagi.Env(&r)...), bytes.NewReader(r.Body), &c.stdout)
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
// write past it fails and sets Over.
type Output struct {
	bytes.Buffer
	Over bool
}

func (b *Output) Write(p []byte) (int, error) {
	if b.Len()+len(p) > MaxOutput {
		b.Over = true
		return 0, fmt.Errorf("wrote more than %d bytes to stdout", MaxOutput)
	}
	return b.Buffer.Write(p)
}

// Reset empties the buffer for the next request.
func (b *Output) Reset() {
	b.Buffer.Reset()
	b.Over = false
}
