package dataplane

import (
	"context"
	"sync"
	"time"

	"github.com/nanoedge/nanoedge/dataplane/engine"
)

// maxPrewarmed bounds the modules compiled ahead of being routed.
const maxPrewarmed = 8

// prewarmed holds modules compiled as soon as they were uploaded, so that
// routing one later does not wait for the compiler.
type prewarmed struct {
	mu    sync.Mutex
	byDig map[string]prewarmedModule
	order []string       // oldest first
	slot  chan struct{}  // one compile at a time: uploads must not starve requests
	wg    sync.WaitGroup // compiles in flight; the engine must outlive them
	// inflight has a channel per digest being pre-warmed, closed when done:
	// a load of that digest waits for it rather than compiling it twice.
	inflight map[string]chan struct{}
}

type prewarmedModule struct {
	compiled engine.Module
	size     int
}

// prewarm compiles a newly uploaded module in the background.
func (w *Worker) prewarm(ctx context.Context, digest string) {
	p := &w.pre
	p.mu.Lock()
	_, done := p.byDig[digest]
	_, busy := p.inflight[digest]
	if done || busy || p.byDig == nil {
		p.mu.Unlock()
		return
	}
	finished := make(chan struct{})
	p.inflight[digest] = finished
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer func() {
			p.mu.Lock()
			delete(p.inflight, digest)
			p.mu.Unlock()
			close(finished)
		}()
		select {
		case p.slot <- struct{}{}:
		case <-ctx.Done():
			return
		}
		defer func() { <-p.slot }()
		ctx, cancel := context.WithTimeout(ctx, w.cfg.LoadTimeout)
		defer cancel()
		start := time.Now()
		compiled, size, _, err := w.compile(ctx, digest)
		if err != nil {
			w.cfg.Logger.Warn("pre-warm failed", "digest", shortDigest(digest), "err", err)
			return
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, dup := p.byDig[digest]; dup || p.byDig == nil {
			compiled.Close(context.Background())
			return
		}
		p.byDig[digest] = prewarmedModule{compiled, size}
		p.order = append(p.order, digest)
		for len(p.order) > maxPrewarmed {
			old := p.order[0]
			p.order = p.order[1:]
			if m, ok := p.byDig[old]; ok {
				m.compiled.Close(context.Background())
				delete(p.byDig, old)
			}
		}
		w.cfg.Logger.Info("module pre-warmed", "digest", shortDigest(digest), "bytes", size, "took_ms", ms(time.Since(start)))
	}()
}

// takePrewarmed hands over a pre-warmed module, if there is one, waiting
// for a pre-warm of it still in flight.
func (w *Worker) takePrewarmed(ctx context.Context, digest string) (engine.Module, int, time.Duration, error) {
	p := &w.pre
	p.mu.Lock()
	if ch, ok := p.inflight[digest]; ok {
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, 0, 0, ctx.Err()
		}
		p.mu.Lock()
	}
	defer p.mu.Unlock()
	m, ok := p.byDig[digest]
	if !ok {
		return nil, 0, 0, nil
	}
	delete(p.byDig, digest)
	for i, d := range p.order {
		if d == digest {
			p.order = append(p.order[:i], p.order[i+1:]...)
			break
		}
	}
	return m.compiled, m.size, 0, nil
}

// Prewarmed lists the digests compiled ahead of being routed.
func (w *Worker) Prewarmed() []string {
	w.pre.mu.Lock()
	defer w.pre.mu.Unlock()
	return append([]string(nil), w.pre.order...)
}

func (w *Worker) closePrewarmed() {
	p := &w.pre
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range p.byDig {
		m.compiled.Close(context.Background())
	}
	p.byDig, p.order = nil, nil
}
