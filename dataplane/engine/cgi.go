package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/nanoedge/nanoedge/internal/abi"
	"github.com/nanoedge/nanoedge/internal/wagi"
)

// CGIRun runs a WASI command once, from start to exit, with env as its
// environment, stdin and stdout; it reports the guest's memory size.
type CGIRun func(ctx context.Context, env []string, stdin io.Reader, stdout io.Writer) (memory uint64, err error)

// CGIInstance is the Instance of a CGI (WAGI) module, the same on every
// engine: each request runs the command afresh, the request in its
// environment and on stdin, the response on stdout (internal/wagi).
// Nothing survives from one request to the next.
type CGIInstance struct {
	Run    CGIRun
	memory uint64
	stdout CGIOutput
	out    []byte
}

// MemorySize is the memory size of the last run.
func (c *CGIInstance) MemorySize() uint64 { return c.memory }

// Close implements Instance; runs hold nothing between requests.
func (c *CGIInstance) Close(context.Context) error { return nil }

// Handle implements Instance.
func (c *CGIInstance) Handle(ctx context.Context, req []byte) ([]byte, error) {
	r, err := abi.DecodeRequest(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	c.stdout.Reset()
	c.memory, err = c.Run(ctx, wagi.Env(&r), bytes.NewReader(r.Body), &c.stdout)
	if err != nil {
		return nil, err
	}
	if c.stdout.Over {
		return nil, fmt.Errorf("%w: wrote more than %d bytes to stdout", ErrTrap, MaxCGIOutput)
	}
	resp, err := wagi.ParseResponse(c.stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadResponse, err)
	}
	c.out = abi.AppendResponse(c.out[:0], resp)
	return c.out, nil
}
