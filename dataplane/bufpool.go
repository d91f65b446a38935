package dataplane

import (
	"math/bits"
	"sync"
)

// Large request bodies and their encodings are buffers of up to the body
// limit, used for one request: pooled by power-of-two size, a worker
// moving megabyte bodies does not hand the garbage collector megabytes
// per request to clear and find again. Smaller buffers are allocated as
// usual.
const (
	minPooledClass = 16 // 64 KiB
	maxPooledClass = 26 // 64 MiB
)

var bufPools [maxPooledClass - minPooledClass + 1]sync.Pool

// getBuf returns an empty buffer of at least n bytes' capacity.
func getBuf(n int) []byte {
	c := bits.Len(uint(max(n, 1) - 1)) // the class whose size holds n
	if c < minPooledClass || c > maxPooledClass {
		return make([]byte, 0, n)
	}
	if v := bufPools[c-minPooledClass].Get(); v != nil {
		return (*v.(*[]byte))[:0]
	}
	return make([]byte, 0, 1<<c)
}

// putBuf gives a buffer from getBuf back; nothing may use it after.
func putBuf(b []byte) {
	c := bits.Len(uint(cap(b))) - 1
	if c < minPooledClass || c > maxPooledClass || cap(b) != 1<<c {
		return
	}
	bufPools[c-minPooledClass].Put(&b)
}
