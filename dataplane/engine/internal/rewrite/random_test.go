package rewrite

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestRandomStates finds generator states among other differences: a
// map seed (one word), a hash key (four words), a longer random buffer,
// and a generator whose counters are out of range.
func TestRandomStates(t *testing.T) {
	a, b := make([]byte, 8192), make([]byte, 8192)
	r := rand.New(rand.NewPCG(1, 2))
	differ := func(off, words int) {
		for w := range words {
			binary.LittleEndian.PutUint64(a[off+8*w:], r.Uint64())
			binary.LittleEndian.PutUint64(b[off+8*w:], r.Uint64())
		}
	}
	counters := func(off int, i, n, c uint32) {
		for _, m := range [][]byte{a, b} {
			binary.LittleEndian.PutUint32(m[off:], i)
			binary.LittleEndian.PutUint32(m[off+4:], n)
			binary.LittleEndian.PutUint32(m[off+8:], c)
		}
	}
	differ(64, 36) // a generator at 64
	counters(64+RandomStateSize, 3, 32, 4)
	differ(1024, 1)  // a map seed
	differ(1100, 4)  // a hash key
	differ(2048, 64) // a random buffer of 512 bytes
	counters(2048+512, 0, 32, 0)
	differ(4096, 36) // counters out of range: not a generator
	counters(4096+RandomStateSize, 40, 32, 0)
	differ(6000, 36) // another generator, counters at zero
	counters(6000+RandomStateSize, 0, 32, 0)
	if got := RandomStates(a, b); !slices.Equal(got, []int{64, 6000}) {
		t.Fatalf("RandomStates = %v, want [64 6000]", got)
	}
}
