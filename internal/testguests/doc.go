// Package testguests holds handler modules built by tests: echo reflects a
// request back so hosts can be checked byte for byte; misbehave does what a
// hostile or broken guest does (panic, spin, exhaust memory, exit); badabi, in C, breaks the ABI itself
// (buffers and responses outside its memory).
package testguests
