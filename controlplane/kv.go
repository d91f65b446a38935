package controlplane

import (
	"context"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// kvServer implements KVService.
type kvServer struct {
	registryv1.UnsafeKVServiceServer
	s *Server
}

func (k *kvServer) ListStores(ctx context.Context, _ *registryv1.ListStoresRequest) (*registryv1.ListStoresResponse, error) {
	stores, rev, err := k.s.kv.ListKVStores()
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.ListStoresResponse{Stores: stores, Revision: rev}, nil
}

func (k *kvServer) WriteEntries(ctx context.Context, req *registryv1.WriteEntriesRequest) (*registryv1.WriteEntriesResponse, error) {
	res, err := k.s.kv.WriteKV(ctx, registry.KVWrite{Store: req.Store, Put: req.Put, Delete: req.Delete}, req.DryRun)
	if err != nil {
		return nil, toStatus(err)
	}
	if !req.DryRun && res.Revision != 0 {
		k.s.cfg.Logger.InfoContext(ctx, "store written", "store", req.Store, "added", res.Added, "updated", res.Updated,
			"deleted", res.Deleted, "revision", res.Revision)
	}
	return &registryv1.WriteEntriesResponse{Revision: res.Revision, Store: res.Store, Added: res.Added, Updated: res.Updated,
		Unchanged: res.Unchanged, Deleted: res.Deleted}, nil
}

func (k *kvServer) GetEntry(ctx context.Context, req *registryv1.GetEntryRequest) (*registryv1.GetEntryResponse, error) {
	e, rev, err := k.s.kv.GetKV(req.Store, req.Key)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.GetEntryResponse{Entry: e, Revision: rev}, nil
}

func (k *kvServer) ListEntries(ctx context.Context, req *registryv1.ListEntriesRequest) (*registryv1.ListEntriesResponse, error) {
	entries, next, rev, err := k.s.kv.ListKV(req.Store, req.After, int(req.Limit), req.KeysOnly)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.ListEntriesResponse{Entries: entries, Next: next, Revision: rev}, nil
}

func (k *kvServer) DeleteStore(ctx context.Context, req *registryv1.DeleteStoreRequest) (*registryv1.DeleteStoreResponse, error) {
	rev, err := k.s.kv.DeleteKVStore(ctx, req.Store)
	if err != nil {
		return nil, toStatus(err)
	}
	k.s.cfg.Logger.InfoContext(ctx, "store deleted", "store", req.Store, "revision", rev)
	return &registryv1.DeleteStoreResponse{Revision: rev}, nil
}
