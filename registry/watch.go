package registry

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/history"
)

// watchBatch and watchBatchBytes bound the events one read transaction
// collects (a revision is never split): a watch response stays well under
// gRPC's 4 MiB message limit.
const (
	watchBatch      = 256
	watchBatchBytes = 1 << 20
)

// Watch calls fn with every event whose revision is at least start, in
// order, each revision exactly once, until ctx ends or fn fails. start 0
// means the first revision after the current one. fn also receives the
// store's revision at the time of the read.
//
// Watchers read the durable history themselves; Apply only wakes them, so a
// slow watcher can never hold up a write. If start is older than the
// retained history, Watch returns a *history.CompactedError.
func (s *Store) Watch(ctx context.Context, start int64, fn func(events []*registryv1.Event, revision int64) error) error {
	return s.WatchProgress(ctx, start, 0, fn)
}

// WatchProgress is Watch that also calls fn with no events every interval
// without a change (0: never): a progress notification carrying the
// store's revision, by which a watcher tells a quiet node from one that
// stopped answering.
func (s *Store) WatchProgress(ctx context.Context, start int64, every time.Duration, fn func(events []*registryv1.Event, revision int64) error) error {
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	next := start
	if next <= 0 {
		next = s.Revision() + 1
	}
	for {
		changed := s.fsm.changed() // before reading, so no write slips between
		events, rev, compact, err := s.eventsFrom(next)
		if err != nil {
			select {
			case <-s.closed:
				return ErrClosed // the read lost a race with Close
			default:
				return err
			}
		}
		if next <= compact {
			return &history.CompactedError{CompactRevision: compact}
		}
		if len(events) > 0 {
			if err := fn(events, rev); err != nil {
				return err
			}
			next = events[len(events)-1].Revision + 1
			continue
		}
		select {
		case <-changed:
		case <-tick:
			if err := fn(nil, s.Revision()); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-s.closed:
			return ErrClosed
		}
	}
}

// eventsFrom reads up to watchBatch events from revision next on, never
// splitting a revision across batches.
func (s *Store) eventsFrom(next int64) (events []*registryv1.Event, rev, compact int64, err error) {
	err = s.fsm.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		rev = int64(u64(meta.Get(keyRevision)))
		compact = int64(u64(meta.Get(keyCompactRevision)))
		if next <= compact {
			return nil
		}
		c := tx.Bucket(bucketEvents).Cursor()
		var last []byte
		size := 0
		for k, v := c.Seek(eventKey(next, 0)); k != nil; k, v = c.Next() {
			if (len(events) >= watchBatch || size >= watchBatchBytes) && !bytes.Equal(k[:8], last) {
				break
			}
			size += len(v)
			e := &registryv1.Event{}
			if err := proto.Unmarshal(v, e); err != nil {
				return fmt.Errorf("registry: decode event: %w", err)
			}
			events = append(events, e)
			last = k[:8]
		}
		return nil
	})
	return events, rev, compact, err
}
