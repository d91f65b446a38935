package client

import (
	"context"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// SetFlag creates a feature flag or flips it fleet-wide. Route rules of
// kind MATCH_KIND_FLAG follow it. An empty description keeps the old one.
func (c *Client) SetFlag(ctx context.Context, name string, enabled bool, description string) (*registryv1.Flag, int64, error) {
	resp, err := c.rs.SetFlag(ctx, &registryv1.SetFlagRequest{Name: name, Enabled: enabled, Description: description})
	if err != nil {
		return nil, 0, err
	}
	return resp.Flag, resp.Revision, nil
}

// DeleteFlag removes a flag no route rule follows.
func (c *Client) DeleteFlag(ctx context.Context, name string) (int64, error) {
	resp, err := c.rs.DeleteFlag(ctx, &registryv1.DeleteFlagRequest{Name: name})
	if err != nil {
		return 0, err
	}
	return resp.Revision, nil
}

// ListFlags returns every flag and the revision the list reflects.
func (c *Client) ListFlags(ctx context.Context) ([]*registryv1.Flag, int64, error) {
	resp, err := c.rs.ListFlags(ctx, &registryv1.ListFlagsRequest{})
	if err != nil {
		return nil, 0, err
	}
	return resp.Flags, resp.Revision, nil
}
