// A Nanoedge handler in C against docs/abi.md alone: a WASI reactor that
// exports the three ABI functions, decodes the request and encodes the
// response. No SDK, no libc beyond memory. Build:
//   clang --target=wasm32-wasi -O2 -mexec-model=reactor -o handler.wasm handler.c
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))

// The request buffer the host fills, and the response kept until the
// next call (the ABI's one rule about memory).
static uint8_t *request;
static uint8_t *response;

EXPORT("nanoedge_abi_version") int32_t abi_version(void) { return 1; }

EXPORT("nanoedge_alloc") uint8_t *alloc(int32_t size) {
	free(request);
	request = malloc(size > 0 ? size : 1);
	return request;
}

static uint32_t get32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static uint8_t *put32(uint8_t *p, uint32_t v) {
	p[0] = v, p[1] = v >> 8, p[2] = v >> 16, p[3] = v >> 24;
	return p + 4;
}

static uint8_t *put(uint8_t *p, const char *s, uint32_t n) {
	p = put32(p, n);
	memcpy(p, s, n);
	return p + n;
}

// A string or bytes field: its length, then its bytes.
struct field {
	const char *p;
	uint32_t n;
};

static const uint8_t *field(const uint8_t *p, struct field *f) {
	f->n = get32(p);
	f->p = (const char *)p + 4;
	return p + 4 + f->n;
}

// request = method uri host remote_addr header body; the handler answers
// 200 with the method and URI it was asked for.
EXPORT("nanoedge_handle") int64_t handle(uint8_t *ptr, int32_t len) {
	(void)len;
	struct field method, uri, host, remote;
	const uint8_t *p = field(ptr, &method);
	p = field(p, &uri);
	p = field(p, &host);
	field(p, &remote);

	static const char hello[] = "Hello from C! ";
	uint32_t body = sizeof hello - 1 + method.n + 1 + uri.n + 1;
	static const char ct[] = "Content-Type", ctv[] = "text/plain; charset=utf-8";
	free(response);
	response = malloc(4 + 4 + (4 + sizeof ct - 1) + (4 + sizeof ctv - 1) + 4 + body);
	uint8_t *q = put32(response, 200);
	q = put32(q, 1); // one header
	q = put(q, ct, sizeof ct - 1);
	q = put(q, ctv, sizeof ctv - 1);
	q = put32(q, body);
	memcpy(q, hello, sizeof hello - 1), q += sizeof hello - 1;
	memcpy(q, method.p, method.n), q += method.n;
	*q++ = ' ';
	memcpy(q, uri.p, uri.n), q += uri.n;
	*q++ = '\n';
	return (int64_t)(uintptr_t)response << 32 | (uint32_t)(q - response);
}
