package registry

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// fsm applies Raft log entries to the bbolt state database. Apply is the
// only writer; everything else reads.
type fsm struct {
	path         string
	historyLimit int

	mu sync.RWMutex // guards db against Restore swapping it
	db *bolt.DB

	appliedIndex uint64 // touched only by Raft's FSM goroutine

	notifyMu sync.Mutex
	notifyCh chan struct{} // closed and replaced after every committed write
}

// applyResult is what Apply returns through raft.ApplyFuture.Response.
type applyResult struct {
	revision int64
	events   []*registryv1.Event
	err      error
	// duplicate: the command's request id had applied already, at
	// revision; nothing changed now.
	duplicate bool
}

func openFSM(path string, historyLimit int) (*fsm, error) {
	f := &fsm{path: path, historyLimit: historyLimit, notifyCh: make(chan struct{})}
	if err := f.open(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *fsm) open() error {
	// A large initial mmap keeps writers from waiting on long read
	// transactions (snapshots, watchers) to remap the file.
	db, err := bolt.Open(f.path, 0o600, &bolt.Options{Timeout: 5 * time.Second, InitialMmapSize: 256 << 20})
	if err != nil {
		return fmt.Errorf("registry: open state db %s: %w", f.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		f.appliedIndex = u64(tx.Bucket(bucketMeta).Get(keyAppliedIndex))
		return nil
	})
	if err != nil {
		db.Close()
		return fmt.Errorf("registry: init state db: %w", err)
	}
	f.db = db
	return nil
}

func (f *fsm) close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.db.Close()
}

// view runs fn in a read transaction on the current database.
func (f *fsm) view(fn func(*bolt.Tx) error) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.db.View(fn)
}

// changed returns a channel closed at the next committed write.
func (f *fsm) changed() <-chan struct{} {
	f.notifyMu.Lock()
	defer f.notifyMu.Unlock()
	return f.notifyCh
}

func (f *fsm) notify() {
	f.notifyMu.Lock()
	close(f.notifyCh)
	f.notifyCh = make(chan struct{})
	f.notifyMu.Unlock()
}

// Apply implements raft.FSM. It must be deterministic: every input comes from
// the log entry and the current state.
func (f *fsm) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM: the entries Raft committed
// together apply in one bbolt transaction, so one disk sync covers them.
// Each keeps its own revision, events and result; a refused command
// changes nothing, since commands check everything before they write.
func (f *fsm) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	notify := false
	f.mu.RLock()
	err := f.db.Update(func(tx *bolt.Tx) error {
		for i, l := range logs {
			if l.Type != raft.LogCommand || l.Index <= f.appliedIndex {
				continue // replayed after restart: the state already has it
			}
			res, err := f.applyTx(tx, l)
			if err != nil {
				return fmt.Errorf("index %d: %w", l.Index, err)
			}
			out[i] = res
			notify = notify || len(res.events) > 0
		}
		return nil
	})
	f.mu.RUnlock()
	if err != nil {
		// The database failed underneath us; continuing would diverge from
		// the other replicas.
		panic(fmt.Sprintf("registry: apply: %v", err))
	}
	for _, l := range logs {
		f.appliedIndex = max(f.appliedIndex, l.Index)
	}
	if notify {
		f.notify()
	}
	return out
}

// applyTx applies one entry inside tx. Its error is the database's; a
// refused command is the result's err.
func (f *fsm) applyTx(tx *bolt.Tx, l *raft.Log) (*applyResult, error) {
	res := &applyResult{}
	if err := tx.Bucket(bucketMeta).Put(keyAppliedIndex, u64bytes(l.Index)); err != nil {
		return nil, err
	}
	cmd, err := decodeCommand(l.Data)
	if err != nil {
		res.err = err
		return res, nil
	}
	if rev, ok := appliedRequest(tx, cmd); ok {
		res.revision, res.duplicate = rev, true
		return res, nil
	}
	w := &writer{tx: tx, rev: int64(l.Index), cmd: cmd}
	if res.err = w.apply(cmd); res.err != nil {
		return res, nil
	}
	if err := recordRequest(tx, cmd, w.rev); err != nil {
		return nil, err
	}
	if len(w.events) == 0 && len(w.audits) == 0 {
		res.revision = int64(u64(tx.Bucket(bucketMeta).Get(keyRevision)))
		return res, nil
	}
	res.revision, res.events = w.rev, w.events
	return res, w.commitEvents(f.historyLimit)
}

func decodeCommand(data []byte) (*raftlogv1.Command, error) {
	cmd := &raftlogv1.Command{}
	if err := proto.Unmarshal(data, cmd); err != nil {
		return nil, fmt.Errorf("%w: decode command: %v", ErrInvalid, err)
	}
	if cmd.Op == nil {
		return nil, fmt.Errorf("%w: empty command", ErrInvalid)
	}
	return cmd, nil
}

// Snapshot implements raft.FSM. It only opens a read transaction; Persist
// does the I/O.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	tx, err := f.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("registry: snapshot: %w", err)
	}
	return &fsmSnapshot{tx: tx}, nil
}

// Restore implements raft.FSM: it replaces the state database with the
// snapshot's copy.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := f.path + ".restore"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("registry: restore: %w", err)
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return fmt.Errorf("registry: restore: %w", err)
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("registry: restore: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("registry: restore: %w", err)
	}
	// Never swap a damaged file in for the working database.
	st, err := os.Stat(tmp)
	if err == nil {
		_, err = inspectState(tmp, st.Size())
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.db.Close(); err != nil {
		return fmt.Errorf("registry: restore: close: %w", err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return fmt.Errorf("registry: restore: %w", err)
	}
	if err := f.open(); err != nil {
		return err
	}
	f.notify()
	return nil
}

type fsmSnapshot struct {
	tx *bolt.Tx
}

func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	_, err := s.tx.WriteTo(sink)
	// Release the read transaction as soon as it is written: raft's
	// RecoverCluster never calls Release, and an open read transaction
	// would block Restore from closing the database. Release then finds
	// the transaction closed, which is harmless.
	_ = s.tx.Rollback()
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("registry: persist snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) Release() { _ = s.tx.Rollback() }
