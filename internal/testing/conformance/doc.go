// Package conformance is the table of requests and expected responses that
// every Nanoedge host must answer the same way: a worker over HTTP and the
// browser host inside a Service Worker both run it against the echo test
// guest routed on /api/.
package conformance
