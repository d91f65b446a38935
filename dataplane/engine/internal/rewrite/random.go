package rewrite

import "encoding/binary"

// A snapshot taken after a Go module's initialization holds the Go
// runtime's random generators as initialization left them: every instance
// started from it would draw the same map seeds, map iteration orders and
// math/rand sequences. RandomStates finds those generators in the memory
// of two initializations that differed only in their random source, so
// that each instance can be given generators of its own.
//
// A generator is a chacha8rand.State, laid out as
//
//	buf  [32]uint64 // output not yet returned
//	seed [4]uint64
//	i, n, c uint32  // read index, buffered count, reseed counter
//
// Between the two memories its buf and seed differ in every word, and
// its counters, which depend only on how many numbers were drawn, are the
// same and in range. Other random-derived bytes (a map's seed, the
// runtime's hash key, a heap laid out differently) match neither the
// length nor the counters, and are left alone: changing them would break
// what was built on them.

// OtherRandom is a random source for the second initialization: one
// repeated byte, unlike the random bytes of the first.
type OtherRandom byte

func (c OtherRandom) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(c)
	}
	return len(p), nil
}

// RandomStateSize is what a new instance refills at each offset that
// RandomStates returns: buf and seed.
const RandomStateSize = 36 * 8

// RandomStates returns the offsets of the random generators in a and b,
// two memories of the same initialization with different random sources.
func RandomStates(a, b []byte) []int {
	n := min(len(a), len(b)) &^ 7
	var found []int
	run := 0 // differing words ending at the word before i
	for i := 0; i+8 <= n; i += 8 {
		if binary.LittleEndian.Uint64(a[i:]) != binary.LittleEndian.Uint64(b[i:]) {
			run++
			continue
		}
		if run == 36 && generatorTail(a, b, i) {
			found = append(found, i-RandomStateSize)
		}
		run = 0
	}
	return found
}

// generatorTail reports whether the 12 bytes at i are a generator's
// counters: the same in both memories, i <= n <= 32, c a multiple of 4 up
// to 16.
func generatorTail(a, b []byte, i int) bool {
	if i+12 > len(a) || i+12 > len(b) || string(a[i:i+12]) != string(b[i:i+12]) {
		return false
	}
	idx, cnt, c := binary.LittleEndian.Uint32(a[i:]), binary.LittleEndian.Uint32(a[i+4:]), binary.LittleEndian.Uint32(a[i+8:])
	return idx <= cnt && cnt <= 32 && c%4 == 0 && c <= 16
}
