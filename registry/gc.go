package registry

import (
	"context"
	"encoding/binary"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// stagedChunkTTL is how long a chunk of an unfinished upload is kept.
const stagedChunkTTL = time.Hour

// CollectGarbage deletes modules no route references, except the newest
// module of each name (so "route set --module name" right after a push
// still finds it), and chunks of uploads abandoned over an hour ago. With
// dryRun it only reports what it would delete, from this node's state.
func (s *Store) CollectGarbage(ctx context.Context, dryRun bool) ([]*registryv1.Module, int64, error) {
	if dryRun {
		var mods []*registryv1.Module
		err := s.fsm.view(func(tx *bolt.Tx) error {
			var err error
			mods, err = unreferenced(tx)
			return err
		})
		return mods, s.Revision(), err
	}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_CollectGarbage{CollectGarbage: &raftlogv1.CollectGarbageCommand{}}})
	if err != nil {
		return nil, 0, err
	}
	var mods []*registryv1.Module
	for _, e := range res.events {
		if m := e.GetModule(); m != nil {
			mods = append(mods, m)
		}
	}
	return mods, res.revision, nil
}

// unreferenced lists the modules garbage collection would delete.
func unreferenced(tx *bolt.Tx) ([]*registryv1.Module, error) {
	used := map[string]bool{}
	err := tx.Bucket(bucketRoutes).ForEach(func(_, v []byte) error {
		r := &registryv1.Route{}
		if err := proto.Unmarshal(v, r); err != nil {
			return err
		}
		for _, d := range r.Digests() {
			used[d] = true
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	mods, err := allModules(tx) // oldest first
	if err != nil {
		return nil, err
	}
	newest := map[string]string{}
	for _, m := range mods {
		newest[m.Name] = m.Digest
	}
	var out []*registryv1.Module
	for _, m := range mods {
		if !used[m.Digest] && newest[m.Name] != m.Digest {
			out = append(out, m)
		}
	}
	return out, nil
}

func (w *writer) collectGarbage() error {
	mods, err := unreferenced(w.tx)
	if err != nil {
		return err
	}
	var freed int64
	for _, m := range mods {
		if err := w.tx.Bucket(bucketModules).Delete([]byte(m.Digest)); err != nil {
			return err
		}
		if err := w.tx.Bucket(bucketBlobs).Delete([]byte(m.Digest)); err != nil {
			return err
		}
		freed += m.Size
		w.emit(registryv1.EventType_EVENT_TYPE_DELETE, &registryv1.Event_Module{Module: m})
	}
	cutoff := w.cmd.GetTime().AsTime().Add(-stagedChunkTTL).UnixNano()
	c := w.tx.Bucket(bucketStaging).Cursor()
	stale := 0
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(v) < 8 || int64(binary.BigEndian.Uint64(v)) < cutoff {
			if err := c.Delete(); err != nil {
				return err
			}
			stale++
		}
	}
	if len(mods) > 0 || stale > 0 {
		w.audit("collect_garbage", itoa(len(mods))+" modules, "+itoa(stale)+" staged chunks, "+itoa(int(freed))+" bytes")
	}
	return nil
}

func itoa(n int) string { return strconv.Itoa(n) }
