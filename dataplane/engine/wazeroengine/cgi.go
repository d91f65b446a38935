package wazeroengine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/abi"
	"github.com/nanoedge/nanoedge/internal/wagi"
)

// maxCGIOutput bounds what a CGI module may write to stdout for one
// response; more is a trap.
const maxCGIOutput = 32 << 20

// cgiInstance runs a WASI command once per request, CGI style: the request
// in its environment and on stdin, the response on stdout (see
// internal/wagi). Nothing survives from one request to the next.
type cgiInstance struct {
	m      *module
	stderr *tailWriter
	memory uint64
	out    []byte
	stdout limitedBuffer
}

func (c *cgiInstance) MemorySize() uint64 { return c.memory }

func (c *cgiInstance) Close(context.Context) error { return nil }

// Handle implements engine.Instance.
func (c *cgiInstance) Handle(ctx context.Context, req []byte) ([]byte, error) {
	r, err := abi.DecodeRequest(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrBadResponse, err)
	}
	c.stdout.Reset()
	mc := moduleConfig(c.stderr).
		WithStdin(bytes.NewReader(r.Body)).
		WithStdout(&c.stdout)
	for _, kv := range wagi.Env(&r) {
		k, v, _ := strings.Cut(kv, "=")
		mc = mc.WithEnv(k, v)
	}
	mod, _, err := c.m.start(ctx, mc, exportStart, c.stderr)
	if mod != nil {
		if mem := mod.Memory(); mem != nil {
			c.memory = uint64(mem.Size())
		}
		mod.Close(ctx)
	}
	if err != nil {
		return nil, err
	}
	if c.stdout.over {
		return nil, fmt.Errorf("%w: wrote more than %d bytes to stdout", engine.ErrTrap, maxCGIOutput)
	}
	resp, err := wagi.ParseResponse(c.stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrBadResponse, err)
	}
	c.out = abi.AppendResponse(c.out[:0], resp)
	return c.out, nil
}

// limitedBuffer keeps up to maxCGIOutput bytes and notes any excess.
type limitedBuffer struct {
	bytes.Buffer
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxCGIOutput {
		b.over = true
		return 0, errors.New("stdout limit reached")
	}
	return b.Buffer.Write(p)
}

func (b *limitedBuffer) Reset() {
	b.Buffer.Reset()
	b.over = false
}
