package controlplane

import (
	"context"
	"sync"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// partialTTL is how long the bytes of an interrupted upload are kept for a
// resume.
const partialTTL = 10 * time.Minute

// partials keeps the bytes of interrupted uploads, by caller and digest,
// in the leader's memory and within a byte budget.
type partials struct {
	mu     sync.Mutex
	budget int64
	used   int64
	byKey  map[string]*partial
}

type partial struct {
	data    []byte
	expires time.Time
}

func partialKey(ctx context.Context, digest string) string {
	return registry.ActorFrom(ctx) + "\x00" + digest
}

// keep stores data for a later resume, dropping expired entries and, if
// the budget is still short, keeping nothing.
func (p *partials) keep(key string, data []byte, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byKey == nil {
		p.byKey = make(map[string]*partial)
	}
	for k, e := range p.byKey {
		if now.After(e.expires) || k == key {
			p.used -= int64(len(e.data))
			delete(p.byKey, k)
		}
	}
	if p.used+int64(len(data)) > p.budget {
		return
	}
	p.byKey[key] = &partial{data: data, expires: now.Add(partialTTL)}
	p.used += int64(len(data))
}

// take removes and returns the kept bytes for key.
func (p *partials) take(key string, now time.Time) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.byKey[key]
	if e == nil {
		return nil
	}
	delete(p.byKey, key)
	p.used -= int64(len(e.data))
	if now.After(e.expires) {
		return nil
	}
	return e.data
}

func (p *partials) size(key string, now time.Time) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.byKey[key]; e != nil && !now.After(e.expires) {
		return int64(len(e.data))
	}
	return 0
}

// GetUploadOffset implements RegistryServiceServer.
func (s *Server) GetUploadOffset(ctx context.Context, req *registryv1.GetUploadOffsetRequest) (*registryv1.GetUploadOffsetResponse, error) {
	return &registryv1.GetUploadOffsetResponse{Offset: s.partials.size(partialKey(ctx, req.Digest), time.Now())}, nil
}
