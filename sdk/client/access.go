package client

import (
	"context"
	"crypto/ed25519"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// AddKey trusts a publisher's public key (admin only).
func (c *Client) AddKey(ctx context.Context, name string, pub ed25519.PublicKey) (*registryv1.PublisherKey, error) {
	resp, err := c.as.AddKey(ctx, &registryv1.AddKeyRequest{Name: name, PublicKey: pub})
	if err != nil {
		return nil, err
	}
	return resp.Key, nil
}

// ListKeys returns every publisher key, revoked ones included, and the
// revision the list reflects.
func (c *Client) ListKeys(ctx context.Context) ([]*registryv1.PublisherKey, int64, error) {
	resp, err := c.as.ListKeys(ctx, &registryv1.ListKeysRequest{})
	if err != nil {
		return nil, 0, err
	}
	return resp.Keys, resp.Revision, nil
}

// RevokeKey stops trusting a key. While routes use modules it signed the
// control plane refuses (FailedPrecondition, naming them) unless force:
// then those versions answer 503 on every worker, and the response lists
// the routes.
func (c *Client) RevokeKey(ctx context.Context, id string, force bool) (*registryv1.RevokeKeyResponse, error) {
	return c.as.RevokeKey(ctx, &registryv1.RevokeKeyRequest{Id: id, Force: force})
}

// CreateToken creates a token and returns its secret, shown only once.
func (c *Client) CreateToken(ctx context.Context, name string, role registryv1.Role) (*registryv1.Token, string, error) {
	resp, err := c.as.CreateToken(ctx, &registryv1.CreateTokenRequest{Name: name, Role: role})
	if err != nil {
		return nil, "", err
	}
	return resp.Token, resp.Secret, nil
}

// ListTokens returns every token, without secrets.
func (c *Client) ListTokens(ctx context.Context) ([]*registryv1.Token, error) {
	resp, err := c.as.ListTokens(ctx, &registryv1.ListTokensRequest{})
	if err != nil {
		return nil, err
	}
	return resp.Tokens, nil
}

// RevokeToken deletes a token; calls with it fail from then on.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	_, err := c.as.RevokeToken(ctx, &registryv1.RevokeTokenRequest{Id: id})
	return err
}

// ListAudit returns up to limit accepted writes from revision start on.
func (c *Client) ListAudit(ctx context.Context, start int64, limit int) ([]*registryv1.AuditEntry, error) {
	resp, err := c.as.ListAudit(ctx, &registryv1.ListAuditRequest{StartRevision: start, Limit: int32(limit)})
	if err != nil {
		return nil, err
	}
	return resp.Entries, nil
}
