package controlplane

import (
	"context"
	"io"
	"os"
	"time"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// The registry as each part of the API sees it: small interfaces, each
// declared by its consumer. *registry.Store implements all of them. Reads
// are local and take no context; writes and calls that wait take one.

// ModuleStore is what RegistryService needs: modules, routes, flags and
// the history of their changes.
type ModuleStore interface {
	PutModule(ctx context.Context, name string, wasm []byte, prov *registryv1.Provenance) (m *registryv1.Module, created bool, rev int64, err error)
	ResolveModule(ref string) (*registryv1.Module, error)
	ModuleBytes(digest string) (*registryv1.Module, []byte, error)
	ModulesPage(p registry.Page) ([]*registryv1.Module, int64, string, error)
	CollectGarbage(ctx context.Context, dryRun bool) ([]*registryv1.Module, int64, error)
	PutRoute(ctx context.Context, spec *registryv1.SetRouteRequest) (*registryv1.Route, int64, error)
	DeleteRoute(ctx context.Context, host, pathPrefix string) (int64, error)
	RollbackRoute(ctx context.Context, host, pathPrefix string) (*registryv1.Route, int64, error)
	RoutesPage(p registry.Page) ([]*registryv1.Route, int64, string, error)
	SetFlag(ctx context.Context, name string, enabled bool, description string) (*registryv1.Flag, int64, error)
	DeleteFlag(ctx context.Context, name string) (int64, error)
	ListFlags() ([]*registryv1.Flag, int64, error)
	WatchProgress(ctx context.Context, start int64, every time.Duration, fn func(events []*registryv1.Event, revision int64) error) error
	Revision() int64
}

// AccessStore is what AccessService and authentication need: keys,
// tokens and the audit trail.
type AccessStore interface {
	AddKey(ctx context.Context, key *registryv1.PublisherKey) (*registryv1.PublisherKey, int64, error)
	RevokeKey(ctx context.Context, id string, force bool) (*registryv1.PublisherKey, int64, error)
	Key(id string) (*registryv1.PublisherKey, error)
	ListKeys() ([]*registryv1.PublisherKey, int64, error)
	PutToken(ctx context.Context, t *registryv1.Token) (int64, error)
	RevokeToken(ctx context.Context, id string) (int64, error)
	Token(id string) (*registryv1.Token, error)
	ListTokens() ([]*registryv1.Token, int64, error)
	ListAudit(start int64, limit int) ([]*registryv1.AuditEntry, error)
	ListRoutes() ([]*registryv1.Route, int64, error)
	Module(digest string) (*registryv1.Module, error)
}

// ClusterStore is what ClusterService, forwarding and health need: who
// leads and who the members are.
type ClusterStore interface {
	IsLeader() bool
	// InTouch reports whether this node leads or heard from a leader
	// within bound.
	InTouch(bound time.Duration) bool
	// Leader returns the leader's ID and API address.
	Leader() (id, grpcAddr string)
	LinearizableRead(ctx context.Context) error
	// Stats reads Raft and state figures, for metrics.
	Stats() registry.Stats
	Members() ([]registry.Member, error)
	// SaveSnapshot returns a backup file (unlinked: closing frees it);
	// RestoreSnapshot replaces the cluster's state with one.
	SaveSnapshot(ctx context.Context) (*os.File, registry.SnapshotInfo, error)
	RestoreSnapshot(ctx context.Context, r io.Reader) (registry.SnapshotInfo, error)
	NodeID() string
	AddVoter(ctx context.Context, id, raftAddr, grpcAddr string) error
	RemoveMember(ctx context.Context, id string) error
	Revision() int64
}

// RolloutStore is what the telemetry service and the rollout controller
// need: routes, rollouts, and what reports may name.
type RolloutStore interface {
	IsLeader() bool
	Route(host, pathPrefix string) (*registryv1.Route, error)
	ResolveModule(ref string) (*registryv1.Module, error)
	Rollout(host, pathPrefix string) (*registryv1.Rollout, error)
	ListRollouts() ([]*registryv1.Rollout, error)
	PutRollout(ctx context.Context, ro *registryv1.Rollout, route *registryv1.Route) (int64, error)
	HasModule(digest string) bool
	Module(digest string) (*registryv1.Module, error)
	Token(id string) (*registryv1.Token, error)
	// AppliedRequest reports whether ctx's request id applied before:
	// a retried read-then-write answers from the state it left.
	AppliedRequest(ctx context.Context) (int64, bool)
}

// ConfigStore is what ConfigService needs: module names'
// configurations, their secrets sealed.
type ConfigStore interface {
	PutConfig(ctx context.Context, c registry.ConfigChange) (*registryv1.Config, int64, error)
	Config(moduleName string) (*registryv1.Config, error)
	ListConfigs() ([]*registryv1.Config, int64, error)
}

// KVStore is what KVService needs: edge data stores.
type KVStore interface {
	WriteKV(ctx context.Context, w registry.KVWrite, dryRun bool) (registry.KVWriteResult, error)
	DeleteKVStore(ctx context.Context, store string) (int64, error)
	ListKVStores() ([]*registryv1.KVStore, int64, error)
	GetKV(store, key string) (*registryv1.KVEntry, int64, error)
	ListKV(store, after string, limit int, keysOnly bool) ([]*registryv1.KVEntry, string, int64, error)
}

// Store is every part the API needs.
type Store interface {
	ModuleStore
	AccessStore
	ClusterStore
	RolloutStore
	ConfigStore
	KVStore
}

var _ Store = (*registry.Store)(nil)
