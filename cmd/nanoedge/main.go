// Command nanoedge runs Nanoedge's servers (dev, controlplane, worker) and
// drives a running control plane (push, route, modules, status).
package main

import (
	"os"

	"github.com/nanoedge/nanoedge/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
