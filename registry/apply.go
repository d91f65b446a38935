package registry

import (
	"bytes"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// writer applies one command inside one write transaction at revision rev.
type writer struct {
	tx     *bolt.Tx
	rev    int64
	cmd    *raftlogv1.Command
	events []*registryv1.Event
	audits []*registryv1.AuditEntry
}

// audit records an accepted change; entries are written with the events.
func (w *writer) audit(action, detail string) {
	w.audits = append(w.audits, &registryv1.AuditEntry{
		Revision: w.rev, Actor: w.cmd.GetActor(), Action: action, Detail: detail, Time: w.cmd.GetTime(),
	})
}

func (w *writer) apply(cmd *raftlogv1.Command) error {
	switch op := cmd.Op.(type) {
	case *raftlogv1.Command_PutModule:
		return w.putModule(op.PutModule)
	case *raftlogv1.Command_PutRoute:
		return w.putRoute(op.PutRoute)
	case *raftlogv1.Command_DeleteRoute:
		return w.deleteRoute(op.DeleteRoute)
	case *raftlogv1.Command_PutKey:
		return w.putKey(op.PutKey)
	case *raftlogv1.Command_RevokeKey:
		return w.revokeKey(op.RevokeKey)
	case *raftlogv1.Command_PutToken:
		return w.putToken(op.PutToken)
	case *raftlogv1.Command_RevokeToken:
		return w.revokeToken(op.RevokeToken)
	case *raftlogv1.Command_PutModuleChunk:
		return w.putModuleChunk(op.PutModuleChunk)
	case *raftlogv1.Command_PutRollout:
		return w.putRollout(op.PutRollout)
	case *raftlogv1.Command_CollectGarbage:
		return w.collectGarbage()
	case *raftlogv1.Command_PutNode:
		return w.putNode(op.PutNode)
	case *raftlogv1.Command_PutConfig:
		return w.putConfig(op.PutConfig)
	case *raftlogv1.Command_PutKv:
		return w.putKV(op.PutKv)
	case *raftlogv1.Command_DeleteKvStore:
		return w.deleteKVStore(op.DeleteKvStore)
	case *raftlogv1.Command_DeleteNode:
		return w.deleteNode(op.DeleteNode)
	case *raftlogv1.Command_PutFlag:
		return w.putFlag(op.PutFlag)
	case *raftlogv1.Command_DeleteFlag:
		return w.deleteFlag(op.DeleteFlag)
	default:
		return fmt.Errorf("%w: unknown command %T", ErrInvalid, op)
	}
}

func (w *writer) putModule(c *raftlogv1.PutModuleCommand) error {
	m := c.GetModule()
	if m == nil || m.Digest == "" {
		return fmt.Errorf("%w: module without digest", ErrInvalid)
	}
	if err := ValidateName(m.Name); err != nil {
		return err
	}
	if err := ValidateProvenance(m.Provenance); err != nil {
		return err
	}
	wasm := c.Wasm
	if c.UploadId != "" {
		var err error
		if wasm, err = w.assemble(c.UploadId, c.Chunks); err != nil {
			return err
		}
	}
	if err := checkDigest(m.Digest, wasm); err != nil {
		return err
	}
	// The leader checked the signing key before proposing; checking again
	// here closes the window in which the key was revoked meanwhile.
	if id := m.GetProvenance().GetKeyId(); id != "" {
		k := &registryv1.PublisherKey{}
		if err := getProto(w.tx.Bucket(bucketKeys), id, "publisher key", k); err == nil && k.Revoked {
			return fmt.Errorf("%w: publisher key %s was revoked at revision %d", ErrInvalid, id, k.RevokeRevision)
		}
	}
	mods := w.tx.Bucket(bucketModules)
	if mods.Get([]byte(m.Digest)) != nil {
		return w.dropStaged(c.UploadId) // content-addressed: already stored
	}
	m = proto.Clone(m).(*registryv1.Module)
	m.CreateRevision = w.rev
	m.Size = int64(len(wasm))
	if err := w.tx.Bucket(bucketBlobs).Put([]byte(m.Digest), wasm); err != nil {
		return err
	}
	if err := w.dropStaged(c.UploadId); err != nil {
		return err
	}
	if err := putProto(mods, []byte(m.Digest), m); err != nil {
		return err
	}
	w.emit(registryv1.EventType_EVENT_TYPE_PUT, &registryv1.Event_Module{Module: m})
	w.audit("put_module", m.Name+"@"+m.Digest)
	return nil
}

// putModuleChunk stages one piece of a large module until the PutModule
// that assembles it.
func (w *writer) putModuleChunk(c *raftlogv1.PutModuleChunkCommand) error {
	if c.UploadId == "" || len(c.Data) > maxEntryData {
		return fmt.Errorf("%w: module chunk needs an upload id and at most %d bytes", ErrInvalid, maxEntryData)
	}
	// The leader's clock, from the log entry, dates the chunk for garbage
	// collection: deterministic on every node.
	v := binary.BigEndian.AppendUint64(nil, uint64(w.cmd.GetTime().AsTime().UnixNano()))
	return w.tx.Bucket(bucketStaging).Put(stagingKey(c.UploadId, c.Index), append(v, c.Data...))
}

func (w *writer) assemble(uploadID string, chunks uint32) ([]byte, error) {
	staging := w.tx.Bucket(bucketStaging)
	var wasm []byte
	for i := uint32(0); i < chunks; i++ {
		part := staging.Get(stagingKey(uploadID, i))
		if len(part) < 8 {
			return nil, fmt.Errorf("%w: upload %s lacks chunk %d of %d", ErrInvalid, uploadID, i, chunks)
		}
		wasm = append(wasm, part[8:]...)
	}
	return wasm, nil
}

func (w *writer) dropStaged(uploadID string) error {
	if uploadID == "" {
		return nil
	}
	c := w.tx.Bucket(bucketStaging).Cursor()
	prefix := stagingKey(uploadID, 0)[:len(uploadID)+1]
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Seek(prefix) {
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

func (w *writer) putRoute(c *raftlogv1.PutRouteCommand) error {
	r := c.GetRoute()
	if r == nil {
		return fmt.Errorf("%w: empty route", ErrInvalid)
	}
	if err := validateStoredRoute(r); err != nil {
		return err
	}
	for _, d := range r.Digests() {
		m, err := getModule(w.tx, d)
		if err != nil {
			return err
		}
		if k := w.revokedKey(m); k != nil {
			return fmt.Errorf("%w: module %s@%s is signed by publisher key %s (%s), revoked at revision %d; route a module signed by a trusted key",
				ErrRevoked, m.Name, m.Digest, k.Id, k.Name, k.RevokeRevision)
		}
	}
	for _, rl := range r.Rules {
		if rl.Kind == registryv1.MatchKind_MATCH_KIND_FLAG && w.tx.Bucket(bucketFlags).Get([]byte(rl.Name)) == nil {
			return fmt.Errorf("%w: flag %q (create it with SetFlag first)", ErrNotFound, rl.Name)
		}
	}
	r = proto.Clone(r).(*registryv1.Route)
	routes := w.tx.Bucket(bucketRoutes)
	key := routeKey(r.Host, r.PathPrefix)
	if c.ExpectModRevision != 0 {
		cur := &registryv1.Route{}
		if err := getProto(routes, string(key), "route", cur); err != nil {
			return err
		}
		if cur.ModRevision != c.ExpectModRevision {
			return fmt.Errorf("%w: route %s%s changed at revision %d, after the revision %d it was read at", ErrConflict, r.Host, r.PathPrefix, cur.ModRevision, c.ExpectModRevision)
		}
	}
	r.CreateRevision = w.rev
	if routes.Get(key) == nil {
		if err := w.checkCapacity(bucketRoutes, LimitRoutes); err != nil {
			return err
		}
	}
	if prev := routes.Get(key); prev != nil {
		old := &registryv1.Route{}
		if err := proto.Unmarshal(prev, old); err != nil {
			return err
		}
		r.CreateRevision = old.CreateRevision
		if !c.PreviousGiven {
			old.Previous = nil // one level of history: what a rollback restores
			r.Previous = old
		}
	}
	if r.Previous != nil {
		r.Previous.Previous = nil
		if err := validateStoredRoute(r.Previous); err != nil {
			return fmt.Errorf("the route's previous version: %w", err)
		}
	}
	r.ModRevision = w.rev
	if err := putProto(routes, key, r); err != nil {
		return err
	}
	w.emit(registryv1.EventType_EVENT_TYPE_PUT, &registryv1.Event_Route{Route: r})
	w.audit("put_route", r.Host+r.PathPrefix+" -> "+r.ModuleName+"@"+r.ModuleDigest)
	return nil
}

func (w *writer) deleteRoute(c *raftlogv1.DeleteRouteCommand) error {
	routes := w.tx.Bucket(bucketRoutes)
	key := routeKey(c.Host, c.PathPrefix)
	if routes.Get(key) == nil {
		return fmt.Errorf("%w: route %s%s", ErrNotFound, c.Host, c.PathPrefix)
	}
	if err := routes.Delete(key); err != nil {
		return err
	}
	w.emit(registryv1.EventType_EVENT_TYPE_DELETE, &registryv1.Event_Route{Route: &registryv1.Route{Host: c.Host, PathPrefix: c.PathPrefix, ModRevision: w.rev}})
	w.audit("delete_route", c.Host+c.PathPrefix)
	return nil
}

func (w *writer) emit(t registryv1.EventType, obj any) {
	e := &registryv1.Event{Type: t, Revision: w.rev, Traceparent: w.cmd.GetTraceparent()}
	switch o := obj.(type) {
	case *registryv1.Event_Module:
		e.Object = o
	case *registryv1.Event_Route:
		e.Object = o
	case *registryv1.Event_Flag:
		e.Object = o
	case *registryv1.Event_Key:
		e.Object = o
	case *registryv1.Event_Config:
		e.Object = o
	case *registryv1.Event_Kv:
		e.Object = o
	}
	w.events = append(w.events, e)
}

// maxHistoryBytes bounds the history's encoded events, whatever their
// count: store writes carry their keys and values.
const maxHistoryBytes = 64 << 20

// commitEvents appends the events to the history, advances the revision and
// compacts the history down to limit events and maxHistoryBytes.
func (w *writer) commitEvents(limit int) error {
	meta := w.tx.Bucket(bucketMeta)
	evb := w.tx.Bucket(bucketEvents)
	size := u64(meta.Get(keyEventBytes))
	for i, e := range w.events {
		v, err := proto.Marshal(e)
		if err != nil {
			return err
		}
		if err := evb.Put(eventKey(w.rev, uint16(i)), v); err != nil {
			return err
		}
		size += uint64(len(v))
	}
	count := u64(meta.Get(keyEventCount)) + uint64(len(w.events))
	compact := u64(meta.Get(keyCompactRevision))
	c := evb.Cursor()
	for k, v := c.First(); k != nil && (count > uint64(limit) || size > maxHistoryBytes); k, v = c.First() {
		rev := eventKeyRevision(k)
		// Drop whole revisions only, so a watcher never sees half of one.
		for ; k != nil && eventKeyRevision(k) == rev; k, v = c.First() {
			size -= min(size, uint64(len(v)))
			if err := c.Delete(); err != nil {
				return err
			}
			count--
		}
		compact = uint64(rev)
	}
	if err := meta.Put(keyEventBytes, u64bytes(size)); err != nil {
		return err
	}
	for _, a := range w.audits { // one entry per revision: a command makes one change
		if err := putProto(w.tx.Bucket(bucketAudit), u64bytes(uint64(w.rev)), a); err != nil {
			return err
		}
	}
	if err := meta.Put(keyEventCount, u64bytes(count)); err != nil {
		return err
	}
	if err := meta.Put(keyCompactRevision, u64bytes(compact)); err != nil {
		return err
	}
	return meta.Put(keyRevision, u64bytes(uint64(w.rev)))
}

func putProto(b *bolt.Bucket, key []byte, m proto.Message) error {
	v, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	return b.Put(key, v)
}
