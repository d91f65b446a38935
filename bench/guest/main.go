// Command guest is bench/handlers as a handler module.
package main

import (
	"github.com/nanoedge/nanoedge/bench/handlers"
	"github.com/nanoedge/nanoedge/sdk/guest"
)

func init() { guest.Handle(handlers.Mux()) }

func main() {}
