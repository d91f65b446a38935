package dataplane

import (
	"maps"
)

// edgeState is what handlers read of the worker's state through the host
// functions (sdk/abi's ImportModule): one immutable value per applied
// change, taken once per request, so every read within a request sees
// one revision.
type edgeState struct {
	flags map[string]bool
}

// moduleEdge is edgeState as one module's handler sees it; it implements
// engine.Edge.
type moduleEdge struct {
	s *edgeState
}

func (m moduleEdge) Flag(name string) (on, exists bool) {
	on, exists = m.s.flags[name]
	return on, exists
}

func (m moduleEdge) Get(store, key string) ([]byte, bool, bool) { return nil, false, false }

// publishEdge makes the worker's current flags what requests from now on
// read. The sync goroutine calls it after changing them.
func (w *Worker) publishEdge() {
	w.edge.Store(&edgeState{flags: maps.Clone(w.flags)})
}

// edgeFor is what a request to mod reads.
func (w *Worker) edgeFor(mod *module) moduleEdge {
	s := w.edge.Load()
	if s == nil {
		s = &edgeState{}
	}
	return moduleEdge{s: s}
}
