package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// Edge data stores: named tables of keys and values that every worker
// keeps in memory for handlers to read. Each store is a nested bucket of
// bucketKV; its description (key count, bytes) is in bucketKVStores.
// A write is one or more PutKVCommands, each small enough for one Raft
// entry and its own revision.

// The bounds of edge data: every worker holds every store in memory, so
// they bound a worker's memory as much as the registry's.
var (
	LimitKVKey    = Limit{"key", 512}
	LimitKVValue  = Limit{"value", 128 << 10}
	LimitKVKeys   = Limit{"keys in a store", 1_000_000}
	LimitKVBytes  = Limit{"bytes in a store", 64 << 20}
	LimitKVTotal  = Limit{"bytes in all stores", 256 << 20}
	LimitKVStores = Limit{"stores", 100}
	LimitKVWrite  = Limit{"entries in one write", 100_000}
	LimitKVLinks  = Limit{"stores linked to a module", 16}
)

func init() {
	Limits = append(Limits, LimitKVKey, LimitKVValue, LimitKVKeys, LimitKVBytes, LimitKVTotal, LimitKVStores, LimitKVWrite, LimitKVLinks)
}

// kvBatchBytes bounds the keys and values of one PutKVCommand, below
// maxEntryData with room for framing.
const kvBatchBytes = 448 << 10

// KVWrite is a write to one store: keys to put and keys to delete. A key
// put twice takes its last value; a key both put and deleted is put.
type KVWrite struct {
	Store  string
	Put    []*registryv1.KVEntry
	Delete []string
}

// KVWriteResult is what a write did, or would do.
type KVWriteResult struct {
	// Revision is the write's last revision: 0 for a dry run or a write
	// that changed nothing.
	Revision                           int64
	Store                              *registryv1.KVStore
	Added, Updated, Unchanged, Deleted int64
}

func validateKVKey(k string) error {
	if k == "" || !utf8.ValidString(k) {
		return fmt.Errorf("%w: key %.80q: want 1 to %d bytes of UTF-8", ErrInvalid, k, LimitKVKey.Max)
	}
	return LimitKVKey.Check(k)
}

// normalize checks a write and folds keys named twice into one change:
// puts and deletes, each sorted by key.
func (kw KVWrite) normalize() ([]*registryv1.KVEntry, []string, error) {
	if err := ValidateName(kw.Store); err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	if err := LimitKVWrite.CheckCount(len(kw.Put) + len(kw.Delete)); err != nil {
		return nil, nil, err
	}
	last := map[string]*registryv1.KVEntry{} // nil value: a delete
	for _, k := range kw.Delete {
		if err := validateKVKey(k); err != nil {
			return nil, nil, err
		}
		last[k] = nil
	}
	for _, e := range kw.Put {
		if err := validateKVKey(e.GetKey()); err != nil {
			return nil, nil, err
		}
		if err := LimitKVValue.Check(string(e.GetValue())); err != nil {
			return nil, nil, fmt.Errorf("key %.80q: %w", e.GetKey(), err)
		}
		last[e.GetKey()] = e
	}
	var puts []*registryv1.KVEntry
	var dels []string
	for _, k := range sortedKeys(last) {
		if e := last[k]; e != nil {
			puts = append(puts, &registryv1.KVEntry{Key: k, Value: e.Value})
		} else {
			dels = append(dels, k)
		}
	}
	return puts, dels, nil
}

// kvDelta is what a write changes in a store, counted before anything
// is written.
type kvDelta struct {
	meta                               *registryv1.KVStore
	exists                             bool
	puts                               []*registryv1.KVEntry // changed or added only
	dels                               []string              // present only
	added, updated, unchanged, deleted int64
}

// planKV compares a write with a store and checks the store's bounds as
// the write would leave them.
func planKV(tx *bolt.Tx, store string, puts []*registryv1.KVEntry, dels []string) (*kvDelta, error) {
	d := &kvDelta{meta: &registryv1.KVStore{Name: store}}
	if v := tx.Bucket(bucketKVStores).Get([]byte(store)); v != nil {
		if err := proto.Unmarshal(v, d.meta); err != nil {
			return nil, err
		}
		d.exists = true
	}
	var b *bolt.Bucket
	if d.exists {
		b = tx.Bucket(bucketKV).Bucket([]byte(store))
	}
	get := func(k string) []byte {
		if b == nil {
			return nil
		}
		return b.Get([]byte(k))
	}
	keys, size := d.meta.Keys, d.meta.Bytes
	for _, e := range puts {
		old := get(e.Key)
		switch {
		case old == nil:
			d.added++
			keys++
			size += int64(len(e.Key) + len(e.Value))
		case bytes.Equal(old, e.Value):
			d.unchanged++
			continue
		default:
			d.updated++
			size += int64(len(e.Value) - len(old))
		}
		d.puts = append(d.puts, e)
	}
	for _, k := range dels {
		if old := get(k); old != nil {
			d.deleted++
			keys--
			size -= int64(len(k) + len(old))
			d.dels = append(d.dels, k)
		}
	}
	if !d.exists && len(d.puts) > 0 {
		if n := tx.Bucket(bucketKVStores).Stats().KeyN; n >= LimitKVStores.Max {
			return nil, fmt.Errorf("%w: the registry holds %d stores; the limit is %d", ErrInvalid, n, LimitKVStores.Max)
		}
	}
	if keys > int64(LimitKVKeys.Max) {
		return nil, fmt.Errorf("%w: store %s would hold %d keys; the limit is %d", ErrInvalid, store, keys, LimitKVKeys.Max)
	}
	if size > int64(LimitKVBytes.Max) {
		return nil, fmt.Errorf("%w: store %s would hold %d bytes; the limit is %d", ErrInvalid, store, size, LimitKVBytes.Max)
	}
	if total := kvTotalBytes(tx) - d.meta.Bytes + size; total > int64(LimitKVTotal.Max) {
		return nil, fmt.Errorf("%w: the stores would hold %d bytes; the limit is %d", ErrInvalid, total, LimitKVTotal.Max)
	}
	d.meta = proto.Clone(d.meta).(*registryv1.KVStore)
	d.meta.Keys, d.meta.Bytes = keys, size
	return d, nil
}

func kvTotalBytes(tx *bolt.Tx) int64 {
	var n int64
	tx.Bucket(bucketKVStores).ForEach(func(_, v []byte) error {
		m := &registryv1.KVStore{}
		if proto.Unmarshal(v, m) == nil {
			n += m.Bytes
		}
		return nil
	})
	return n
}

// WriteKV puts and deletes keys of a store, creating it with its first
// key. A write too large for one Raft entry applies as several, each its
// own revision: readers may see part of it between them, never part of
// one. With dryRun nothing is written; the result says what would be.
func (s *Store) WriteKV(ctx context.Context, kw KVWrite, dryRun bool) (KVWriteResult, error) {
	puts, dels, err := kw.normalize()
	if err != nil {
		return KVWriteResult{}, err
	}
	var d *kvDelta
	err = s.fsm.view(func(tx *bolt.Tx) error {
		d, err = planKV(tx, kw.Store, puts, dels)
		return err
	})
	if err != nil {
		return KVWriteResult{}, err
	}
	res := KVWriteResult{Store: d.meta, Added: d.added, Updated: d.updated, Unchanged: d.unchanged, Deleted: d.deleted}
	if dryRun || len(d.puts)+len(d.dels) == 0 {
		return res, nil
	}
	batches := splitKV(kw.Store, d.puts, d.dels)
	reqID := requestIDFrom(ctx)
	for i, c := range batches {
		bctx := ctx
		if reqID != "" && len(batches) > 1 {
			sum := sha256.Sum256([]byte(reqID + "#" + strconv.Itoa(i)))
			bctx = WithRequestID(ctx, hex.EncodeToString(sum[:16]))
		}
		r, err := s.apply(bctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutKv{PutKv: c}})
		if err != nil {
			if i > 0 {
				return res, fmt.Errorf("%w (after %d of %d batches applied, up to revision %d: repeat the write to finish it)", err, i, len(batches), res.Revision)
			}
			return res, err
		}
		res.Revision = r.revision
	}
	if m, err := s.KVStore(kw.Store); err == nil {
		res.Store = m
	}
	return res, nil
}

// splitKV cuts a write into commands of at most kvBatchBytes each.
func splitKV(store string, puts []*registryv1.KVEntry, dels []string) []*raftlogv1.PutKVCommand {
	var out []*raftlogv1.PutKVCommand
	cur, size := &raftlogv1.PutKVCommand{Store: store}, 0
	flush := func(n int) {
		if size+n > kvBatchBytes && size > 0 {
			out = append(out, cur)
			cur, size = &raftlogv1.PutKVCommand{Store: store}, 0
		}
		size += n
	}
	for _, e := range puts {
		flush(len(e.Key) + len(e.Value) + 16)
		cur.Put = append(cur.Put, e)
	}
	for _, k := range dels {
		flush(len(k) + 8)
		cur.Delete = append(cur.Delete, k)
	}
	return append(out, cur)
}

// DeleteKVStore deletes a store and every key in it. Modules that link
// it keep the link and read no store until one of that name exists.
func (s *Store) DeleteKVStore(ctx context.Context, store string) (int64, error) {
	if err := ValidateName(store); err != nil {
		return 0, fmt.Errorf("store: %w", err)
	}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_DeleteKvStore{DeleteKvStore: &raftlogv1.DeleteKVStoreCommand{Store: store}}})
	if err != nil {
		return 0, err
	}
	return res.revision, nil
}

// KVStore describes one store, or ErrNotFound.
func (s *Store) KVStore(name string) (*registryv1.KVStore, error) {
	m := &registryv1.KVStore{}
	err := s.fsm.view(func(tx *bolt.Tx) error { return getProto(tx.Bucket(bucketKVStores), name, "store", m) })
	return m, err
}

// ListKVStores describes every store, by name, and the revision the
// list reflects.
func (s *Store) ListKVStores() ([]*registryv1.KVStore, int64, error) {
	return listProto[*registryv1.KVStore](s, bucketKVStores, func() *registryv1.KVStore { return &registryv1.KVStore{} })
}

// GetKV reads one key of a store; ErrNotFound names what is missing.
func (s *Store) GetKV(store, key string) (*registryv1.KVEntry, int64, error) {
	var e *registryv1.KVEntry
	var rev int64
	err := s.fsm.view(func(tx *bolt.Tx) error {
		rev = int64(u64(tx.Bucket(bucketMeta).Get(keyRevision)))
		b := tx.Bucket(bucketKV).Bucket([]byte(store))
		if b == nil {
			return fmt.Errorf("%w: store %q", ErrNotFound, store)
		}
		v := b.Get([]byte(key))
		if v == nil {
			return fmt.Errorf("%w: key %.80q in store %s", ErrNotFound, key, store)
		}
		e = &registryv1.KVEntry{Key: key, Value: bytes.Clone(v)}
		return nil
	})
	return e, rev, err
}

// KV pages: at most this many entries, ending before this many bytes.
const (
	MaxKVPage      = 10000
	maxKVPageBytes = 2 << 20
)

// ListKV reads a store's entries in key order after the key after, at
// most limit of them (0: 1000), and returns the key to continue after
// ("" at the end) and the revision the page reflects.
func (s *Store) ListKV(store, after string, limit int, keysOnly bool) (entries []*registryv1.KVEntry, next string, rev int64, err error) {
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, MaxKVPage)
	err = s.fsm.view(func(tx *bolt.Tx) error {
		rev = int64(u64(tx.Bucket(bucketMeta).Get(keyRevision)))
		b := tx.Bucket(bucketKV).Bucket([]byte(store))
		if b == nil {
			return fmt.Errorf("%w: store %q", ErrNotFound, store)
		}
		c := b.Cursor()
		k, v := c.Seek([]byte(after))
		if k != nil && after != "" && string(k) == after {
			k, v = c.Next()
		}
		size := 0
		for ; k != nil; k, v = c.Next() {
			if len(entries) == limit || size >= maxKVPageBytes {
				next = entries[len(entries)-1].Key
				break
			}
			e := &registryv1.KVEntry{Key: string(k)}
			if !keysOnly {
				e.Value = bytes.Clone(v)
			}
			size += len(k) + len(e.Value)
			entries = append(entries, e)
		}
		return nil
	})
	return entries, next, rev, err
}

func (w *writer) putKV(c *raftlogv1.PutKVCommand) error {
	puts, dels, err := KVWrite{Store: c.Store, Put: c.Put, Delete: c.Delete}.normalize()
	if err != nil {
		return err
	}
	if len(puts) != len(c.Put) || len(dels) != len(c.Delete) {
		return fmt.Errorf("%w: a store write names a key twice", ErrInvalid)
	}
	d, err := planKV(w.tx, c.Store, puts, dels)
	if err != nil {
		return err
	}
	if len(d.puts)+len(d.dels) == 0 {
		return nil // nothing changed: no revision
	}
	// Checked: from here on, only writes.
	b, err := w.tx.Bucket(bucketKV).CreateBucketIfNotExists([]byte(c.Store))
	if err != nil {
		return err
	}
	for _, e := range d.puts {
		if err := b.Put([]byte(e.Key), e.Value); err != nil {
			return err
		}
	}
	for _, k := range d.dels {
		if err := b.Delete([]byte(k)); err != nil {
			return err
		}
	}
	if !d.exists {
		d.meta.CreateRevision = w.rev
	}
	d.meta.ModRevision = w.rev
	if err := putProto(w.tx.Bucket(bucketKVStores), []byte(c.Store), d.meta); err != nil {
		return err
	}
	w.emit(registryv1.EventType_EVENT_TYPE_PUT, &registryv1.Event_Kv{Kv: &registryv1.KVChange{Store: c.Store, Put: d.puts, Delete: d.dels, Meta: d.meta}})
	w.audit("put_kv", fmt.Sprintf("%s: %d added, %d updated, %d deleted", c.Store, d.added, d.updated, d.deleted))
	return nil
}

func (w *writer) deleteKVStore(c *raftlogv1.DeleteKVStoreCommand) error {
	if w.tx.Bucket(bucketKVStores).Get([]byte(c.Store)) == nil {
		return fmt.Errorf("%w: store %q", ErrNotFound, c.Store)
	}
	if err := w.tx.Bucket(bucketKVStores).Delete([]byte(c.Store)); err != nil {
		return err
	}
	if w.tx.Bucket(bucketKV).Bucket([]byte(c.Store)) != nil {
		if err := w.tx.Bucket(bucketKV).DeleteBucket([]byte(c.Store)); err != nil {
			return err
		}
	}
	w.emit(registryv1.EventType_EVENT_TYPE_DELETE, &registryv1.Event_Kv{Kv: &registryv1.KVChange{Store: c.Store}})
	w.audit("delete_kv_store", c.Store)
	return nil
}

// checkKV checks a restored state's stores: each described store has
// its entries, as many and as large as described, within the bounds.
func checkKV(tx *bolt.Tx) error {
	metas, kv := tx.Bucket(bucketKVStores), tx.Bucket(bucketKV)
	if metas == nil || kv == nil {
		return nil // a state from before stores
	}
	var total int64
	err := metas.ForEach(func(k, v []byte) error {
		m := &registryv1.KVStore{}
		if err := proto.Unmarshal(v, m); err != nil {
			return fmt.Errorf("store %q: %v", k, err)
		}
		b := kv.Bucket(k)
		if m.Name != string(k) || b == nil {
			return fmt.Errorf("store %q: described but not stored", k)
		}
		var keys, size int64
		if err := b.ForEach(func(k, v []byte) error {
			keys, size = keys+1, size+int64(len(k)+len(v))
			if validateKVKey(string(k)) != nil || len(v) > LimitKVValue.Max {
				return fmt.Errorf("store %s: key %.80q or its value outside the bounds", m.Name, k)
			}
			return nil
		}); err != nil {
			return err
		}
		if keys != m.Keys || size != m.Bytes || keys > int64(LimitKVKeys.Max) || size > int64(LimitKVBytes.Max) {
			return fmt.Errorf("store %s: holds %d keys and %d bytes, described as %d and %d", m.Name, keys, size, m.Keys, m.Bytes)
		}
		total += size
		return nil
	})
	if err != nil {
		return err
	}
	if total > int64(LimitKVTotal.Max) {
		return fmt.Errorf("stores hold %d bytes; the limit is %d", total, LimitKVTotal.Max)
	}
	return kv.ForEachBucket(func(k []byte) error {
		if metas.Get(k) == nil {
			return fmt.Errorf("store %q: stored but not described", k)
		}
		return nil
	})
}

// sortedStores is a config's linked stores after a change, sorted.
func sortedStores(have, link, unlink []string) []string {
	set := map[string]bool{}
	for _, s := range have {
		set[s] = true
	}
	for _, s := range link {
		set[s] = true
	}
	for _, s := range unlink {
		delete(set, s)
	}
	return sortedKeys(set)
}
