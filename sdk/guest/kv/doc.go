// Package kv reads a worker's edge data stores from a handler: named,
// read-only tables of keys and values that the registry replicates to
// every worker, so a read is a lookup in the worker's memory, not a
// network call. A module reads the stores its configuration links
// (nanoedge stores link STORE --module NAME); every read within one
// request sees the same registry revision.
//
//	table, err := kv.Open("redirects")
//	if err != nil { ... }
//	if to, ok := table.Get(r.URL.Path); ok {
//		http.Redirect(w, r, string(to), http.StatusFound)
//	}
//
// Outside a worker (a native build, a test) stores are what Set gives.
package kv
