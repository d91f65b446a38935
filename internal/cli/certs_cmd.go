package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nanoedge/nanoedge/internal/pki"
)

// runCerts makes the certificates a cluster runs on: a CA, node
// certificates (Raft between nodes, and the API they serve) and client
// certificates (CLI, CI, workers, for mutual TLS).
func runCerts(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "Usage: nanoedge certs ca|node|client [flags]")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := e.flags("certs "+sub, "[flags]")
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
	default:
		fmt.Fprintf(e.stderr, "nanoedge certs: unknown subcommand %q; want ca, node or client\n", sub)
		return errUsage
	}
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *days <= 0 {
		return fmt.Errorf("%w: --days must be positive", errUsage)
	}
	if *name == "" {
		return fmt.Errorf("%w: certs %s needs a name (--id for nodes, --name for clients)", errUsage, sub)
	}
	validity := time.Duration(*days) * 24 * time.Hour
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		return err
	}
	if sub == "ca" {
		caFile := filepath.Join(*dir, "ca.pem")
		if fileExists(caFile) {
			return fmt.Errorf("%s exists; a new CA would orphan every certificate it issued (remove it to start over)", caFile)
		}
		ca, err := pki.NewCA(*name, validity)
		if err != nil {
			return err
		}
		cert, key, err := ca.WriteFiles(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "wrote %s (give to every node and client) and %s (keep offline)\n", cert, key)
		return nil
	}
	ca, err := pki.LoadCA(filepath.Join(*dir, "ca.pem"), filepath.Join(*dir, "ca-key.pem"))
	if err != nil {
		return fmt.Errorf("%w (make one with: nanoedge certs ca --dir %s)", err, *dir)
	}
	usage := pki.Client
	if sub == "node" {
		usage = pki.Node
		hosts = append(hosts, *name)
	}
	pair, err := ca.Issue(*name, hosts, usage, validity)
	if err != nil {
		return err
	}
	file := strings.NewReplacer("/", "_", " ", "_").Replace(*name)
	cert, key, err := pair.WriteFiles(*dir, file)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "wrote %s and %s\n", cert, key)
	return nil
}
