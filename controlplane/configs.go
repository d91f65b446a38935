package controlplane

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// configServer implements ConfigService.
type configServer struct {
	registryv1.UnsafeConfigServiceServer
	s *Server
}

func (c *configServer) SetConfig(ctx context.Context, req *registryv1.SetConfigRequest) (*registryv1.SetConfigResponse, error) {
	cmd := registry.ConfigChange{ModuleName: req.ModuleName, SetVars: req.SetVars, DeleteVars: req.DeleteVars, DeleteSecrets: req.DeleteSecrets,
		LinkStores: req.LinkStores, UnlinkStores: req.UnlinkStores}
	if len(req.SetSecrets) > 0 {
		if c.s.cfg.Keyring == nil {
			return nil, status.Error(codes.FailedPrecondition, ErrNoDataKey.Error())
		}
		cmd.SetSecrets = map[string]*registryv1.Secret{}
		for name, value := range req.SetSecrets {
			if err := registry.LimitVarValue.Check(string(value)); err != nil {
				return nil, toStatus(fmt.Errorf("secret %s: %w", name, err))
			}
			sealed, err := c.s.cfg.Keyring.Seal(req.ModuleName, name, value)
			if err != nil {
				return nil, status.Errorf(codes.Internal, "controlplane: seal secret %s: %v", name, err)
			}
			cmd.SetSecrets[name] = sealed
		}
	}
	cfg, rev, err := c.s.configs.PutConfig(ctx, cmd)
	if err != nil {
		return nil, toStatus(err)
	}
	c.s.cfg.Logger.InfoContext(ctx, "configuration set", "module", req.ModuleName, "vars_set", len(req.SetVars), "secrets_set", len(req.SetSecrets),
		"deleted", len(req.DeleteVars)+len(req.DeleteSecrets), "revision", rev)
	return &registryv1.SetConfigResponse{Config: withoutValues(cfg), Revision: rev}, nil
}

func (c *configServer) GetConfig(ctx context.Context, req *registryv1.GetConfigRequest) (*registryv1.GetConfigResponse, error) {
	cfg, err := c.s.configs.Config(req.ModuleName)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.GetConfigResponse{Config: withoutValues(cfg)}, nil
}

func (c *configServer) ListConfigs(ctx context.Context, _ *registryv1.ListConfigsRequest) (*registryv1.ListConfigsResponse, error) {
	cfgs, rev, err := c.s.configs.ListConfigs()
	if err != nil {
		return nil, toStatus(err)
	}
	out := make([]*registryv1.Config, len(cfgs))
	for i, cfg := range cfgs {
		if out[i], err = c.s.forCaller(ctx, cfg); err != nil {
			return nil, err
		}
	}
	return &registryv1.ListConfigsResponse{Configs: out, Revision: rev}, nil
}

func (c *configServer) RekeySecrets(ctx context.Context, _ *registryv1.RekeySecretsRequest) (*registryv1.RekeySecretsResponse, error) {
	k := c.s.cfg.Keyring
	if k == nil {
		return nil, status.Error(codes.FailedPrecondition, ErrNoDataKey.Error())
	}
	cfgs, _, err := c.s.configs.ListConfigs()
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &registryv1.RekeySecretsResponse{KeyId: k.CurrentKeyID()}
	for _, cfg := range cfgs {
		cmd := registry.ConfigChange{ModuleName: cfg.ModuleName, SetSecrets: map[string]*registryv1.Secret{}, Reseal: true}
		for name, sec := range cfg.Secrets {
			if sec.KeyId == k.CurrentKeyID() {
				continue
			}
			v, err := k.Open(cfg.ModuleName, name, sec)
			if err != nil {
				return nil, status.Error(codes.FailedPrecondition, err.Error())
			}
			if cmd.SetSecrets[name], err = k.Seal(cfg.ModuleName, name, v); err != nil {
				return nil, status.Errorf(codes.Internal, "controlplane: seal secret %s: %v", name, err)
			}
		}
		if len(cmd.SetSecrets) == 0 {
			continue
		}
		if _, resp.Revision, err = c.s.configs.PutConfig(registry.WithRequestID(ctx, ""), cmd); err != nil {
			return nil, toStatus(err)
		}
		resp.Resealed += int32(len(cmd.SetSecrets))
	}
	c.s.cfg.Logger.InfoContext(ctx, "secrets resealed", "count", resp.Resealed, "key_id", resp.KeyId)
	return resp, nil
}

// withoutValues is cfg as anyone but a worker sees it: each secret's name,
// version and digest, neither sealed nor open.
func withoutValues(cfg *registryv1.Config) *registryv1.Config {
	if cfg == nil {
		return nil
	}
	out := proto.Clone(cfg).(*registryv1.Config)
	for _, sec := range out.Secrets {
		sec.Sealed, sec.Value = nil, nil
	}
	return out
}

// forCaller is cfg as the caller may see it: a worker gets secret values,
// which its instances read; everyone else withoutValues.
func (s *Server) forCaller(ctx context.Context, cfg *registryv1.Config) (*registryv1.Config, error) {
	if callerFrom(ctx).role != registryv1.Role_ROLE_WORKER {
		return withoutValues(cfg), nil
	}
	out := withoutValues(cfg)
	for name, sec := range cfg.Secrets {
		v, err := s.cfg.Keyring.Open(cfg.ModuleName, name, sec)
		if err != nil {
			s.cfg.Logger.ErrorContext(ctx, "cannot open a secret for a worker", "module", cfg.ModuleName, "secret", name, "err", err)
			return nil, status.Error(codes.FailedPrecondition, err.Error())
		}
		out.Secrets[name].Value = v
	}
	return out, nil
}

// configsFor rewrites the configuration events of a watch for its caller.
func (s *Server) configsFor(ctx context.Context, events []*registryv1.Event) []*registryv1.Event {
	out := events
	for i, e := range events {
		cfg := e.GetConfig()
		if cfg == nil {
			continue
		}
		if &out[0] == &events[0] {
			out = append([]*registryv1.Event(nil), events...)
		}
		shown, err := s.forCaller(ctx, cfg)
		if err != nil {
			shown = withoutValues(cfg) // the worker learns of the change; its instances keep the old values
		}
		ev := proto.Clone(e).(*registryv1.Event)
		ev.Object = &registryv1.Event_Config{Config: shown}
		out[i] = ev
	}
	return out
}
