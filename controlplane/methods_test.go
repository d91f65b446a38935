package controlplane

import (
	"testing"

	"google.golang.org/grpc"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// TestEveryMethodIsInTheTable: every RPC of every service the server
// registers has a permission and a placement, and the table names no RPC
// that does not exist. A new RPC fails this test until it is given both
// (without, it would be refused: deny by default).
func TestEveryMethodIsInTheTable(t *testing.T) {
	seen := map[string]bool{}
	for _, sd := range []grpc.ServiceDesc{registryv1.RegistryService_ServiceDesc, registryv1.AccessService_ServiceDesc,
		registryv1.ClusterService_ServiceDesc, registryv1.TelemetryService_ServiceDesc, registryv1.ConfigService_ServiceDesc,
		registryv1.KVService_ServiceDesc} {
		var names []string
		for _, m := range sd.Methods {
			names = append(names, m.MethodName)
		}
		for _, st := range sd.Streams {
			names = append(names, st.StreamName)
		}
		for _, n := range names {
			full := "/" + sd.ServiceName + "/" + n
			seen[full] = true
			if m, ok := methods[full]; !ok || m.perm == 0 {
				t.Errorf("%s has no permission in the method table", full)
			}
		}
	}
	for full := range methods {
		if !seen[full] {
			t.Errorf("the method table names %s, which no service has", full)
		}
	}
}
