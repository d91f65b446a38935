package controlplane_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// TestRoleMatrix calls every RPC with no credentials, a bad token and each
// role, and checks who is let through. Calls that are let through succeed.
func TestRoleMatrix(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	ctx := context.Background()
	hello := env.Upload(t, "hello", guests.Hello).Module
	wasm := guests.Build(t, guests.Hello)
	admin := env.Admin

	type call func(c *client.Client) error
	rpcs := []struct {
		name    string
		call    call
		allowed []registryv1.Role // besides admin
	}{
		{"UploadModule", func(c *client.Client) error {
			_, err := c.Upload(ctx, "hello", wasm, client.WithSigner(env.Key))
			return err
		}, []registryv1.Role{registryv1.Role_ROLE_PUBLISHER}},
		{"GetModule", func(c *client.Client) error { _, err := c.GetModule(ctx, "hello"); return err },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER, registryv1.Role_ROLE_READER}},
		{"FetchModule", func(c *client.Client) error { _, _, err := c.FetchModule(ctx, hello.Digest); return err },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER}},
		{"ListModules", func(c *client.Client) error { _, _, err := c.ListModules(ctx); return err },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER, registryv1.Role_ROLE_READER}},
		{"SetRoute", func(c *client.Client) error {
			_, _, err := c.SetRoute(ctx, client.Route{PathPrefix: "/m", Module: "hello"})
			return err
		}, []registryv1.Role{registryv1.Role_ROLE_PUBLISHER}},
		{"DeleteRoute", func(c *client.Client) error {
			if _, _, err := admin.SetRoute(ctx, client.Route{PathPrefix: "/del", Module: "hello"}); err != nil {
				t.Fatal(err)
			}
			_, err := c.DeleteRoute(ctx, "", "/del")
			return err
		}, []registryv1.Role{registryv1.Role_ROLE_PUBLISHER}},
		{"ListRoutes", func(c *client.Client) error { _, _, err := c.ListRoutes(ctx); return err },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER, registryv1.Role_ROLE_READER}},
		{"Watch", func(c *client.Client) error {
			wctx, stop := context.WithCancel(ctx)
			defer stop()
			return (<-c.Watch(wctx, 0)).Err // the first response, or the refusal
		}, []registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER}},
		{"ListWorkers", func(c *client.Client) error { _, err := c.Workers(ctx); return err },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER, registryv1.Role_ROLE_READER}},
		{"ListRollouts", func(c *client.Client) error { _, err := c.Rollouts(ctx); return err },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER, registryv1.Role_ROLE_READER}},
		{"Report", func(c *client.Client) error { return c.Report(ctx, &registryv1.WorkerReport{WorkerId: "w1"}) },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER}},
		{"CollectGarbage", func(c *client.Client) error { _, err := c.CollectGarbage(ctx, true); return err }, nil},
		{"AddKey", func(c *client.Client) error {
			k, _ := signing.GenerateKey()
			_, err := c.AddKey(ctx, "k", k.Public().(ed25519.PublicKey))
			return err
		}, nil},
		{"ListKeys", func(c *client.Client) error { _, _, err := c.ListKeys(ctx); return err },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER, registryv1.Role_ROLE_READER}},
		{"RevokeKey", func(c *client.Client) error {
			k, _ := signing.GenerateKey()
			key, err := admin.AddKey(ctx, "victim", k.Public().(ed25519.PublicKey))
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.RevokeKey(ctx, key.Id, false)
			return err
		}, nil},
		{"CreateToken", func(c *client.Client) error {
			_, _, err := c.CreateToken(ctx, "t", registryv1.Role_ROLE_READER)
			return err
		}, nil},
		{"ListTokens", func(c *client.Client) error { _, err := c.ListTokens(ctx); return err }, nil},
		{"RevokeToken", func(c *client.Client) error {
			tok, _, err := admin.CreateToken(ctx, "victim", registryv1.Role_ROLE_READER)
			if err != nil {
				t.Fatal(err)
			}
			return c.RevokeToken(ctx, tok.Id)
		}, nil},
		{"ListAudit", func(c *client.Client) error { _, err := c.ListAudit(ctx, 0, 10); return err },
			[]registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER, registryv1.Role_ROLE_READER}},
	}

	addr := env.CP.Addr()
	callers := []struct {
		name string
		role registryv1.Role
		c    *client.Client
	}{
		{"none", 0, testenv.NewClient(t, addr, "")},
		{"forged", 0, testenv.NewClient(t, addr, "ne_0123456789abcdef_0123456789abcdef0123456789abcdef")},
		{"garbage", 0, testenv.NewClient(t, addr, "hunter2")},
		{"admin", registryv1.Role_ROLE_ADMIN, admin},
	}
	for _, r := range []registryv1.Role{registryv1.Role_ROLE_PUBLISHER, registryv1.Role_ROLE_WORKER, registryv1.Role_ROLE_READER} {
		callers = append(callers, struct {
			name string
			role registryv1.Role
			c    *client.Client
		}{r.String(), r, testenv.NewClient(t, addr, env.Token(t, "matrix", r))})
	}
	for _, rpc := range rpcs {
		for _, caller := range callers {
			t.Run(rpc.name+"/"+caller.name, func(t *testing.T) {
				err := rpc.call(caller.c)
				want := codes.OK
				switch {
				case caller.role == 0:
					want = codes.Unauthenticated
				case caller.role != registryv1.Role_ROLE_ADMIN && !contains(rpc.allowed, caller.role):
					want = codes.PermissionDenied
				}
				if got := status.Code(err); got != want {
					t.Fatalf("exp %v, got %v (%v)", want, got, err)
				}
			})
		}
	}

	// Health answers without credentials, for probes.
	if _, err := testenv.NewClient(t, addr, "").Health(ctx); err != nil {
		t.Fatalf("health without credentials: %v", err)
	}
}

func contains(rs []registryv1.Role, r registryv1.Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// TestRevokedTokenIsRefused checks a revoked token stops working at once.
func TestRevokedTokenIsRefused(t *testing.T) {
	env := testenv.Start(t, testenv.ControlPlaneConfig(t.TempDir(), "127.0.0.1:0"))
	ctx := context.Background()
	tok, secret, err := env.Admin.CreateToken(ctx, "temp", registryv1.Role_ROLE_READER)
	if err != nil {
		t.Fatal(err)
	}
	c := testenv.NewClient(t, env.CP.Addr(), secret)
	if _, _, err := c.ListRoutes(ctx); err != nil {
		t.Fatalf("exp the token to work, got %v", err)
	}
	if err := env.Admin.RevokeToken(ctx, tok.Id); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ListRoutes(ctx); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("exp Unauthenticated after revocation, got %v", err)
	}
	toks, err := env.Admin.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range toks {
		if len(tk.SecretHash) != 0 {
			t.Fatalf("ListTokens leaked a secret hash for %s", tk.Name)
		}
	}
}
