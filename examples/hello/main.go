// Command hello is the smallest Nanoedge handler: an ordinary net/http
// handler registered with the guest SDK.
package main

import (
	"github.com/nanoedge/nanoedge/examples/hello/greet"
	"github.com/nanoedge/nanoedge/sdk/guest"
)

func init() { guest.HandleFunc(greet.Handler) }

func main() {}
