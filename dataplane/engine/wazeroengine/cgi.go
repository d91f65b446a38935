package wazeroengine

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/nanoedge/nanoedge/dataplane/engine"
	"github.com/nanoedge/nanoedge/internal/abi"
	"github.com/nanoedge/nanoedge/internal/wagi"
)

// cgiInstance runs a WASI command once per request, CGI style: the request
// in its environment and on stdin, the response on stdout (see
// internal/wagi). Nothing survives from one request to the next.
type cgiInstance struct {
	m      *module
	stderr *engine.TailWriter
	memory uint64
	out    []byte
	stdout engine.CGIOutput
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
	if c.stdout.Over {
		return nil, fmt.Errorf("%w: wrote more than %d bytes to stdout", engine.ErrTrap, engine.MaxCGIOutput)
	}
	resp, err := wagi.ParseResponse(c.stdout.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%w: %v", engine.ErrBadResponse, err)
	}
	c.out = abi.AppendResponse(c.out[:0], resp)
	return c.out, nil
}
