package cli

import (
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nanoedge/nanoedge/internal/tlsconfig"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// controlPlaneFlag registers --controlplane.
func controlPlaneFlag(fs *flag.FlagSet) *string {
	return fs.String("controlplane", "127.0.0.1:7070", "control plane gRPC address; several, comma-separated, are tried in turn")
}

// devTokenFile and devKeyFile are where `nanoedge dev` leaves its admin
// token and publisher key; client commands run from the same directory
// find them without flags.
var (
	devTokenFile = filepath.Join(".nanoedge", "admin.token")
	devKeyFile   = filepath.Join(".nanoedge", "publisher.key")
)

// clientFlags are the flags of every command that calls the control plane.
type clientFlags struct {
	addr    *string
	output  *string
	token   secretFlag
	tls     clientTLSFlags
	timeout *time.Duration
}

func addClientFlags(fs *flag.FlagSet) clientFlags {
	return clientFlags{
		addr:    controlPlaneFlag(fs),
		token:   addSecretFlag(fs, "token", "bearer token (default: "+devTokenFile+" if present)"),
		tls:     addClientTLSFlags(fs, ""),
		output:  addOutputFlag(fs),
		timeout: fs.Duration("call-timeout", 30*time.Second, "bound each call to the control plane, retries through an election included"),
	}
}

// addOutputFlag registers --output (-o).
func addOutputFlag(fs *flag.FlagSet) *string {
	return fs.String("output", "text", "text for people; json or yaml for scripts (one document on stdout)")
}

// secretFlag is a secret given as a flag, as NANOEDGE_<NAME>, or read from
// the file named by --<name>-file. Its default is always empty, so help
// and usage errors never print a secret taken from the environment.
type secretFlag struct {
	name        string
	value, file *string
}

func addSecretFlag(fs *flag.FlagSet, name, usage string) secretFlag {
	env := envName(name)
	return secretFlag{
		name:  name,
		value: fs.String(name, "", usage+" (env "+env+"; prefer --"+name+"-file: flags show in process listings)"),
		file:  fs.String(name+"-file", "", "read --"+name+" from this file (env "+env+"_FILE)"),
	}
}

// get returns the secret, "" when none is given.
func (f secretFlag) get() (string, error) {
	if *f.value != "" {
		return *f.value, nil
	}
	if *f.file == "" {
		return "", nil
	}
	b, err := os.ReadFile(*f.file)
	if err != nil {
		return "", fmt.Errorf("--%s-file: %w", f.name, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("--%s-file: %s is empty", f.name, *f.file)
	}
	return v, nil
}

// clientTLSFlags select TLS toward the control plane.
type clientTLSFlags struct {
	ca, cert, key *string
}

// addClientTLSFlags registers <prefix>tls-ca, -cert and -key.
func addClientTLSFlags(fs *flag.FlagSet, prefix string) clientTLSFlags {
	return clientTLSFlags{
		ca:   fs.String(prefix+"tls-ca", "", "speak TLS, trusting this CA file"),
		cert: fs.String(prefix+"tls-cert", "", "client certificate for mutual TLS"),
		key:  fs.String(prefix+"tls-key", "", "client certificate key"),
	}
}

// config returns nil when no TLS flag is set.
func (f clientTLSFlags) config() (*tls.Config, error) {
	if *f.ca == "" && *f.cert == "" {
		return nil, nil
	}
	return tlsconfig.Client(*f.ca, *f.cert, *f.key)
}

func (f clientFlags) dial() (*client.Client, error) { return f.dialAddr(*f.addr) }

// dialAddr is dial to another address, with the same credentials.
func (f clientFlags) dialAddr(addr string) (*client.Client, error) {
	if err := checkOutput(*f.output); err != nil {
		return nil, err
	}
	token, err := f.token.get()
	if err != nil {
		return nil, err
	}
	if token == "" {
		if b, err := os.ReadFile(devTokenFile); err == nil {
			token = strings.TrimSpace(string(b))
		}
	}
	opts := []client.Option{client.WithCallTimeout(*f.timeout)}
	if token != "" {
		opts = append(opts, client.WithToken(token))
	}
	tlsCfg, err := f.tls.config()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil {
		opts = append(opts, client.WithTLS(tlsCfg))
	}
	return client.New(addr, opts...)
}

// listFlagVar registers a repeated flag.
func listFlagVar(fs *flag.FlagSet, name, usage string) *listFlag {
	l := &listFlag{}
	fs.Var(l, name, usage)
	return l
}

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func addListFlag(fs *flag.FlagSet, name, usage string) *listFlag {
	l := &listFlag{}
	fs.Var(l, name, usage)
	return l
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
