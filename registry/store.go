package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	bolt "go.etcd.io/bbolt"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

// Store is one registry node.
type Store struct {
	cfg  Config
	fsm  *fsm
	raft *raft.Raft

	transport *raft.NetworkTransport
	logStore  *raftboltdb.BoltStore
	snaps     *raft.FileSnapshotStore

	barriers termBarriers
	// writes: proposals hold it shared; a restore sets restoring under it.
	writes    sync.RWMutex
	restoring bool
	// running is raft once it runs, for the transport's goroutines.
	running atomic.Pointer[raft.Raft]

	closeOnce sync.Once
	closed    chan struct{}
}

// Open starts a node from cfg.DataDir, bootstrapping a single-node cluster
// if asked to and the directory is new.
func Open(cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	raftDir := filepath.Join(cfg.DataDir, "raft")
	if err := os.MkdirAll(raftDir, 0o700); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	s := &Store{cfg: cfg, closed: make(chan struct{})}
	if err := s.open(raftDir); err != nil {
		s.shutdown()
		return nil, err
	}
	return s, nil
}

func (s *Store) open(raftDir string) error {
	logger := newHCLogger(s.cfg.Logger.With("component", "raft"))

	var err error
	if s.fsm, err = openFSM(filepath.Join(s.cfg.DataDir, "state.db"), s.cfg.HistoryLimit); err != nil {
		return err
	}
	if s.logStore, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(raftDir, "raft.db")}); err != nil {
		return fmt.Errorf("registry: open raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(raftDir, 2, logger)
	s.snaps = snaps
	if err != nil {
		return fmt.Errorf("registry: open snapshots: %w", err)
	}
	ln, err := net.Listen("tcp", s.cfg.RaftAddr)
	if err != nil {
		return fmt.Errorf("registry: raft listen: %w", err)
	}
	tl := &tcpLayer{ln: ln, tls: s.cfg.TLS, logger: s.cfg.Logger, members: s.members}
	if s.cfg.RaftAdvertise != "" {
		addr, err := net.ResolveTCPAddr("tcp", s.cfg.RaftAdvertise)
		if err != nil {
			ln.Close()
			return fmt.Errorf("registry: raft advertise address: %w", err)
		}
		tl.advertise = addr
	}
	var layer raft.StreamLayer = tl
	if s.cfg.Layer != nil {
		layer = s.cfg.Layer(tl)
	}
	s.transport = raft.NewNetworkTransportWithLogger(layer, 3, 10*time.Second, logger)

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(s.cfg.NodeID)
	rc.Logger = logger
	rc.HeartbeatTimeout = s.cfg.HeartbeatTimeout
	rc.ElectionTimeout = s.cfg.ElectionTimeout
	rc.LeaderLeaseTimeout = min(rc.LeaderLeaseTimeout, s.cfg.HeartbeatTimeout)
	rc.SnapshotThreshold = s.cfg.SnapshotThreshold
	rc.TrailingLogs = s.cfg.TrailingLogs
	// The state database is durable and records its applied index, so a
	// restart need not reload the last snapshot unless the database is
	// behind it (lost or replaced).
	rc.NoSnapshotRestoreOnStart = true
	if metas, err := snaps.List(); err == nil && len(metas) > 0 && metas[0].Index > s.fsm.appliedIndex {
		rc.NoSnapshotRestoreOnStart = false
	}

	if s.cfg.Recover {
		conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: s.transport.LocalAddr()}}}
		if err := raft.RecoverCluster(rc, s.fsm, s.logStore, s.logStore, snaps, s.transport, conf); err != nil {
			return fmt.Errorf("registry: recover: %w", err)
		}
		s.cfg.Logger.Warn("raft configuration rewritten to this node alone", "node", rc.LocalID, "addr", s.transport.LocalAddr())
		rc.NoSnapshotRestoreOnStart = false
	}
	if s.cfg.Bootstrap {
		has, err := raft.HasExistingState(s.logStore, s.logStore, snaps)
		if err != nil {
			return fmt.Errorf("registry: %w", err)
		}
		if !has {
			conf := raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: s.transport.LocalAddr()}}}
			if err := raft.BootstrapCluster(rc, s.logStore, s.logStore, snaps, s.transport, conf); err != nil {
				return fmt.Errorf("registry: bootstrap: %w", err)
			}
		}
	}
	if s.raft, err = raft.NewRaft(rc, s.fsm, s.logStore, s.logStore, snaps, s.transport); err != nil {
		return fmt.Errorf("registry: start raft: %w", err)
	}
	s.running.Store(s.raft)
	return nil
}

// members is the latest Raft configuration, for the transport's peer
// checks; ok is false until Raft runs.
func (s *Store) members() ([]raft.Server, bool) {
	r := s.running.Load()
	if r == nil {
		return nil, false
	}
	return r.GetConfiguration().Configuration().Servers, true
}

// Close stops the node. It is safe to call more than once.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() { err = s.shutdown() })
	return err
}

func (s *Store) shutdown() error {
	close(s.closed)
	var errs []error
	if s.raft != nil {
		errs = append(errs, s.raft.Shutdown().Error())
	}
	if s.transport != nil {
		errs = append(errs, s.transport.Close())
	}
	if s.logStore != nil {
		errs = append(errs, s.logStore.Close())
	}
	if s.fsm != nil {
		errs = append(errs, s.fsm.close())
	}
	return errors.Join(errs...)
}

// RaftAddr is the address the Raft transport listens on.
func (s *Store) RaftAddr() string { return string(s.transport.LocalAddr()) }

// IsLeader reports whether this node is the Raft leader.
func (s *Store) IsLeader() bool { return s.raft.State() == raft.Leader }

// WaitLeader blocks until this node is the leader or ctx ends.
func (s *Store) WaitLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !s.IsLeader() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("registry: wait for leadership: %w", ctx.Err())
		case <-s.closed:
			return ErrClosed
		case <-t.C:
		}
	}
	return nil
}

// WaitForLeader blocks until the cluster has a leader this node knows of.
func (s *Store) WaitForLeader(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if addr, _ := s.raft.LeaderWithID(); addr != "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("registry: wait for a leader: %w", ctx.Err())
		case <-s.closed:
			return ErrClosed
		case <-t.C:
		}
	}
}

// PutModule stores wasm under name. Storing bytes that are already stored
// returns the existing module with created false and changes nothing.
func (s *Store) PutModule(ctx context.Context, name string, wasm []byte, prov *registryv1.Provenance) (m *registryv1.Module, created bool, rev int64, err error) {
	if err := ValidateName(name); err != nil {
		return nil, false, 0, err
	}
	if err := ValidateProvenance(prov); err != nil {
		return nil, false, 0, err
	}
	if int64(len(wasm)) > s.cfg.MaxModuleSize {
		return nil, false, 0, fmt.Errorf("%w: module is %d bytes, limit is %d", ErrTooLarge, len(wasm), s.cfg.MaxModuleSize)
	}
	sum := digest.Of(wasm)
	if existing, err := s.moduleByDigest(sum); err == nil {
		return existing, false, existing.CreateRevision, nil
	}
	if s.cfg.Quota > 0 {
		used, err := s.StoredBytes()
		if err != nil {
			return nil, false, 0, err
		}
		if used+int64(len(wasm)) > s.cfg.Quota {
			return nil, false, 0, fmt.Errorf("%w: %d bytes stored, %d more would pass the quota of %d; collect garbage or raise the quota", ErrQuotaExceeded, used, len(wasm), s.cfg.Quota)
		}
	}
	m = &registryv1.Module{Name: name, Digest: sum, Size: int64(len(wasm)), CreateTime: timestamppb.Now(), Provenance: prov}
	put := &raftlogv1.PutModuleCommand{Module: m, Wasm: wasm}
	if len(wasm) > maxEntryData {
		// Stage the bytes in entries of at most maxEntryData, so no entry
		// holds up heartbeats or a follower's catch-up.
		if put, err = s.stageChunks(ctx, m, wasm); err != nil {
			return nil, false, 0, err
		}
	}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutModule{PutModule: put}})
	if err != nil {
		return nil, false, 0, err
	}
	stored, err := s.moduleByDigest(sum)
	if err != nil {
		return nil, false, 0, err
	}
	return stored, len(res.events) > 0, res.revision, nil
}

// StoredBytes is what counts against the quota: the bytes of every stored
// module and of staged chunks.
func (s *Store) StoredBytes() (int64, error) {
	var n int64
	err := s.fsm.view(func(tx *bolt.Tx) error {
		mods, err := allModules(tx)
		for _, m := range mods {
			n += m.Size
		}
		if err != nil {
			return err
		}
		return tx.Bucket(bucketStaging).ForEach(func(_, v []byte) error {
			n += int64(len(v))
			return nil
		})
	})
	return n, err
}

// maxEntryData bounds the module bytes in one Raft entry.
const maxEntryData = 512 << 10

func (s *Store) stageChunks(ctx context.Context, m *registryv1.Module, wasm []byte) (*raftlogv1.PutModuleCommand, error) {
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	uploadID := hex.EncodeToString(id[:])
	// Propose every chunk before waiting on any: Raft batches them into
	// few disk syncs and round trips.
	var futures []raft.ApplyFuture
	for off := 0; off < len(wasm); off += maxEntryData {
		chunk := &raftlogv1.PutModuleChunkCommand{UploadId: uploadID, Index: uint32(len(futures)), Data: wasm[off:min(off+maxEntryData, len(wasm))]}
		// The chunks are not the request: only the PutModule that
		// assembles them carries its id.
		f, err := s.propose(WithRequestID(ctx, ""), &raftlogv1.Command{Op: &raftlogv1.Command_PutModuleChunk{PutModuleChunk: chunk}})
		if err != nil {
			return nil, err
		}
		futures = append(futures, f)
	}
	var firstErr error
	for _, f := range futures {
		if _, err := s.result(ctx, f); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr // staged chunks are collected as garbage later
	}
	return &raftlogv1.PutModuleCommand{Module: m, UploadId: uploadID, Chunks: uint32(len(futures))}, nil
}

// PutRoute creates or replaces a route: one module, or a weighted split
// between versions, with optional rules evaluated first. Module references
// are resolved here, on the leader, so the log carries digests.
func (s *Store) PutRoute(ctx context.Context, spec *registryv1.SetRouteRequest) (*registryv1.Route, int64, error) {
	host := strings.ToLower(spec.Host)
	if err := validateRoute(host, spec.PathPrefix); err != nil {
		return nil, 0, err
	}
	if err := validateSticky(spec.StickyKey); err != nil {
		return nil, 0, err
	}
	if err := LimitVersions.CheckCount(len(spec.Versions)); err != nil {
		return nil, 0, err
	}
	if err := LimitRules.CheckCount(len(spec.Rules)); err != nil {
		return nil, 0, err
	}
	r := &registryv1.Route{Host: host, PathPrefix: spec.PathPrefix, Options: spec.Options, StickyKey: spec.StickyKey}
	if len(spec.Versions) == 0 {
		m, err := s.ResolveModule(spec.Module)
		if err != nil {
			return nil, 0, err
		}
		r.ModuleName, r.ModuleDigest = m.Name, m.Digest
	} else {
		if err := s.resolveVersions(r, spec.Versions); err != nil {
			return nil, 0, err
		}
	}
	for i, rs := range spec.Rules {
		if err := validateRule(rs); err != nil {
			return nil, 0, fmt.Errorf("rule %d: %w", i+1, err)
		}
		m, err := s.ResolveModule(rs.Module)
		if err != nil {
			return nil, 0, fmt.Errorf("rule %d: %w", i+1, err)
		}
		r.Rules = append(r.Rules, &registryv1.RouteRule{Kind: rs.Kind, Name: rs.Name, Pattern: rs.Pattern, ModuleName: m.Name, ModuleDigest: m.Digest})
	}
	if err := validateStoredRoute(r); err != nil {
		return nil, 0, err
	}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutRoute{PutRoute: &raftlogv1.PutRouteCommand{Route: r}}})
	if err != nil {
		return nil, 0, err
	}
	if res.duplicate { // a retry of a write that applied: what it left
		r, err := s.Route(host, spec.PathPrefix)
		return r, res.revision, err
	}
	return res.events[0].GetRoute(), res.revision, nil
}

// resolveVersions fills r's split; the heaviest version also becomes the
// route's module, which is what single-version readers see.
func (s *Store) resolveVersions(r *registryv1.Route, specs []*registryv1.VersionSpec) error {
	total, seen := uint32(0), map[string]bool{}
	for _, v := range specs {
		m, err := s.ResolveModule(v.Module)
		if err != nil {
			return err
		}
		if seen[m.Digest] {
			return fmt.Errorf("%w: version %s appears twice", ErrInvalid, m.Digest)
		}
		seen[m.Digest] = true
		if v.Weight > 100 {
			return fmt.Errorf("%w: weight %d of %s is over 100", ErrInvalid, v.Weight, v.Module)
		}
		total += v.Weight
		r.Versions = append(r.Versions, &registryv1.RouteVersion{ModuleName: m.Name, ModuleDigest: m.Digest, Weight: v.Weight})
	}
	if total != 100 {
		return fmt.Errorf("%w: version weights add up to %d, want 100", ErrInvalid, total)
	}
	heaviest := r.Versions[0]
	for _, v := range r.Versions {
		if v.Weight > heaviest.Weight {
			heaviest = v
		}
	}
	r.ModuleName, r.ModuleDigest = heaviest.ModuleName, heaviest.ModuleDigest
	return nil
}

// DeleteRoute removes the route for host+pathPrefix.
func (s *Store) DeleteRoute(ctx context.Context, host, pathPrefix string) (int64, error) {
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_DeleteRoute{DeleteRoute: &raftlogv1.DeleteRouteCommand{Host: strings.ToLower(host), PathPrefix: pathPrefix}}})
	if err != nil {
		return 0, err
	}
	return res.revision, nil
}

func (s *Store) apply(ctx context.Context, cmd *raftlogv1.Command) (*applyResult, error) {
	f, err := s.propose(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return s.result(ctx, f)
}

// propose hands cmd to Raft without waiting for it to commit.
func (s *Store) propose(ctx context.Context, cmd *raftlogv1.Command) (raft.ApplyFuture, error) {
	cmd.Actor, cmd.Time, cmd.RequestId = ActorFrom(ctx), timestamppb.Now(), requestIDFrom(ctx)
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(ctx, carrier)
		cmd.Traceparent = carrier["traceparent"]
	}
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("registry: encode command: %w", err)
	}
	s.writes.RLock()
	defer s.writes.RUnlock()
	if s.restoring {
		return nil, ErrRestoring
	}
	return s.raft.Apply(data, s.timeout(ctx)), nil
}

// result waits for a proposed command to apply, as long as ctx allows.
// A write that runs out of time was proposed and may still apply.
func (s *Store) result(ctx context.Context, f raft.ApplyFuture) (*applyResult, error) {
	if err := s.await(ctx, f, "waiting for the write to commit; it may still apply"); err != nil {
		return nil, err
	}
	res, ok := f.Response().(*applyResult)
	if !ok {
		return nil, fmt.Errorf("registry: apply: unexpected response %T", f.Response())
	}
	if res.err != nil {
		return nil, res.err
	}
	return res, nil
}

func (s *Store) leaderAddr() string {
	addr, _ := s.raft.LeaderWithID()
	return string(addr)
}

// Revision returns the revision of the newest write.
func (s *Store) Revision() int64 {
	var rev int64
	_ = s.fsm.view(func(tx *bolt.Tx) error {
		rev = int64(u64(tx.Bucket(bucketMeta).Get(keyRevision)))
		return nil
	})
	return rev
}

// ListRoutes returns every route, sorted by host then path, and the revision
// they reflect.
func (s *Store) ListRoutes() ([]*registryv1.Route, int64, error) {
	var routes []*registryv1.Route
	var rev int64
	err := s.fsm.view(func(tx *bolt.Tx) error {
		rev = int64(u64(tx.Bucket(bucketMeta).Get(keyRevision)))
		return tx.Bucket(bucketRoutes).ForEach(func(_, v []byte) error {
			r := &registryv1.Route{}
			if err := proto.Unmarshal(v, r); err != nil {
				return err
			}
			routes = append(routes, r)
			return nil
		})
	})
	if err != nil {
		return nil, 0, fmt.Errorf("registry: list routes: %w", err)
	}
	return routes, rev, nil
}

// RoutesPage returns one page of routes, by host then path prefix, and
// the revision it reflects.
func (s *Store) RoutesPage(p Page) (routes []*registryv1.Route, rev int64, next string, err error) {
	return listPage(s, bucketRoutes, p, func() *registryv1.Route { return &registryv1.Route{} })
}

// ModulesPage returns one page of modules, by digest, and the revision it
// reflects.
func (s *Store) ModulesPage(p Page) (mods []*registryv1.Module, rev int64, next string, err error) {
	return listPage(s, bucketModules, p, func() *registryv1.Module { return &registryv1.Module{} })
}

// ListModules returns every module, oldest first, and the current revision.
func (s *Store) ListModules() ([]*registryv1.Module, int64, error) {
	var mods []*registryv1.Module
	var rev int64
	err := s.fsm.view(func(tx *bolt.Tx) error {
		rev = int64(u64(tx.Bucket(bucketMeta).Get(keyRevision)))
		var err error
		mods, err = allModules(tx)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("registry: list modules: %w", err)
	}
	return mods, rev, nil
}

// ModuleBytes returns a module's metadata and Wasm bytes.
func (s *Store) ModuleBytes(digest string) (*registryv1.Module, []byte, error) {
	var m *registryv1.Module
	var wasm []byte
	err := s.fsm.view(func(tx *bolt.Tx) error {
		var err error
		if m, err = getModule(tx, digest); err != nil {
			return err
		}
		wasm = append([]byte(nil), tx.Bucket(bucketBlobs).Get([]byte(digest))...)
		return nil
	})
	return m, wasm, err
}

// HasModule reports whether the module with this digest is stored.
func (s *Store) HasModule(digest string) bool {
	var ok bool
	s.fsm.view(func(tx *bolt.Tx) error {
		ok = tx.Bucket(bucketModules).Get([]byte(digest)) != nil
		return nil
	})
	return ok
}

// Module returns the module with this exact digest.
func (s *Store) Module(digest string) (*registryv1.Module, error) { return s.moduleByDigest(digest) }

func (s *Store) moduleByDigest(digest string) (*registryv1.Module, error) {
	var m *registryv1.Module
	err := s.fsm.view(func(tx *bolt.Tx) error {
		var err error
		m, err = getModule(tx, digest)
		return err
	})
	return m, err
}

func getModule(tx *bolt.Tx, digest string) (*registryv1.Module, error) {
	v := tx.Bucket(bucketModules).Get([]byte(digest))
	if v == nil {
		return nil, fmt.Errorf("%w: module %s", ErrNotFound, digest)
	}
	m := &registryv1.Module{}
	if err := proto.Unmarshal(v, m); err != nil {
		return nil, fmt.Errorf("registry: decode module %s: %w", digest, err)
	}
	return m, nil
}

func allModules(tx *bolt.Tx) ([]*registryv1.Module, error) {
	var mods []*registryv1.Module
	err := tx.Bucket(bucketModules).ForEach(func(_, v []byte) error {
		m := &registryv1.Module{}
		if err := proto.Unmarshal(v, m); err != nil {
			return err
		}
		mods = append(mods, m)
		return nil
	})
	sortModules(mods)
	return mods, err
}
