// Package guests builds the repository's handler modules for tests, once
// per test binary, and its subdirectories hold the modules only tests use: echo reflects a
// request back so hosts can be checked byte for byte; misbehave does what a
// hostile or broken guest does (panic, spin, exhaust memory, exit); badabi, in C, breaks the ABI itself
// (buffers and responses outside its memory).
package guests
