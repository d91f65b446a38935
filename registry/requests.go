package registry

import (
	"context"
	"encoding/binary"
	"time"

	bolt "go.etcd.io/bbolt"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
)

// A write carries its client's request id, the same on every retry; the
// state machine applies a given actor's request id once. Ids are kept
// for requestTTL by the leader's clock (from the log entries, so every
// node drops the same ones), and at most maxRequests of them.
const (
	requestTTL  = time.Hour
	maxRequests = 100000
	maxIDLen    = 64
)

type requestIDKey struct{}

// WithRequestID gives the writes made with ctx a request id: a write
// whose actor and id already applied is not applied again.
func WithRequestID(ctx context.Context, id string) context.Context {
	if len(id) > maxIDLen {
		id = id[:maxIDLen]
	}
	return context.WithValue(ctx, requestIDKey{}, id)
}

func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func requestKey(cmd *raftlogv1.Command) []byte {
	if cmd.RequestId == "" {
		return nil
	}
	return append(append([]byte(cmd.Actor), 0), cmd.RequestId...)
}

// AppliedRequest reports whether the request id ctx carries applied
// already, and at which revision: a read-then-write operation checks it
// before reading, since a retry would read the state its first try left.
func (s *Store) AppliedRequest(ctx context.Context) (int64, bool) {
	cmd := &raftlogv1.Command{Actor: ActorFrom(ctx), RequestId: requestIDFrom(ctx)}
	var rev int64
	var ok bool
	s.fsm.view(func(tx *bolt.Tx) error {
		rev, ok = appliedRequest(tx, cmd)
		return nil
	})
	return rev, ok
}

// appliedRequest returns the revision at which cmd's request id applied.
func appliedRequest(tx *bolt.Tx, cmd *raftlogv1.Command) (int64, bool) {
	k := requestKey(cmd)
	if k == nil {
		return 0, false
	}
	v := tx.Bucket(bucketRequests).Get(k)
	if len(v) < 8 {
		return 0, false
	}
	return int64(binary.BigEndian.Uint64(v)), true
}

// recordRequest notes that cmd's request id applied at rev, and forgets
// ids older than requestTTL (or beyond maxRequests).
func recordRequest(tx *bolt.Tx, cmd *raftlogv1.Command, rev int64) error {
	k := requestKey(cmd)
	if k == nil {
		return nil
	}
	now := uint64(cmd.GetTime().AsTime().UnixNano())
	reqs, times := tx.Bucket(bucketRequests), tx.Bucket(bucketRequestTimes)
	v := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(rev)), now)
	if reqs.Get(k) != nil {
		return nil
	}
	if err := reqs.Put(k, v); err != nil {
		return err
	}
	if err := times.Put(append(binary.BigEndian.AppendUint64(nil, now), k...), nil); err != nil {
		return err
	}
	meta := tx.Bucket(bucketMeta)
	n := u64(meta.Get(keyRequestCount)) + 1
	cutoff := now - uint64(requestTTL)
	c := times.Cursor()
	for tk, _ := c.First(); len(tk) > 8; tk, _ = c.First() {
		if binary.BigEndian.Uint64(tk[:8]) >= cutoff && n <= maxRequests {
			break
		}
		if err := reqs.Delete(tk[8:]); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
		n--
	}
	return meta.Put(keyRequestCount, u64bytes(n))
}
