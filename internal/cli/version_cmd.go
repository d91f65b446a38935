package cli

import (
	"context"
	"fmt"
	"runtime"
	"strings"

	"github.com/nanoedge/nanoedge/server"
)

func runVersion(ctx context.Context, e *env, args []string) error {
	fs := e.flags("version", "")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "nanoedge %s (%s, %s/%s, engines: %s)\n", server.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH, strings.Join(server.Engines(), ", "))
	return nil
}
