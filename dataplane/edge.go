package dataplane

import (
	"context"
	"fmt"
	"maps"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// edgeState is what handlers read of the worker's state through the host
// functions (sdk/abi's ImportModule): one immutable value per applied
// change, taken once per request, so every read within a request sees
// one revision. Its store maps are shared with the worker's replica,
// which clones a map before it changes one.
type edgeState struct {
	// byModule is what each module name reads; none, for a module that
	// links no store.
	byModule map[string]*moduleEdge
	none     *moduleEdge
}

// moduleEdge is edgeState as one module's handlers see it: the flags,
// and the stores its configuration links. It implements engine.Edge.
type moduleEdge struct {
	flags  map[string]bool
	stores map[string]map[string][]byte
}

func (m *moduleEdge) Flag(name string) (on, exists bool) {
	on, exists = m.flags[name]
	return on, exists
}

func (m *moduleEdge) Get(store, key string) (value []byte, found, storeOK bool) {
	s, ok := m.stores[store]
	if !ok {
		return nil, false, false
	}
	value, found = s[key]
	return value, found, true
}

// publishEdge makes the worker's current flags, stores and links what
// requests from now on read. The sync goroutine calls it after changing
// any of them.
func (w *Worker) publishEdge() {
	flags := maps.Clone(w.flags)
	s := &edgeState{byModule: map[string]*moduleEdge{}, none: &moduleEdge{flags: flags}}
	for name, cfg := range w.configs {
		if len(cfg.Stores) == 0 {
			continue
		}
		me := &moduleEdge{flags: flags, stores: map[string]map[string][]byte{}}
		for _, st := range cfg.Stores {
			if m, ok := w.kv[st]; ok {
				me.stores[st] = m
			}
		}
		s.byModule[name] = me
	}
	w.edge.Store(s)
}

// edgeFor is what a request to mod reads.
func (w *Worker) edgeFor(mod *module) *moduleEdge {
	s := w.edge.Load()
	if s == nil {
		return &moduleEdge{}
	}
	if me, ok := s.byModule[mod.name]; ok {
		return me
	}
	return s.none
}

// listStores reads every store in full, for a sync: at least as new as
// rev (a page may be newer; the watch from rev replays what changed).
func (w *Worker) listStores(ctx context.Context, rev int64) (map[string]map[string][]byte, error) {
	stores, storesRev, err := w.reg.ListStores(ctx)
	if err != nil {
		return nil, fmt.Errorf("list stores: %w", err)
	}
	if storesRev < rev {
		return nil, fmt.Errorf("%w: listed routes at revision %d but stores at %d; listing again", errInconsistentList, rev, storesRev)
	}
	out := make(map[string]map[string][]byte, len(stores))
	for _, st := range stores {
		m := make(map[string][]byte, st.Keys)
		_, err := w.reg.ReadStore(ctx, st.Name, func(page []*registryv1.KVEntry) error {
			for _, e := range page {
				m[e.Key] = e.Value
			}
			return nil
		})
		if status.Code(err) == codes.NotFound {
			continue // deleted since the list: the watch replays it
		}
		if err != nil {
			return nil, fmt.Errorf("read store %s: %w", st.Name, err)
		}
		out[st.Name] = m
	}
	return out, nil
}

// applyKV applies one store event to the replica. cloned holds the maps
// this batch made, which it may change in place; any other map may be
// in a published edgeState, and is cloned first.
func (w *Worker) applyKV(e *registryv1.Event, cloned map[string]bool) {
	ch := e.GetKv()
	if e.Type == registryv1.EventType_EVENT_TYPE_DELETE {
		delete(w.kv, ch.Store)
		delete(cloned, ch.Store)
		return
	}
	m := w.kv[ch.Store]
	if !cloned[ch.Store] {
		m = maps.Clone(m)
		if m == nil {
			m = map[string][]byte{}
		}
		w.kv[ch.Store], cloned[ch.Store] = m, true
	}
	for _, p := range ch.Put {
		m[p.Key] = p.Value
	}
	for _, k := range ch.Delete {
		delete(m, k)
	}
}
