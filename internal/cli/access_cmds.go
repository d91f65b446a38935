package cli

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/nanoedge/nanoedge/controlplane"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
	"github.com/nanoedge/nanoedge/sdk/digest"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// signOptions picks how push signs: a detached signature file, an explicit
// key, or the dev key if present.
func signOptions(modulePath, keyFile, sigFile string) ([]client.UploadOption, error) {
	if sigFile == "" && strings.HasSuffix(modulePath, ".wasm") {
		if _, err := os.Stat(modulePath + ".sig"); err == nil {
			sigFile = modulePath + ".sig"
		}
	}
	if sigFile != "" {
		b, err := os.ReadFile(sigFile)
		if err != nil {
			return nil, err
		}
		id, sig, err := signing.ParseSignature(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sigFile, err)
		}
		return []client.UploadOption{client.WithSignature(id, sig)}, nil
	}
	if keyFile == "" {
		if _, err := os.Stat(devKeyFile); err != nil {
			return nil, nil // unsigned: the control plane says whether that is allowed
		}
		keyFile = devKeyFile
	}
	priv, err := readKey(keyFile)
	if err != nil {
		return nil, err
	}
	return []client.UploadOption{client.WithSigner(priv)}, nil
}

func readKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	priv, err := signing.ParsePrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return priv, nil
}

func (e *env) keysCmd() *cobra.Command {
	generate := e.leaf("generate", "make a publisher key pair (the private half in a file)", noArgs, func(fs *flag.FlagSet) runFunc {
		out := fs.String("out", "publisher.key", "file to write the private key to (mode 0600)")
		output := addOutputFlag(fs)
		return func(ctx context.Context, args []string) error {
			if err := checkOutput(*output); err != nil {
				return err
			}
			priv, err := signing.GenerateKey()
			if err != nil {
				return err
			}
			if err := os.WriteFile(*out, signing.MarshalPrivateKey(priv), 0o600); err != nil {
				return err
			}
			pub := priv.Public().(ed25519.PublicKey)
			v := map[string]any{"private_key_file": *out, "id": signing.KeyID(pub), "public_key": signing.EncodePublicKey(pub)}
			return emit(e.stdout, *output, v, func(w io.Writer) {
				fmt.Fprintf(w, "private key written to %s\nkey id:     %s\npublic key: %s\n", *out, signing.KeyID(pub), signing.EncodePublicKey(pub))
			})
		}
	})
	add := e.leaf("add", "trust a publisher's public key (admin)", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		name := fs.String("name", "", "a name for the publisher, for example ci")
		pubText := fs.String("public-key", "", "public key as printed by 'keys generate' (ed25519:<base64>)")
		keyFile := fs.String("key-file", "", "or: a private key file to take the public key from")
		return func(ctx context.Context, args []string) error {
			var pub ed25519.PublicKey
			var err error
			switch {
			case *keyFile != "":
				var priv ed25519.PrivateKey
				if priv, err = readKey(*keyFile); err == nil {
					pub = priv.Public().(ed25519.PublicKey)
				}
			case *pubText != "":
				pub, err = signing.ParsePublicKey(*pubText)
			default:
				return usageErr("name the key: --public-key ed25519:<base64> or --key-file FILE")
			}
			if err != nil {
				return err
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			k, err := c.AddKey(ctx, *name, pub)
			if err != nil {
				return err
			}
			return cf.emit(e, keyView(k), func(w io.Writer) {
				fmt.Fprintf(w, "trusted %s (%s) at revision %d\n", k.Id, k.Name, k.CreateRevision)
			})
		}
	})
	list := e.leaf("list", "list publisher keys, with their public halves", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			keys, _, err := c.ListKeys(ctx)
			if err != nil {
				return err
			}
			views := make([]map[string]any, len(keys))
			for i, k := range keys {
				views[i] = keyView(k)
			}
			return cf.emit(e, map[string]any{"keys": views}, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tPUBLIC KEY\tREVISION\tSTATE")
				for _, k := range keys {
					state := "trusted"
					if k.Revoked {
						state = fmt.Sprintf("revoked at %d", k.RevokeRevision)
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", k.Id, k.Name, signing.EncodePublicKey(k.PublicKey), k.CreateRevision, state)
				}
				tw.Flush()
			})
		}
	})
	revoke := e.leaf("revoke <key-id>", "stop trusting a publisher key (admin)", exactArgs(1, "the key id (keys list shows it)"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		force := fs.Bool("force", false, "revoke even though routes use modules the key signed: those versions then answer 503 until rerouted")
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.RevokeKey(ctx, args[0], *force)
			if err != nil {
				return err
			}
			return cf.emit(e, resp, func(w io.Writer) {
				fmt.Fprintf(w, "revoked %s (%s) at revision %d\n", resp.Key.Id, resp.Key.Name, resp.Revision)
				for _, r := range resp.AffectedRoutes {
					fmt.Fprintf(w, "now answering 503, signed by this key: %s -> %s@%s\n", routeName(r.Host, r.PathPrefix), r.ModuleName, r.ModuleDigest)
				}
			})
		}
	})
	return group("keys", "generate, add, list or revoke publisher keys", generate, add, list, revoke)
}

// keyView is a publisher key as scripts read it: the public half in the
// form 'keys add' and the browser host take (ed25519:<base64>).
func keyView(k *registryv1.PublisherKey) map[string]any {
	return map[string]any{"id": k.Id, "name": k.Name, "public_key": signing.EncodePublicKey(k.PublicKey),
		"create_revision": k.CreateRevision, "revoked": k.Revoked, "revoke_revision": k.RevokeRevision}
}

func (e *env) signCmd() *cobra.Command {
	return e.leaf("sign [flags] <module.wasm>", "sign a module with a publisher key (writes <module>.sig)", exactArgs(1, "the module file to sign"), func(fs *flag.FlagSet) runFunc {
		keyFile := fs.String("key", "", "publisher private key file (env NANOEDGE_KEY; required)")
		name := fs.String("name", "", "module name the signature binds to (default: the file name)")
		return func(ctx context.Context, args []string) error {
			if *keyFile == "" {
				*keyFile = os.Getenv("NANOEDGE_KEY")
			}
			if *keyFile == "" {
				return usageErr("--key is required: the publisher's private key file")
			}
			path := args[0]
			priv, err := readKey(*keyFile)
			if err != nil {
				return err
			}
			wasm, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if *name == "" {
				*name = defaultName(path)
			}
			digest := digest.Of(wasm)
			id := signing.KeyID(priv.Public().(ed25519.PublicKey))
			if err := os.WriteFile(path+".sig", []byte(signing.EncodeSignature(id, signing.Sign(priv, *name, digest))), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "signed %s@%s with %s: %s.sig\n", *name, digest, id, path)
			return nil
		}
	})
}

func (e *env) tokensCmd() *cobra.Command {
	create := e.leaf("create", "create an API token (admin); its secret is shown once", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		name := fs.String("name", "", "who the token is for, for example ci or worker-eu1")
		role := fs.String("role", "", "admin, publisher, worker or reader")
		return func(ctx context.Context, args []string) error {
			r, err := controlplane.ParseRole(*role)
			if err != nil {
				return usageErr("--role %q: want admin, publisher, worker or reader", *role)
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			tok, secret, err := c.CreateToken(ctx, *name, r)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"token": tok, "secret": secret}, func(w io.Writer) {
				fmt.Fprintf(e.stderr, "token %s (%s, %s) created; the secret is shown only once:\n", tok.Id, tok.Name, *role)
				fmt.Fprintln(w, secret)
			})
		}
	})
	list := e.leaf("list", "list API tokens (admin)", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			toks, err := c.ListTokens(ctx)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"tokens": toks}, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tNAME\tROLE\tREVISION")
				for _, t := range toks {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", t.Id, t.Name, strings.ToLower(strings.TrimPrefix(t.Role.String(), "ROLE_")), t.CreateRevision)
				}
				tw.Flush()
			})
		}
	})
	revoke := e.leaf("revoke <token-id>", "revoke an API token (admin)", exactArgs(1, "the token id (tokens list shows it)"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RevokeToken(ctx, args[0]); err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"revoked": args[0]}, func(w io.Writer) {
				fmt.Fprintf(w, "token %s revoked\n", args[0])
			})
		}
	})
	return group("tokens", "create, list or revoke API tokens", create, list, revoke)
}

func (e *env) auditCmd() *cobra.Command {
	return e.leaf("audit", "list accepted writes: who, what, when, revision", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		from := fs.Int64("from", 0, "first revision to show")
		limit := fs.Int("limit", 100, "most entries to show")
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			entries, err := c.ListAudit(ctx, *from, *limit)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"entries": entries}, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "REVISION\tTIME\tACTOR\tACTION\tDETAIL")
				for _, a := range entries {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", a.Revision, a.Time.AsTime().Format("2006-01-02T15:04:05Z"), dash(a.Actor), a.Action, a.Detail)
				}
				tw.Flush()
			})
		}
	})
}
