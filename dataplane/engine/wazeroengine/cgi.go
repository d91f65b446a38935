package wazeroengine

import (
	"context"
	"io"
	"strings"

	"github.com/nanoedge/nanoedge/dataplane/engine/internal/cgi"
	"github.com/nanoedge/nanoedge/dataplane/engine/internal/guestio"
)

// runCGI runs the command once for a request (see cgi.Instance).
func (m *module) runCGI(stderr *guestio.TailWriter) cgi.Run {
	return func(ctx context.Context, env []string, stdin io.Reader, stdout io.Writer) (memory uint64, err error) {
		mc := moduleConfig(stderr).WithStdin(stdin).WithStdout(stdout)
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			mc = mc.WithEnv(k, v)
		}
		mod, _, err := m.start(ctx, mc, exportStart, stderr)
		if mod != nil {
			if mem := mod.Memory(); mem != nil {
				memory = uint64(mem.Size())
			}
			mod.Close(ctx)
		}
		return memory, err
	}
}
