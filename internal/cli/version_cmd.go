package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nanoedge/nanoedge/server"
)

func versionLine() string {
	return fmt.Sprintf("nanoedge %s (%s, %s/%s, engines: %s)", server.Version(), runtime.Version(), runtime.GOOS, runtime.GOARCH, strings.Join(server.Engines(), ", "))
}

func (e *env) versionCmd() *cobra.Command {
	return e.leaf("version", "print this binary's version and engines", noArgs, func(fs *flag.FlagSet) runFunc {
		output := addOutputFlag(fs)
		return func(ctx context.Context, args []string) error {
			v := map[string]any{"version": server.Version(), "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH, "engines": server.Engines()}
			return emit(e.stdout, *output, v, func(w io.Writer) { fmt.Fprintln(w, versionLine()) })
		}
	})
}
