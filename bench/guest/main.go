// Command guest is bench/handlers as a handler module.
package main

import (
	"github.com/nanoedge/nanoedge/bench/handlers"
	"github.com/nanoedge/nanoedge/sdk/guest"
	_ "github.com/nanoedge/nanoedge/sdk/guest/fetch" // net/http calls out through the worker
)

func init() { guest.Handle(handlers.Mux()) }

func main() {}
