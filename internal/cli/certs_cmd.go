package cli

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/nanoedge/nanoedge/internal/pki"
)

// certsCmd makes the certificates a cluster runs on: a CA, node
// certificates (Raft between nodes, and the API they serve) and client
// certificates (CLI, CI, workers, for mutual TLS).
func (e *env) certsCmd() *cobra.Command {
	mk := func(sub, short string) *cobra.Command {
		return e.leaf(sub, short, noArgs, func(fs *flag.FlagSet) runFunc {
			dir := fs.String("dir", "certs", "directory holding ca.pem and ca-key.pem, where certificates are written")
			days := fs.Int("days", 365, "validity in days")
			var name *string
			var hosts listFlag
			switch sub {
			case "ca":
				name = fs.String("name", "nanoedge cluster CA", "the CA's common name")
			case "node":
				name = fs.String("id", "", "the node's ID (its --node-id): the certificate's common name, which Raft peers check against the membership")
				fs.Var(&hosts, "host", "host name or IP address the node serves its API on (repeatable)")
			case "client":
				name = fs.String("name", "", "the client's name, for example ci or edge-eu")
			}
			return func(ctx context.Context, args []string) error {
				return e.makeCert(sub, *dir, *days, *name, hosts)
			}
		})
	}
	return group("certs", "make a cluster CA, node certificates (Raft, API) and client certificates",
		mk("ca", "make the cluster's CA (once)"), mk("node", "issue a node's certificate (Raft and API)"), mk("client", "issue a client certificate (mutual TLS)"))
}

func (e *env) makeCert(sub, dir string, days int, name string, hosts []string) error {
	if days <= 0 {
		return usageErr("--days must be positive")
	}
	if name == "" {
		return usageErr("certs %s needs a name (--id for nodes, --name for clients)", sub)
	}
	validity := time.Duration(days) * 24 * time.Hour
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if sub == "ca" {
		caFile := filepath.Join(dir, "ca.pem")
		if fileExists(caFile) {
			return fmt.Errorf("%s exists; a new CA would orphan every certificate it issued (remove it to start over)", caFile)
		}
		ca, err := pki.NewCA(name, validity)
		if err != nil {
			return err
		}
		cert, key, err := ca.WriteFiles(dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s (give to every node and client) and %s (keep offline)\n", cert, key)
		return nil
	}
	ca, err := pki.LoadCA(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem"))
	if err != nil {
		return fmt.Errorf("%w (make one with: nanoedge certs ca --dir %s)", err, dir)
	}
	usage := pki.Client
	if sub == "node" {
		usage = pki.Node
		hosts = append(hosts, name)
	}
	pair, err := ca.Issue(name, hosts, usage, validity)
	if err != nil {
		return err
	}
	file := strings.NewReplacer("/", "_", " ", "_").Replace(name)
	cert, key, err := pair.WriteFiles(dir, file)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s\n", cert, key)
	return nil
}
