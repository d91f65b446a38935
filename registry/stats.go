package registry

import (
	"os"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Stats is what a node's metrics report of its Raft and its state.
type Stats struct {
	Leader                    bool
	Term                      uint64
	CommitIndex, AppliedIndex uint64
	// FirstLogIndex and LastLogIndex bound the entries the log holds.
	FirstLogIndex, LastLogIndex uint64
	// LastContact is when a follower last heard from its leader (zero on
	// the leader).
	LastContact time.Time
	// Snapshots kept, and the size of the newest.
	Snapshots    int
	SnapshotSize int64
	// DBBytes is the size of the state database file.
	DBBytes int64
	// Objects counts what the registry holds, by kind.
	Objects map[string]int
	// Revision is the newest revision applied.
	Revision int64
}

// objectBuckets names the kinds Stats counts.
var objectBuckets = map[string][]byte{
	"modules": bucketModules, "routes": bucketRoutes, "flags": bucketFlags, "keys": bucketKeys,
	"tokens": bucketTokens, "rollouts": bucketRollout, "nodes": bucketNodes, "events": bucketEvents,
}

// Stats reads the node's Raft and state figures; it is cheap enough for
// every scrape.
func (s *Store) Stats() Stats {
	st := Stats{Leader: s.IsLeader(), CommitIndex: s.raft.CommitIndex(), AppliedIndex: s.raft.AppliedIndex(),
		LastLogIndex: s.raft.LastIndex(), Revision: s.Revision(), Objects: map[string]int{}}
	if !st.Leader {
		st.LastContact = s.raft.LastContact()
	}
	st.Term = s.raft.CurrentTerm()
	st.FirstLogIndex, _ = s.logStore.FirstIndex()
	if metas, err := s.snaps.List(); err == nil {
		st.Snapshots = len(metas)
		if len(metas) > 0 {
			st.SnapshotSize = metas[0].Size
		}
	}
	if fi, err := os.Stat(s.fsm.path); err == nil {
		st.DBBytes = fi.Size()
	}
	_ = s.fsm.view(func(tx *bolt.Tx) error {
		for kind, b := range objectBuckets {
			st.Objects[kind] = tx.Bucket(b).Stats().KeyN
		}
		return nil
	})
	return st
}
