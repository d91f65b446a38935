package client

import (
	"context"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// ConfigChange sets and deletes a module name's variables and secrets,
// in one revision.
type ConfigChange struct {
	SetVars       map[string]string
	DeleteVars    []string
	SetSecrets    map[string][]byte
	DeleteSecrets []string
	// LinkStores and UnlinkStores change which edge data stores the
	// module's handlers may read (sdk/guest/kv); a store linked must exist.
	LinkStores, UnlinkStores []string
}

// SetConfig applies a change to a module name's configuration and returns
// what it left (nil if nothing) and its revision. Secret values travel in
// this call only; the control plane seals them before storing anything.
func (c *Client) SetConfig(ctx context.Context, moduleName string, ch ConfigChange) (*registryv1.Config, int64, error) {
	resp, err := c.fs.SetConfig(ctx, &registryv1.SetConfigRequest{ModuleName: moduleName, SetVars: ch.SetVars, DeleteVars: ch.DeleteVars,
		SetSecrets: ch.SetSecrets, DeleteSecrets: ch.DeleteSecrets, LinkStores: ch.LinkStores, UnlinkStores: ch.UnlinkStores})
	if err != nil {
		return nil, 0, err
	}
	return resp.Config, resp.Revision, nil
}

// GetConfig returns a module name's variables and its secrets' names,
// versions and digests (never their values).
func (c *Client) GetConfig(ctx context.Context, moduleName string) (*registryv1.Config, error) {
	resp, err := c.fs.GetConfig(ctx, &registryv1.GetConfigRequest{ModuleName: moduleName})
	if err != nil {
		return nil, err
	}
	return resp.Config, nil
}

// ListConfigs returns every configuration; with a worker's token, secret
// values too.
func (c *Client) ListConfigs(ctx context.Context) ([]*registryv1.Config, int64, error) {
	resp, err := c.fs.ListConfigs(ctx, &registryv1.ListConfigsRequest{})
	if err != nil {
		return nil, 0, err
	}
	return resp.Configs, resp.Revision, nil
}

// RekeySecrets seals every secret again with the control plane's current
// data key (admin), returning how many it resealed.
func (c *Client) RekeySecrets(ctx context.Context) (*registryv1.RekeySecretsResponse, error) {
	return c.fs.RekeySecrets(ctx, &registryv1.RekeySecretsRequest{})
}
