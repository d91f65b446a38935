// badabi speaks the handler ABI itself, in C, and breaks it on request:
// "/bad-response" answers with a response outside its memory,
// "/arm-bad-buffer" makes the next nanoedge_alloc return a buffer outside
// its memory. Every other request is answered 204. Built by clang for
// wasm32-wasi: a few kilobytes that every engine compiles at once.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// OUTSIDE is an address past any memory a module can have that a length
// still fits after.
#define OUTSIDE 0xffff0000u

static uint8_t *in;
static uint8_t out[12];
static int bad_buffer;

__attribute__((export_name("nanoedge_abi_version"))) int32_t abi_version(void) { return 1; }

__attribute__((export_name("nanoedge_alloc"))) uint32_t alloc(int32_t size) {
	if (bad_buffer) {
		bad_buffer = 0;
		return OUTSIDE;
	}
	free(in);
	in = malloc(size > 0 ? (size_t)size : 1);
	return (uint32_t)(uintptr_t)in;
}

static uint32_t u32(const uint8_t *p) {
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int is(const uint8_t *s, uint32_t n, const char *want) {
	return n == strlen(want) && memcmp(s, want, n) == 0;
}

// A request starts with its method and URI, each a 4-byte little-endian
// length and its bytes. The response written is status 204, no header
// pairs, an empty body.
__attribute__((export_name("nanoedge_handle"))) uint64_t handle(uint32_t ptr, int32_t size) {
	const uint8_t *p = (const uint8_t *)(uintptr_t)ptr;
	if (size >= 8) {
		uint32_t mlen = u32(p);
		if (mlen <= (uint32_t)size - 8) {
			uint32_t ulen = u32(p + 4 + mlen);
			const uint8_t *uri = p + 8 + mlen;
			if (ulen <= (uint32_t)size - 8 - mlen) {
				if (is(uri, ulen, "/bad-response")) {
					return (uint64_t)OUTSIDE << 32 | 100;
				}
				if (is(uri, ulen, "/arm-bad-buffer")) {
					bad_buffer = 1;
				}
			}
		}
	}
	memset(out, 0, sizeof out);
	out[0] = 204;
	return (uint64_t)(uintptr_t)out << 32 | sizeof out;
}

int main(void) { return 0; }
