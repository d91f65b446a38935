package registry

import (
	"path/filepath"
	"testing"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

// FuzzApply feeds arbitrary log entries to the state machine: it never
// panics, and an entry it refuses changes nothing but the applied index.
func FuzzApply(f *testing.F) {
	wasm := fakeWasm("m")
	seed := func(c *raftlogv1.Command) []byte { b, _ := proto.Marshal(c); return b }
	f.Add(seed(&raftlogv1.Command{Op: &raftlogv1.Command_PutModule{PutModule: &raftlogv1.PutModuleCommand{Module: &registryv1.Module{Name: "m", Digest: digest.Of(wasm)}, Wasm: wasm}}}))
	f.Add(seed(&raftlogv1.Command{Op: &raftlogv1.Command_PutRoute{PutRoute: &raftlogv1.PutRouteCommand{Route: &registryv1.Route{PathPrefix: "/", ModuleDigest: digest.Of(wasm)}}}}))
	f.Add(seed(&raftlogv1.Command{Op: &raftlogv1.Command_DeleteRoute{DeleteRoute: &raftlogv1.DeleteRouteCommand{PathPrefix: "/"}}}))
	f.Add(seed(&raftlogv1.Command{Op: &raftlogv1.Command_RevokeKey{RevokeKey: &raftlogv1.RevokeKeyCommand{Id: "x"}}}))
	f.Add([]byte{0xff, 0x01})
	// Found by fuzzing: commands with their payload missing used to panic.
	f.Add(seed(&raftlogv1.Command{Op: &raftlogv1.Command_PutToken{PutToken: &raftlogv1.PutTokenCommand{}}}))
	f.Add(seed(&raftlogv1.Command{Op: &raftlogv1.Command_PutKey{PutKey: &raftlogv1.PutKeyCommand{}}}))
	f.Add(seed(&raftlogv1.Command{Op: &raftlogv1.Command_PutRoute{PutRoute: &raftlogv1.PutRouteCommand{}}}))
	f.Add(seed(&raftlogv1.Command{Op: &raftlogv1.Command_PutModule{PutModule: &raftlogv1.PutModuleCommand{}}}))
	fsm, err := openFSM(filepath.Join(f.TempDir(), "state.db"), 100)
	if err != nil {
		f.Fatal(err)
	}
	defer fsm.close()
	index := uint64(0)
	f.Fuzz(func(t *testing.T, data []byte) {
		before := dump(t, fsm)
		index++
		res, _ := fsm.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data}).(*applyResult)
		if res == nil {
			t.Fatal("Apply returned no result")
		}
		if res.err != nil {
			if after := dump(t, fsm); after != before {
				t.Fatalf("refused entry (%v) changed the state", res.err)
			}
		}
	})
}

// dump renders every bucket but meta's applied index.
func dump(t *testing.T, f *fsm) string {
	var out []byte
	err := f.view(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			return b.ForEach(func(k, v []byte) error {
				if string(name) == string(bucketMeta) && string(k) == string(keyAppliedIndex) {
					return nil
				}
				out = append(out, name...)
				out = append(out, k...)
				out = append(out, v...)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
