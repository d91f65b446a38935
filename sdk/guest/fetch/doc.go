// Package fetch lets a handler module call out over HTTP through its
// worker. Import it for its effect,
//
//	import _ "github.com/nanoedge/nanoedge/sdk/guest/fetch"
//
// and net/http's default transport becomes the worker's: http.Get,
// http.DefaultClient, httputil.ReverseProxy and any client without a
// Transport of its own send their requests through the worker, which
// allows only the origins the route lists (docs/abi.md). A module has no
// sockets of its own: without this package, net/http cannot connect.
//
// It is a package of its own because net/http's client is large: a module
// that never calls out stays about 3 MB smaller without it. Built natively
// (a handler's own tests), it changes nothing.
package fetch
