package controlplane

import (
	"context"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// SetFlag implements RegistryServiceServer.
func (s *Server) SetFlag(ctx context.Context, req *registryv1.SetFlagRequest) (*registryv1.SetFlagResponse, error) {
	f, rev, err := s.modules.SetFlag(ctx, req.Name, req.Enabled, req.Description)
	if err != nil {
		return nil, toStatus(err)
	}
	s.cfg.Logger.InfoContext(ctx, "flag set", "flag", f.Name, "enabled", f.Enabled, "revision", rev)
	return &registryv1.SetFlagResponse{Flag: f, Revision: rev}, nil
}

// DeleteFlag implements RegistryServiceServer.
func (s *Server) DeleteFlag(ctx context.Context, req *registryv1.DeleteFlagRequest) (*registryv1.DeleteFlagResponse, error) {
	rev, err := s.modules.DeleteFlag(ctx, req.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.DeleteFlagResponse{Revision: rev}, nil
}

// ListFlags implements RegistryServiceServer.
func (s *Server) ListFlags(ctx context.Context, _ *registryv1.ListFlagsRequest) (*registryv1.ListFlagsResponse, error) {
	flags, rev, err := s.modules.ListFlags()
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.ListFlagsResponse{Flags: flags, Revision: rev}, nil
}
