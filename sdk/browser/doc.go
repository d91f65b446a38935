// Package browser is the browser host for Nanoedge handler modules: plain
// ES modules (no build step) that verify a signed module with WebCrypto
// Ed25519, run it with the same host/guest ABI and WASI imports as a
// worker, and answer requests from a Service Worker. The Go package only
// embeds the files so that workers can serve them; see README.md.
package browser
