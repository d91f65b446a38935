package dataplane

import "testing"

func TestGetBufSizes(t *testing.T) {
	for _, tt := range []struct{ n, cap int }{
		{0, 0}, {100, 100}, {32 << 10, 32 << 10}, {32<<10 + 1, 64 << 10}, {64<<10 - 1, 64 << 10}, {64 << 10, 64 << 10}, {64<<10 + 1, 128 << 10},
		{1 << 20, 1 << 20}, {64 << 20, 64 << 20}, {64<<20 + 1, 64<<20 + 1},
	} {
		b := getBuf(tt.n)
		if len(b) != 0 || cap(b) != tt.cap {
			t.Errorf("getBuf(%d): len %d cap %d, want 0 and %d", tt.n, len(b), cap(b), tt.cap)
		}
		putBuf(b[:tt.n])
	}
	// What comes back from the pool is empty and large enough.
	putBuf(make([]byte, 10, 1<<20))
	if b := getBuf(1<<20 - 5); len(b) != 0 || cap(b) != 1<<20 {
		t.Fatalf("after a put: len %d cap %d", len(b), cap(b))
	}
}
