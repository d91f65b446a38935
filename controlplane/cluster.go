package controlplane

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// clusterServer implements ClusterService.
type clusterServer struct {
	registryv1.UnsafeClusterServiceServer
	s *Server
}

func (c *clusterServer) Join(ctx context.Context, req *registryv1.JoinRequest) (*registryv1.JoinResponse, error) {
	if req.Id == "" || req.RaftAddr == "" || req.GrpcAddr == "" {
		return nil, status.Error(codes.InvalidArgument, "controlplane: join needs id, raft_addr and grpc_addr")
	}
	if err := c.s.cluster.AddVoter(ctx, req.Id, req.RaftAddr, req.GrpcAddr); err != nil {
		return nil, toStatus(err)
	}
	c.s.cfg.Logger.InfoContext(ctx, "member joined", "id", req.Id, "raft", req.RaftAddr, "grpc", req.GrpcAddr)
	members, err := c.members()
	return &registryv1.JoinResponse{Members: members}, err
}

func (c *clusterServer) RemoveMember(ctx context.Context, req *registryv1.RemoveMemberRequest) (*registryv1.RemoveMemberResponse, error) {
	if err := c.s.cluster.RemoveMember(ctx, req.Id); err != nil {
		return nil, toStatus(err)
	}
	c.s.cfg.Logger.InfoContext(ctx, "member removed", "id", req.Id)
	members, err := c.members()
	return &registryv1.RemoveMemberResponse{Members: members}, err
}

func (c *clusterServer) ListMembers(ctx context.Context, _ *registryv1.ListMembersRequest) (*registryv1.ListMembersResponse, error) {
	members, err := c.members()
	if err != nil {
		return nil, err
	}
	resp := &registryv1.ListMembersResponse{Members: members, AppliedRevision: c.s.cluster.Revision()}
	switch st := c.s.cluster.Stats(); {
	case st.Leader:
	case st.LastContact.IsZero():
		resp.LastContactMs = -1
	default:
		resp.LastContactMs = time.Since(st.LastContact).Milliseconds()
	}
	if id, _ := c.s.cluster.Leader(); id == "" && !c.s.cluster.IsLeader() {
		resp.LastContactMs = -1
	}
	return resp, nil
}

func (c *clusterServer) members() ([]*registryv1.Member, error) {
	ms, err := c.s.cluster.Members()
	if err != nil {
		return nil, toStatus(err)
	}
	out := make([]*registryv1.Member, len(ms))
	for i, m := range ms {
		out[i] = &registryv1.Member{Id: m.ID, RaftAddr: m.RaftAddr, GrpcAddr: m.GRPCAddr, Leader: m.Leader, Voter: m.Voter}
	}
	return out, nil
}
