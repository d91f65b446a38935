package registry

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// PutRollout records a rollout and, if route is set, changes the route in
// the same write: a step and the traffic it sends never disagree. A
// rollout read from the store (ModRevision set) is written only if the
// stored one has not changed since (else ErrConflict).
func (s *Store) PutRollout(ctx context.Context, ro *registryv1.Rollout, route *registryv1.Route) (int64, error) {
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutRollout{PutRollout: &raftlogv1.PutRolloutCommand{Rollout: ro, Route: route, ExpectModRevision: ro.ModRevision}}})
	if err != nil {
		return 0, err
	}
	return res.revision, nil
}

// Rollout returns the rollout of a route.
func (s *Store) Rollout(host, pathPrefix string) (*registryv1.Rollout, error) {
	ro := &registryv1.Rollout{}
	err := s.fsm.view(func(tx *bolt.Tx) error {
		return getProto(tx.Bucket(bucketRollout), string(routeKey(host, pathPrefix)), "rollout", ro)
	})
	return ro, err
}

// Route returns the route for host and path prefix.
func (s *Store) Route(host, pathPrefix string) (*registryv1.Route, error) {
	r := &registryv1.Route{}
	err := s.fsm.view(func(tx *bolt.Tx) error {
		return getProto(tx.Bucket(bucketRoutes), string(routeKey(host, pathPrefix)), "route", r)
	})
	return r, err
}

// ListRollouts returns every rollout, finished ones included.
func (s *Store) ListRollouts() ([]*registryv1.Rollout, error) {
	ros, _, err := listProto[*registryv1.Rollout](s, bucketRollout, func() *registryv1.Rollout { return &registryv1.Rollout{} })
	return ros, err
}

func (w *writer) putRollout(c *raftlogv1.PutRolloutCommand) error {
	ro := c.GetRollout()
	if ro == nil || len(ro.Steps) == 0 || int(ro.Step) >= len(ro.Steps) {
		return fmt.Errorf("%w: rollout without steps", ErrInvalid)
	}
	if err := LimitRolloutSteps.CheckCount(len(ro.Steps)); err != nil {
		return err
	}
	if err := LimitRolloutReason.Check(ro.Reason); err != nil {
		return err
	}
	if err := validateRoute(ro.Host, ro.PathPrefix); err != nil {
		return err
	}
	if c.ExpectModRevision != 0 {
		cur := &registryv1.Rollout{}
		if err := getProto(w.tx.Bucket(bucketRollout), string(routeKey(ro.Host, ro.PathPrefix)), "rollout", cur); err != nil {
			return err
		}
		if cur.ModRevision != c.ExpectModRevision {
			return fmt.Errorf("%w: the rollout of %s%s changed at revision %d, after the revision %d it was judged at", ErrConflict, ro.Host, ro.PathPrefix, cur.ModRevision, c.ExpectModRevision)
		}
	}
	if c.Route != nil {
		if c.Route.Host != ro.Host || c.Route.PathPrefix != ro.PathPrefix {
			return fmt.Errorf("%w: rollout and route disagree on the route", ErrInvalid)
		}
		// A rollout that knows the route from before it started sets the
		// route's previous version itself (see Rollout.before).
		if err := w.putRoute(&raftlogv1.PutRouteCommand{Route: c.Route, PreviousGiven: ro.Before != nil}); err != nil {
			return err
		}
	}
	ro = proto.Clone(ro).(*registryv1.Rollout)
	ro.ModRevision = w.rev
	if err := putProto(w.tx.Bucket(bucketRollout), routeKey(ro.Host, ro.PathPrefix), ro); err != nil {
		return err
	}
	w.audit("rollout", fmt.Sprintf("%s%s -> %s@%s step %d/%d (%d%%) %s %s", ro.Host, ro.PathPrefix, ro.ModuleName, ro.ModuleDigest,
		ro.Step+1, len(ro.Steps), ro.Steps[ro.Step], ro.State, ro.Reason))
	return nil
}

// RollbackRoute restores a route as it was before its last change (its
// module, split, rules and options). Rolling back twice returns to where
// it started. It reads the route behind a barrier (the leader's current
// state) and writes only if the route is still what it read (else
// ErrConflict); a retry with the same request id returns the route the
// first try left.
func (s *Store) RollbackRoute(ctx context.Context, host, pathPrefix string) (*registryv1.Route, int64, error) {
	if err := s.LinearizableRead(ctx); err != nil {
		return nil, 0, err
	}
	cur, err := s.Route(host, pathPrefix)
	if err != nil {
		return nil, 0, err
	}
	if rev, ok := s.AppliedRequest(ctx); ok {
		return cur, rev, nil // this rollback applied before its answer was lost
	}
	if cur.Previous == nil {
		return nil, 0, fmt.Errorf("%w: route %s%s has no previous version", ErrNotFound, host, pathPrefix)
	}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutRoute{PutRoute: &raftlogv1.PutRouteCommand{Route: cur.Previous, ExpectModRevision: cur.ModRevision}}})
	if err != nil {
		return nil, 0, err
	}
	if res.duplicate {
		r, err := s.Route(host, pathPrefix)
		return r, res.revision, err
	}
	return res.events[0].GetRoute(), res.revision, nil
}
