// A CGI handler in C, built with clang for wasm32-wasi: not the Go guest
// SDK, only WASI and the CGI convention. The last path segment picks a
// behaviour: "loop" spins forever, "recurse" runs for ever without a loop
// (2^64 calls, 64 deep), "oom" allocates until memory runs out,
// "garbage" writes no header section, "exit3" exits with status 3,
// "partial" writes its header and a first line, flushes, then spins; any
// other path describes the request in X-Cgi-* headers and echoes the body.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char **volatile hoard; // what the "oom" path allocates, kept
static volatile unsigned long calls;

// recurse calls itself twice; neither call is a tail call (the count
// after them), so the compiler cannot turn either into a loop.
__attribute__((noinline)) static void recurse(int depth) {
	calls++;
	if (depth > 0) {
		recurse(depth - 1);
		recurse(depth - 1);
	}
	calls++;
}

static const char *env(const char *name) {
	const char *v = getenv(name);
	return v ? v : "";
}

int main(void) {
	const char *path = env("PATH_INFO");
	const char *last = strrchr(path, '/');
	last = last ? last + 1 : path;

	if (strcmp(last, "loop") == 0) {
		volatile unsigned long n = 0;
		for (;;) n++;
	}
	if (strcmp(last, "recurse") == 0) {
		recurse(64);
	}
	if (strcmp(last, "oom") == 0) {
		for (;;) { // a chain the compiler cannot prove unused
			char **p = malloc(1 << 20);
			if (!p) abort();
			memset(p, 1, 1 << 20);
			*p = (char *)hoard;
			hoard = p;
		}
	}
	if (strcmp(last, "partial") == 0) {
		printf("Content-Type: text/plain\r\n\r\nfirst part\n");
		fflush(stdout);
		volatile unsigned long n = 0;
		for (;;) n++;
	}
	if (strcmp(last, "garbage") == 0) {
		fputs("this is not a CGI response", stdout);
		return 0;
	}
	if (strcmp(last, "exit3") == 0) {
		fputs("exiting with status 3\n", stderr);
		exit(3);
	}

	long length = atol(env("CONTENT_LENGTH"));
	char *body = malloc(length + 1);
	long got = length > 0 ? (long)fread(body, 1, length, stdin) : 0;

	const char *status = strstr(env("QUERY_STRING"), "status=");
	printf("Status: %s\r\n", status ? status + 7 : "200 OK");
	printf("Content-Type: text/plain; charset=utf-8\r\n");
	printf("X-Cgi-Method: %s\r\n", env("REQUEST_METHOD"));
	printf("X-Cgi-Path: %s\r\n", path);
	printf("X-Cgi-Query: %s\r\n", env("QUERY_STRING"));
	printf("X-Cgi-Custom: %s\r\n", env("HTTP_X_CUSTOM"));
	printf("X-Cgi-Server: %s\r\n", env("SERVER_SOFTWARE"));
	printf("\r\n");
	printf("hello from C, %ld bytes: ", got);
	fwrite(body, 1, got, stdout);
	fprintf(stderr, "cgi: served %s\n", path);
	return 0;
}
