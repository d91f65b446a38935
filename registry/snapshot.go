package registry

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

// ErrRestoring: a snapshot restore holds writes back; retry shortly.
var ErrRestoring = errors.New("registry: a snapshot restore is in progress")

// SnapshotInfo describes a backup of the state database.
type SnapshotInfo struct {
	// Revision is the newest write the snapshot holds.
	Revision int64
	// Size and SHA256 (hex) are of the whole backup file.
	Size   int64
	SHA256 string
	// Counts of what it holds.
	Modules, Routes, Keys, Tokens, Flags int
}

// A backup file is the state database (a bbolt file, the bytes Raft
// snapshots hold) followed by the SHA-256 of those bytes: a truncated or
// damaged copy fails the sum before anything reads it as a database.
const trailerSize = sha256.Size

// SaveSnapshot writes a backup of this node's state to a temporary file in
// the data dir and returns it, opened at its start and already unlinked:
// closing it frees the space. The copy is made in one read transaction
// that ends before the caller streams the file, so a slow reader never
// holds back writes.
func (s *Store) SaveSnapshot(ctx context.Context) (*os.File, SnapshotInfo, error) {
	f, err := os.CreateTemp(s.cfg.DataDir, "snapshot-save-*")
	if err != nil {
		return nil, SnapshotInfo{}, fmt.Errorf("registry: snapshot: %w", err)
	}
	_ = os.Remove(f.Name())
	content, whole := sha256.New(), sha256.New()
	var info SnapshotInfo
	err = s.fsm.view(func(tx *bolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		info = describe(tx)
		_, err := tx.WriteTo(io.MultiWriter(f, content, whole))
		return err
	})
	if err == nil {
		_, err = io.MultiWriter(f, whole).Write(content.Sum(nil))
	}
	if err == nil {
		info.Size, err = f.Seek(0, io.SeekCurrent)
	}
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, SnapshotInfo{}, fmt.Errorf("registry: snapshot: %w", err)
	}
	info.SHA256 = hex.EncodeToString(whole.Sum(nil))
	return f, info, nil
}

// InspectSnapshot checks the backup file at path: its sum, then that it
// is a state database whose every object decodes and keeps its limits and
// whose every module's bytes match their digest. Anything else is
// ErrInvalid.
//
// The sum catches damage, not intent: past it, the database's pages are
// trusted as bbolt trusts them. Restoring is for admins only.
func InspectSnapshot(path string) (SnapshotInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("registry: snapshot: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("registry: snapshot: %w", err)
	}
	size := st.Size() - trailerSize
	if size <= 0 {
		return SnapshotInfo{}, fmt.Errorf("%w: snapshot: %d bytes is too short for a backup", ErrInvalid, st.Size())
	}
	content, whole := sha256.New(), sha256.New()
	if _, err := io.Copy(io.MultiWriter(content, whole), io.LimitReader(f, size)); err != nil {
		return SnapshotInfo{}, fmt.Errorf("registry: snapshot: %w", err)
	}
	sum := make([]byte, trailerSize)
	if _, err := io.ReadFull(io.TeeReader(f, whole), sum); err != nil {
		return SnapshotInfo{}, fmt.Errorf("registry: snapshot: %w", err)
	}
	if !bytes.Equal(sum, content.Sum(nil)) {
		return SnapshotInfo{}, fmt.Errorf("%w: snapshot: its checksum does not match: damaged, truncated or not a backup", ErrInvalid)
	}
	info, err := inspectState(path, size)
	if err != nil {
		return SnapshotInfo{}, err
	}
	info.Size, info.SHA256 = st.Size(), hex.EncodeToString(whole.Sum(nil))
	return info, nil
}

// inspectState checks the state database in the first size bytes of the
// file at path and describes it.
func inspectState(path string, size int64) (info SnapshotInfo, err error) {
	if err := checkMeta(path, size); err != nil {
		return info, err
	}
	// A page read past the mapped file faults; let it panic here instead
	// of killing the process, and report it.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: snapshot: damaged database: %v", ErrInvalid, r)
		}
	}()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return info, fmt.Errorf("%w: snapshot: not a state database: %v", ErrInvalid, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil && !addedLater[string(b)] {
				return fmt.Errorf("%w: snapshot: not a state database: no %q bucket", ErrInvalid, b)
			}
		}
		if err := checkContents(tx); err != nil {
			return fmt.Errorf("%w: snapshot: %w", ErrInvalid, err)
		}
		info = describe(tx)
		return nil
	})
	return info, err
}

// bbolt's meta page, as it lays it out (native byte order, which is
// little-endian on every platform nanoedge builds for).
const (
	boltMagic       = 0xED0CDAED
	boltMetaOffset  = 16 // after the page header
	boltMetaSumFrom = 56 // bytes of the meta the checksum covers
	noFreelist      = ^uint64(0)
)

// checkMeta reads bbolt's two meta pages and refuses a file whose valid
// metas name pages past its first size bytes: bbolt would read them
// through its memory map, and past the end of the file that is a fault,
// not an error.
func checkMeta(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("registry: snapshot: %w", err)
	}
	defer f.Close()
	page0 := make([]byte, boltMetaOffset+boltMetaSumFrom+8)
	if _, err := f.ReadAt(page0, 0); err != nil {
		return fmt.Errorf("%w: snapshot: not a state database: %v", ErrInvalid, err)
	}
	pageSize := int64(binary.LittleEndian.Uint32(page0[boltMetaOffset+8:]))
	if pageSize < 512 || pageSize > 1<<16 || pageSize&(pageSize-1) != 0 {
		return fmt.Errorf("%w: snapshot: not a state database (page size %d)", ErrInvalid, pageSize)
	}
	valid := 0
	for i := range int64(2) {
		p := make([]byte, len(page0))
		if _, err := f.ReadAt(p, i*pageSize); err != nil {
			return fmt.Errorf("%w: snapshot: not a state database: %v", ErrInvalid, err)
		}
		m := p[boltMetaOffset:]
		h := fnv.New64a()
		h.Write(m[:boltMetaSumFrom])
		if binary.LittleEndian.Uint32(m) != boltMagic || binary.LittleEndian.Uint64(m[boltMetaSumFrom:]) != h.Sum64() {
			continue // bbolt falls back to the other meta
		}
		root, freelist, pages := binary.LittleEndian.Uint64(m[16:]), binary.LittleEndian.Uint64(m[32:]), binary.LittleEndian.Uint64(m[40:])
		if pages > uint64(size/pageSize) || root >= pages || (freelist != noFreelist && freelist >= pages) {
			return fmt.Errorf("%w: snapshot: damaged database: meta %d names page %d of a %d-page file", ErrInvalid, i, max(pages, root, freelist), size/pageSize)
		}
		valid++
	}
	if valid == 0 {
		return fmt.Errorf("%w: snapshot: not a state database (no valid meta page)", ErrInvalid)
	}
	return nil
}

// addedLater are buckets newer releases added: a backup from before them
// lacks them, and the database opens them empty.
var addedLater = map[string]bool{string(bucketConfigs): true, string(bucketKVStores): true, string(bucketKV): true}

// checkContents decodes what workers and the API read back, so a restored
// state cannot hand them an object they refuse.
func checkContents(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if len(meta.Get(keyRevision)) != 8 {
		return errors.New("no revision")
	}
	if err := checkKV(tx); err != nil {
		return err
	}
	blobs := tx.Bucket(bucketBlobs)
	err := tx.Bucket(bucketModules).ForEach(func(k, v []byte) error {
		m := &registryv1.Module{}
		if err := proto.Unmarshal(v, m); err != nil {
			return fmt.Errorf("module %q: %v", k, err)
		}
		if m.Digest != string(k) || digest.Of(blobs.Get(k)) != m.Digest {
			return fmt.Errorf("module %q: its bytes do not match its digest", k)
		}
		return ValidateName(m.Name)
	})
	if err != nil {
		return err
	}
	if err := checkCount(tx, bucketRoutes, LimitRoutes); err != nil {
		return err
	}
	err = tx.Bucket(bucketRoutes).ForEach(func(k, v []byte) error {
		r := &registryv1.Route{}
		if err := proto.Unmarshal(v, r); err != nil {
			return fmt.Errorf("route %q: %v", k, err)
		}
		if err := validateStoredRoute(r); err != nil {
			return fmt.Errorf("route %.80q: %w", r.Host+r.PathPrefix, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range []struct {
		bucket []byte
		limit  Limit
		msg    func() proto.Message
	}{
		{bucketKeys, LimitKeys, func() proto.Message { return &registryv1.PublisherKey{} }},
		{bucketTokens, LimitTokens, func() proto.Message { return &registryv1.Token{} }},
		{bucketFlags, LimitFlags, func() proto.Message { return &registryv1.Flag{} }},
		{bucketRollout, LimitRoutes, func() proto.Message { return &registryv1.Rollout{} }},
		{bucketConfigs, LimitConfigs, func() proto.Message { return &registryv1.Config{} }},
		{bucketKVStores, LimitKVStores, func() proto.Message { return &registryv1.KVStore{} }},
	} {
		if tx.Bucket(c.bucket) == nil {
			continue // a bucket newer than the snapshot
		}
		if err := checkCount(tx, c.bucket, c.limit); err != nil {
			return err
		}
		err := tx.Bucket(c.bucket).ForEach(func(k, v []byte) error {
			if err := proto.Unmarshal(v, c.msg()); err != nil {
				return fmt.Errorf("%s %q: %v", c.bucket, k, err)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

func checkCount(tx *bolt.Tx, bucket []byte, l Limit) error {
	return l.CheckCount(tx.Bucket(bucket).Stats().KeyN)
}

func describe(tx *bolt.Tx) SnapshotInfo {
	n := func(b []byte) int {
		if bk := tx.Bucket(b); bk != nil {
			return bk.Stats().KeyN
		}
		return 0
	}
	return SnapshotInfo{
		Revision: int64(u64(tx.Bucket(bucketMeta).Get(keyRevision))),
		Modules:  n(bucketModules), Routes: n(bucketRoutes), Keys: n(bucketKeys), Tokens: n(bucketTokens), Flags: n(bucketFlags),
	}
}

// RestoreSnapshot replaces the whole cluster's state with the backup r
// reads (see InspectSnapshot; a file that fails it changes nothing). It
// runs on the leader and returns once every write before it has applied
// and the leader has taken the snapshot's state; followers install it as
// a Raft snapshot.
//
// What a restore keeps of the running cluster: its membership (Raft's
// configuration and each node's API address). Everything else, tokens
// included, is the snapshot's. Its history is not: the restored state
// starts a new revision above both the snapshot's and the cluster's, with
// nothing before it to replay, so every watcher lists again. The audit
// trail records the restore at that revision.
func (s *Store) RestoreSnapshot(ctx context.Context, r io.Reader) (SnapshotInfo, error) {
	if !s.IsLeader() {
		return SnapshotInfo{}, fmt.Errorf("%w (leader: %s)", ErrNotLeader, s.leaderAddr())
	}
	path, err := s.receive(r)
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer os.Remove(path)
	info, err := InspectSnapshot(path)
	if err != nil {
		return SnapshotInfo{}, err
	}
	if !s.IsLeader() {
		return SnapshotInfo{}, fmt.Errorf("%w (leader: %s)", ErrNotLeader, s.leaderAddr())
	}
	// Hold new writes back, then let those already proposed apply, so
	// the revision read below is the last one before the restore.
	s.writes.Lock()
	if s.restoring {
		s.writes.Unlock()
		return SnapshotInfo{}, ErrRestoring
	}
	s.restoring = true
	s.writes.Unlock()
	defer func() {
		s.writes.Lock()
		s.restoring = false
		s.writes.Unlock()
	}()
	if err := s.await(ctx, s.raft.Barrier(s.timeout(ctx)), "applying the writes before the restore"); err != nil {
		return SnapshotInfo{}, err
	}
	work, err := s.copyState(path, info.Size-trailerSize)
	if err != nil {
		return SnapshotInfo{}, err
	}
	defer os.Remove(work)
	rev, applied, err := s.prepareRestore(ctx, work, info)
	if err != nil {
		return SnapshotInfo{}, err
	}
	f, err := os.Open(work)
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("registry: restore: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return SnapshotInfo{}, fmt.Errorf("registry: restore: %w", err)
	}
	// Raft burns an index above max(Index, its last index): every later
	// write's revision (its index) is then above the restored revision.
	meta := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: max(applied, uint64(rev)), Size: st.Size()}
	if err := s.raft.Restore(meta, f, s.timeout(ctx)); err != nil {
		return SnapshotInfo{}, s.raftErr(err)
	}
	s.cfg.Logger.Warn("state replaced by a snapshot", "snapshot_revision", info.Revision, "revision", rev, "actor", ActorFrom(ctx))
	info.Revision = rev
	return info, nil
}

// receive writes r to a temporary file in the data dir.
func (s *Store) receive(r io.Reader) (string, error) {
	out, err := os.CreateTemp(s.cfg.DataDir, "snapshot-upload-*")
	if err != nil {
		return "", fmt.Errorf("registry: restore: %w", err)
	}
	_, err = io.Copy(out, r)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", fmt.Errorf("registry: restore: %w", err)
	}
	return out.Name(), nil
}

// copyState copies the state database out of a backup file, into the
// data dir.
func (s *Store) copyState(path string, size int64) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("registry: restore: %w", err)
	}
	defer in.Close()
	out, err := os.CreateTemp(s.cfg.DataDir, "snapshot-restore-*")
	if err != nil {
		return "", fmt.Errorf("registry: restore: %w", err)
	}
	_, err = io.Copy(out, io.LimitReader(in, size))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out.Name())
		return "", fmt.Errorf("registry: restore: %w", err)
	}
	return out.Name(), nil
}

// prepareRestore rewrites the state database at path for this cluster: its node
// addresses, a revision above both histories with nothing retained before
// it, and an audit entry. It returns that revision and the snapshot's
// applied index.
func (s *Store) prepareRestore(ctx context.Context, path string, info SnapshotInfo) (rev int64, applied uint64, err error) {
	nodes := map[string][]byte{}
	err = s.fsm.view(func(tx *bolt.Tx) error {
		rev = max(int64(u64(tx.Bucket(bucketMeta).Get(keyRevision))), info.Revision) + 1
		return tx.Bucket(bucketNodes).ForEach(func(k, v []byte) error {
			nodes[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	if err != nil {
		return 0, 0, fmt.Errorf("registry: restore: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return 0, 0, fmt.Errorf("registry: restore: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		applied = u64(meta.Get(keyAppliedIndex))
		for _, b := range [][]byte{bucketNodes, bucketEvents} {
			if err := tx.DeleteBucket(b); err != nil {
				return err
			}
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		for id, addr := range nodes {
			if err := tx.Bucket(bucketNodes).Put([]byte(id), addr); err != nil {
				return err
			}
		}
		for k, v := range map[string]uint64{string(keyRevision): uint64(rev), string(keyCompactRevision): uint64(rev), string(keyEventCount): 0} {
			if err := meta.Put([]byte(k), u64bytes(v)); err != nil {
				return err
			}
		}
		entry := &registryv1.AuditEntry{
			Revision: rev, Actor: ActorFrom(ctx), Action: "restore_snapshot", Time: timestamppb.Now(),
			Detail: fmt.Sprintf("snapshot at revision %d, sha256 %s", info.Revision, info.SHA256),
		}
		return putProto(tx.Bucket(bucketAudit), u64bytes(uint64(rev)), entry)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, 0, fmt.Errorf("registry: restore: %w", err)
	}
	return rev, applied, nil
}
