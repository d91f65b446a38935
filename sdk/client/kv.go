package client

import (
	"context"

	"google.golang.org/protobuf/proto"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// maxWriteBytes bounds one WriteEntries call, below gRPC's 4 MiB.
const maxWriteBytes = 3 << 20

// ListStores describes every edge data store.
func (c *Client) ListStores(ctx context.Context) ([]*registryv1.KVStore, int64, error) {
	resp, err := c.ks.ListStores(ctx, &registryv1.ListStoresRequest{})
	if err != nil {
		return nil, 0, err
	}
	return resp.Stores, resp.Revision, nil
}

// WriteEntries puts and deletes keys of a store, creating it on its first
// write. A write larger than one call allows is sent as several, in
// order: the answer sums them, and its revision is the last one. Should
// one fail, those before it stay applied; repeating the whole write
// finishes it. With dryRun nothing is stored, and the answer is what the
// write would do.
func (c *Client) WriteEntries(ctx context.Context, store string, put []*registryv1.KVEntry, del []string, dryRun bool) (*registryv1.WriteEntriesResponse, error) {
	var calls []*registryv1.WriteEntriesRequest
	cur, size := &registryv1.WriteEntriesRequest{Store: store, DryRun: dryRun}, 0
	add := func(n int) {
		if size+n > maxWriteBytes && size > 0 {
			calls = append(calls, cur)
			cur, size = &registryv1.WriteEntriesRequest{Store: store, DryRun: dryRun}, 0
		}
		size += n
	}
	for _, e := range put {
		add(proto.Size(e) + 4)
		cur.Put = append(cur.Put, e)
	}
	for _, k := range del {
		add(len(k) + 4)
		cur.Delete = append(cur.Delete, k)
	}
	calls = append(calls, cur)
	var before *registryv1.KVStore
	if dryRun && len(calls) > 1 {
		// Each call is judged against the store as it is: the answer
		// adds up their changes.
		stores, _, err := c.ListStores(ctx)
		if err != nil {
			return nil, err
		}
		before = &registryv1.KVStore{Name: store}
		for _, s := range stores {
			if s.Name == store {
				before = s
			}
		}
	}
	out := &registryv1.WriteEntriesResponse{}
	for _, req := range calls {
		resp, err := c.ks.WriteEntries(ctx, req)
		if err != nil {
			return out, err
		}
		out.Added += resp.Added
		out.Updated += resp.Updated
		out.Unchanged += resp.Unchanged
		out.Deleted += resp.Deleted
		out.Revision = max(out.Revision, resp.Revision)
		if before == nil || out.Store == nil {
			out.Store = resp.Store
		} else {
			out.Store.Keys += resp.Store.Keys - before.Keys
			out.Store.Bytes += resp.Store.Bytes - before.Bytes
		}
	}
	return out, nil
}

// GetEntry reads one key of a store.
func (c *Client) GetEntry(ctx context.Context, store, key string) (*registryv1.KVEntry, int64, error) {
	resp, err := c.ks.GetEntry(ctx, &registryv1.GetEntryRequest{Store: store, Key: key})
	if err != nil {
		return nil, 0, err
	}
	return resp.Entry, resp.Revision, nil
}

// ListEntries reads a page of a store in key order, after the key after;
// next is where the following page starts, "" after the last.
func (c *Client) ListEntries(ctx context.Context, store, after string, limit int, keysOnly bool) (entries []*registryv1.KVEntry, next string, rev int64, err error) {
	resp, err := c.ks.ListEntries(ctx, &registryv1.ListEntriesRequest{Store: store, After: after, Limit: int32(limit), KeysOnly: keysOnly})
	if err != nil {
		return nil, "", 0, err
	}
	return resp.Entries, resp.Next, resp.Revision, nil
}

// ReadStore calls fn with every page of a store, in key order, and
// returns the oldest revision a page reflected: a watch from just after
// it replays whatever changed while the pages were read.
func (c *Client) ReadStore(ctx context.Context, store string, fn func([]*registryv1.KVEntry) error) (int64, error) {
	var oldest int64
	for after := ""; ; {
		page, next, rev, err := c.ListEntries(ctx, store, after, 10000, false)
		if err != nil {
			return 0, err
		}
		if oldest == 0 || rev < oldest {
			oldest = rev
		}
		if err := fn(page); err != nil {
			return 0, err
		}
		if next == "" {
			return oldest, nil
		}
		after = next
	}
}

// DeleteStore deletes a store and every key in it.
func (c *Client) DeleteStore(ctx context.Context, store string) (int64, error) {
	resp, err := c.ks.DeleteStore(ctx, &registryv1.DeleteStoreRequest{Store: store})
	if err != nil {
		return 0, err
	}
	return resp.Revision, nil
}
