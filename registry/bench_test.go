package registry

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkSetRoute3Nodes measures route writes acknowledged by a 3-node
// cluster on loopback (each one committed by a quorum and applied on the
// leader), from one writer and from many.
func BenchmarkSetRoute3Nodes(b *testing.B) {
	stores := newCluster(b, 3, nil)
	leader := stores[0]
	mod, _, _, err := leader.PutModule(context.Background(), "m", fakeWasm("m"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := leader.SetRoute(context.Background(), "", fmt.Sprintf("/s/%d", i%1000), mod.Digest, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.SetParallelism(16)
		i := 0
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				i++
				if _, _, err := leader.SetRoute(context.Background(), "", fmt.Sprintf("/p/%d", i%1000), mod.Digest, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkReplicate64MiB measures storing a 64 MiB module on a 3-node
// cluster until every node has applied it.
func BenchmarkReplicate64MiB(b *testing.B) {
	stores := newCluster(b, 3, nil)
	wasm := make([]byte, 64<<20)
	for i := 0; i < b.N; i++ {
		copy(wasm, fakeWasm(fmt.Sprint(i)))
		m, _, rev, err := stores[0].PutModule(context.Background(), "big", wasm, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range stores[1:] {
			for s.Revision() < rev {
				time.Sleep(time.Millisecond)
			}
		}
		b.SetBytes(m.Size)
	}
}
