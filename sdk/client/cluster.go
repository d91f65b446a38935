package client

import (
	"context"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// Join adds a control plane node to the cluster (admin only).
func (c *Client) Join(ctx context.Context, id, raftAddr, grpcAddr string) ([]*registryv1.Member, error) {
	resp, err := c.cs.Join(ctx, &registryv1.JoinRequest{Id: id, RaftAddr: raftAddr, GrpcAddr: grpcAddr})
	if err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// RemoveMember removes a node from the cluster (admin only).
func (c *Client) RemoveMember(ctx context.Context, id string) ([]*registryv1.Member, error) {
	resp, err := c.cs.RemoveMember(ctx, &registryv1.RemoveMemberRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// Members lists the cluster's nodes as the called node sees them, and the
// revision it has applied.
func (c *Client) Members(ctx context.Context) ([]*registryv1.Member, int64, error) {
	resp, err := c.cs.ListMembers(ctx, &registryv1.ListMembersRequest{})
	if err != nil {
		return nil, 0, err
	}
	return resp.Members, resp.AppliedRevision, nil
}
