package controlplane

import (
	"context"
	"crypto/ed25519"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// accessServer implements AccessService.
type accessServer struct {
	registryv1.UnsafeAccessServiceServer
	s *Server
}

func (a *accessServer) AddKey(ctx context.Context, req *registryv1.AddKeyRequest) (*registryv1.AddKeyResponse, error) {
	if len(req.PublicKey) != ed25519.PublicKeySize {
		return nil, status.Errorf(codes.InvalidArgument, "controlplane: public key is %d bytes, want %d (ed25519)", len(req.PublicKey), ed25519.PublicKeySize)
	}
	key := &registryv1.PublisherKey{Id: signing.KeyID(req.PublicKey), Name: req.Name, PublicKey: req.PublicKey}
	k, rev, err := a.s.access.AddKey(ctx, key)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.AddKeyResponse{Key: k, Revision: rev}, nil
}

func (a *accessServer) ListKeys(ctx context.Context, _ *registryv1.ListKeysRequest) (*registryv1.ListKeysResponse, error) {
	keys, rev, err := a.s.access.ListKeys()
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.ListKeysResponse{Keys: keys, Revision: rev}, nil
}

func (a *accessServer) RevokeKey(ctx context.Context, req *registryv1.RevokeKeyRequest) (*registryv1.RevokeKeyResponse, error) {
	k, rev, err := a.s.access.RevokeKey(ctx, req.Id, req.Force)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &registryv1.RevokeKeyResponse{Key: k, Revision: rev}
	// With force, routed modules the key signed now answer 503: say which.
	routes, _, err := a.s.access.ListRoutes()
	if err != nil {
		return nil, toStatus(err)
	}
	for _, r := range routes {
		for _, d := range r.Digests() {
			if m, err := a.s.access.Module(d); err == nil && m.GetProvenance().GetKeyId() == k.Id {
				resp.AffectedRoutes = append(resp.AffectedRoutes, r)
				break
			}
		}
	}
	a.s.cfg.Logger.WarnContext(ctx, "publisher key revoked", "key", k.Id, "name", k.Name, "forced", req.Force, "routes_answering_503", len(resp.AffectedRoutes))
	return resp, nil
}

func (a *accessServer) CreateToken(ctx context.Context, req *registryv1.CreateTokenRequest) (*registryv1.CreateTokenResponse, error) {
	if _, ok := rolePerms[req.Role]; !ok {
		return nil, status.Errorf(codes.InvalidArgument, "controlplane: role %v: want admin, publisher, worker or reader", req.Role)
	}
	tok, secret, err := NewToken(req.Name, req.Role)
	if err != nil {
		return nil, toStatus(err)
	}
	rev, err := a.s.access.PutToken(ctx, tok)
	if err != nil {
		return nil, toStatus(err)
	}
	tok.SecretHash, tok.CreateRevision = nil, rev
	return &registryv1.CreateTokenResponse{Token: tok, Secret: secret, Revision: rev}, nil
}

func (a *accessServer) ListTokens(ctx context.Context, _ *registryv1.ListTokensRequest) (*registryv1.ListTokensResponse, error) {
	toks, _, err := a.s.access.ListTokens()
	if err != nil {
		return nil, toStatus(err)
	}
	for _, t := range toks {
		t.SecretHash = nil
	}
	return &registryv1.ListTokensResponse{Tokens: toks}, nil
}

func (a *accessServer) RevokeToken(ctx context.Context, req *registryv1.RevokeTokenRequest) (*registryv1.RevokeTokenResponse, error) {
	rev, err := a.s.access.RevokeToken(ctx, req.Id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.RevokeTokenResponse{Revision: rev}, nil
}

func (a *accessServer) ListAudit(ctx context.Context, req *registryv1.ListAuditRequest) (*registryv1.ListAuditResponse, error) {
	limit := int(req.Limit)
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	entries, err := a.s.access.ListAudit(req.StartRevision, limit)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.ListAuditResponse{Entries: entries}, nil
}

// verifySignature checks an upload's signature against a trusted key, on
// the leader's side of Raft, before anything is written.
func (s *Server) verifySignature(md *registryv1.UploadModuleMetadata, digest string) (*registryv1.Provenance, error) {
	prov := &registryv1.Provenance{KeyId: md.KeyId, Signature: md.Signature, Source: md.Source}
	if md.KeyId == "" && len(md.Signature) == 0 {
		if s.cfg.RequireSignatures {
			return nil, status.Error(codes.PermissionDenied, "controlplane: module is unsigned: sign it with a trusted publisher key (nanoedge push --key, or nanoedge sign)")
		}
		return prov, nil
	}
	key, err := s.access.Key(md.KeyId)
	if err != nil {
		return nil, status.Errorf(codes.PermissionDenied, "controlplane: module is signed by %q, which is not a trusted publisher key", md.KeyId)
	}
	if key.Revoked {
		return nil, status.Errorf(codes.PermissionDenied, "controlplane: publisher key %s (%s) was revoked at revision %d", key.Id, key.Name, key.RevokeRevision)
	}
	if err := signing.Verify(key.PublicKey, md.Name, digest, md.Signature); err != nil {
		code := codes.PermissionDenied
		if errors.Is(err, signing.ErrMalformed) {
			code = codes.InvalidArgument
		}
		return nil, status.Errorf(code, "controlplane: %v", err)
	}
	return prov, nil
}
