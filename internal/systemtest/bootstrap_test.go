package systemtest

import (
	"context"
	"strings"
	"testing"

	"github.com/nanoedge/nanoedge/controlplane"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// TestBootstrapTokenAndAdvertisedAddress: an operator-chosen admin token
// works from the first start (so nodes can join with it), and members are
// listed under their advertised API address.
func TestBootstrapTokenAndAdvertisedAddress(t *testing.T) {
	_, secret, err := controlplane.NewToken("admin", registryv1.Role_ROLE_ADMIN)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testenv.ControlPlaneConfig(t.TempDir(), freeAddr(t))
	cfg.BootstrapToken = secret
	cfg.GRPCAdvertise = strings.Replace(cfg.GRPCAddr, "127.0.0.1", "localhost", 1)
	cp := testenv.StartControlPlane(t, cfg)
	c := testenv.NewClient(t, cp.Addr(), secret)
	members, _, err := c.Members(context.Background())
	if err != nil {
		t.Fatalf("the bootstrap token must be an admin token: %v", err)
	}
	if len(members) != 1 || members[0].GrpcAddr != cfg.GRPCAdvertise {
		t.Fatalf("exp the advertised address %s, got %v", cfg.GRPCAdvertise, members)
	}
	if _, _, err := c.CreateToken(context.Background(), "ci", registryv1.Role_ROLE_PUBLISHER); err != nil {
		t.Fatal(err)
	}
}
