package systemtest

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

// cuttingProxy forwards TCP connections to target and cuts the first one
// after it has carried cutAfter bytes from the client.
func cuttingProxy(t *testing.T, target string, cutAfter int64) (addr string, cuts *atomic.Int32) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cuts = &atomic.Int32{}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	first := true
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			limit := int64(-1)
			if first {
				first, limit = false, cutAfter
			}
			wg.Add(2)
			go func() {
				defer wg.Done()
				io.Copy(c, s)
				c.Close()
			}()
			go func() {
				defer wg.Done()
				if limit < 0 {
					io.Copy(s, c)
				} else {
					io.CopyN(s, c, limit)
					cuts.Add(1)
				}
				s.Close()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String(), cuts
}

// TestUploadResumesAfterACut: a connection cut in the middle of an upload
// does not make the SDK send the whole module again.
func TestUploadResumesAfterACut(t *testing.T) {
	env := startEnv(t)
	wasm := guests.Build(t, guests.Hello)
	proxy, cuts := cuttingProxy(t, env.CP.Addr(), int64(len(wasm))/2)
	c := testenv.NewClient(t, proxy, env.Token(t, "ci2", registryv1.Role_ROLE_PUBLISHER))
	var sent []int64
	res, err := c.Upload(ctxT(t), "hello", wasm, client.WithSigner(env.Key), client.WithProgress(func(s, _ int64) { sent = append(sent, s) }))
	if err != nil {
		t.Fatalf("upload through a cut: %v", err)
	}
	if cuts.Load() != 1 {
		t.Fatalf("the proxy cut %d connections, want 1", cuts.Load())
	}
	if res.ResumedAt <= 0 || res.ResumedAt >= int64(len(wasm)) || res.Module.Digest != digest.Of(wasm) || !res.Created {
		t.Fatalf("upload of %d bytes: resumed at %d, %v", len(wasm), res.ResumedAt, res.Module)
	}
	t.Logf("%d-byte upload cut after %d bytes; resumed at byte %d", len(wasm), len(wasm)/2, res.ResumedAt)
	// Nothing of a resume is left behind.
	if off, err := c.Upload(ctxT(t), "hello", wasm, client.WithSigner(env.Key)); err != nil || off.Created || off.ResumedAt != 0 {
		t.Fatalf("upload again: %v %v", off, err)
	}
}
