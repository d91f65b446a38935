package registry

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func validateFlagName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: flag name %q: use 1-63 of a-z 0-9 . _ -, starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

// SetFlag creates a feature flag or flips it. An empty description keeps
// the one the flag has.
func (s *Store) SetFlag(ctx context.Context, name string, enabled bool, description string) (*registryv1.Flag, int64, error) {
	if err := validateFlagName(name); err != nil {
		return nil, 0, err
	}
	if err := LimitDescription.Check(description); err != nil {
		return nil, 0, err
	}
	f := &registryv1.Flag{Name: name, Enabled: enabled, Description: description}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutFlag{PutFlag: &raftlogv1.PutFlagCommand{Flag: f}}})
	if err != nil {
		return nil, 0, err
	}
	if res.duplicate {
		f := &registryv1.Flag{}
		err := s.fsm.view(func(tx *bolt.Tx) error { return getProto(tx.Bucket(bucketFlags), name, "flag", f) })
		return f, res.revision, err
	}
	return res.events[0].GetFlag(), res.revision, nil
}

// DeleteFlag removes a flag that no route rule follows.
func (s *Store) DeleteFlag(ctx context.Context, name string) (int64, error) {
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_DeleteFlag{DeleteFlag: &raftlogv1.DeleteFlagCommand{Name: name}}})
	if err != nil {
		return 0, err
	}
	return res.revision, nil
}

// ListFlags returns every flag, by name, and the revision the list reflects.
func (s *Store) ListFlags() ([]*registryv1.Flag, int64, error) {
	return listProto[*registryv1.Flag](s, bucketFlags, func() *registryv1.Flag { return &registryv1.Flag{} })
}

func (w *writer) putFlag(c *raftlogv1.PutFlagCommand) error {
	f := c.GetFlag()
	if f == nil {
		return fmt.Errorf("%w: empty flag", ErrInvalid)
	}
	if err := validateFlagName(f.Name); err != nil {
		return err
	}
	if err := LimitDescription.Check(f.Description); err != nil {
		return err
	}
	f = proto.Clone(f).(*registryv1.Flag)
	flags := w.tx.Bucket(bucketFlags)
	if flags.Get([]byte(f.Name)) == nil {
		if err := w.checkCapacity(bucketFlags, LimitFlags); err != nil {
			return err
		}
	}
	f.CreateRevision = w.rev
	old := &registryv1.Flag{}
	if err := getProto(flags, f.Name, "flag", old); err == nil {
		f.CreateRevision = old.CreateRevision
		if f.Description == "" {
			f.Description = old.Description
		}
	}
	f.ModRevision = w.rev
	if err := putProto(flags, []byte(f.Name), f); err != nil {
		return err
	}
	w.emit(registryv1.EventType_EVENT_TYPE_PUT, &registryv1.Event_Flag{Flag: f})
	state := "off"
	if f.Enabled {
		state = "on"
	}
	w.audit("put_flag", f.Name+" "+state)
	return nil
}

func (w *writer) deleteFlag(c *raftlogv1.DeleteFlagCommand) error {
	flags := w.tx.Bucket(bucketFlags)
	if flags.Get([]byte(c.Name)) == nil {
		return fmt.Errorf("%w: flag %q", ErrNotFound, c.Name)
	}
	if r := routeFollowing(w.tx, c.Name); r != "" {
		return fmt.Errorf("%w: flag %q: route %s has a rule that follows it", ErrInUse, c.Name, r)
	}
	if err := flags.Delete([]byte(c.Name)); err != nil {
		return err
	}
	w.emit(registryv1.EventType_EVENT_TYPE_DELETE, &registryv1.Event_Flag{Flag: &registryv1.Flag{Name: c.Name, ModRevision: w.rev}})
	w.audit("delete_flag", c.Name)
	return nil
}

// routeFollowing names a route with a rule on the flag, or returns "".
func routeFollowing(tx *bolt.Tx, flag string) string {
	var found string
	tx.Bucket(bucketRoutes).ForEach(func(_, v []byte) error {
		r := &registryv1.Route{}
		if proto.Unmarshal(v, r) != nil {
			return nil
		}
		for _, rl := range r.Rules {
			if rl.Kind == registryv1.MatchKind_MATCH_KIND_FLAG && rl.Name == flag {
				found = r.Host + r.PathPrefix
			}
		}
		return nil
	})
	return found
}
