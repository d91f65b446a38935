package cli

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/nanoedge/nanoedge/controlplane"
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

func runKeys(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "Usage: nanoedge keys generate|add|list|revoke [flags]")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := e.flags("keys "+sub, "[flags]")
	switch sub {
	case "generate":
		out := fs.String("out", "publisher.key", "file to write the private key to (mode 0600)")
		if err := parse(fs, args, 0); err != nil {
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
		fmt.Fprintf(e.stdout, "private key written to %s\nkey id:     %s\npublic key: %s\n", *out, signing.KeyID(pub), signing.EncodePublicKey(pub))
		return nil
	case "add":
		cf := addClientFlags(fs)
		name := fs.String("name", "", "a name for the publisher, for example ci")
		pubText := fs.String("public-key", "", "public key as printed by 'keys generate' (ed25519:<base64>)")
		keyFile := fs.String("key-file", "", "or: a private key file to take the public key from")
		if err := parse(fs, args, 0); err != nil {
			return err
		}
		var pub ed25519.PublicKey
		var err error
		if *keyFile != "" {
			var priv ed25519.PrivateKey
			if priv, err = readKey(*keyFile); err == nil {
				pub = priv.Public().(ed25519.PublicKey)
			}
		} else {
			pub, err = signing.ParsePublicKey(*pubText)
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
		return cf.emit(e, k, func(w io.Writer) {
			fmt.Fprintf(w, "trusted %s (%s) at revision %d\n", k.Id, k.Name, k.CreateRevision)
		})
	case "list":
		cf := addClientFlags(fs)
		if err := parse(fs, args, 0); err != nil {
			return err
		}
		c, err := cf.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		keys, _, err := c.ListKeys(ctx)
		if err != nil {
			return err
		}
		return cf.emit(e, map[string]any{"keys": keys}, func(w io.Writer) {
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tREVISION\tSTATE")
			for _, k := range keys {
				state := "trusted"
				if k.Revoked {
					state = fmt.Sprintf("revoked at %d", k.RevokeRevision)
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", k.Id, k.Name, k.CreateRevision, state)
			}
			tw.Flush()
		})
	case "revoke":
		cf := addClientFlags(fs)
		force := fs.Bool("force", false, "revoke even though routes use modules the key signed: those versions then answer 503 until rerouted")
		if err := parse(fs, args, 1); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		c, err := cf.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		resp, err := c.RevokeKey(ctx, fs.Arg(0), *force)
		if err != nil {
			return err
		}
		return cf.emit(e, resp, func(w io.Writer) {
			fmt.Fprintf(w, "revoked %s (%s) at revision %d\n", resp.Key.Id, resp.Key.Name, resp.Revision)
			for _, r := range resp.AffectedRoutes {
				fmt.Fprintf(w, "now answering 503, signed by this key: %s%s -> %s@%s\n", r.Host, r.PathPrefix, r.ModuleName, r.ModuleDigest)
			}
		})
	}
	fmt.Fprintf(e.stderr, "nanoedge keys: unknown subcommand %q; want generate, add, list or revoke\n", sub)
	return errUsage
}

func runSign(ctx context.Context, e *env, args []string) error {
	fs := e.flags("sign", "[flags] <module.wasm>")
	keyFile := fs.String("key", os.Getenv("NANOEDGE_KEY"), "publisher private key file (env NANOEDGE_KEY)")
	name := fs.String("name", "", "module name the signature binds to (default: the file name)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 || *keyFile == "" {
		fs.Usage()
		return errUsage
	}
	path := fs.Arg(0)
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

func runTokens(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(e.stderr, "Usage: nanoedge tokens create|list|revoke [flags]")
		return errUsage
	}
	sub, args := args[0], args[1:]
	fs := e.flags("tokens "+sub, "[flags]")
	cf := addClientFlags(fs)
	var name, role *string
	max := 0
	switch sub {
	case "create":
		name = fs.String("name", "", "who the token is for, for example ci or worker-eu1")
		role = fs.String("role", "", "admin, publisher, worker or reader")
	case "list":
	case "revoke":
		max = 1
	default:
		fmt.Fprintf(e.stderr, "nanoedge tokens: unknown subcommand %q; want create, list or revoke\n", sub)
		return errUsage
	}
	if err := parse(fs, args, max); err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	switch sub {
	case "create":
		r, err := controlplane.ParseRole(*role)
		if err != nil {
			return err
		}
		tok, secret, err := c.CreateToken(ctx, *name, r)
		if err != nil {
			return err
		}
		return cf.emit(e, map[string]any{"token": tok, "secret": secret}, func(w io.Writer) {
			fmt.Fprintf(e.stderr, "token %s (%s, %s) created; the secret is shown only once:\n", tok.Id, tok.Name, *role)
			fmt.Fprintln(w, secret)
		})
	case "list":
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
	case "revoke":
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		if err := c.RevokeToken(ctx, fs.Arg(0)); err != nil {
			return err
		}
		return cf.emit(e, map[string]any{"revoked": fs.Arg(0)}, func(w io.Writer) {
			fmt.Fprintf(w, "token %s revoked\n", fs.Arg(0))
		})
	}
	return nil
}

func runAudit(ctx context.Context, e *env, args []string) error {
	fs := e.flags("audit", "[flags]")
	cf := addClientFlags(fs)
	from := fs.Int64("from", 0, "first revision to show")
	limit := fs.Int("limit", 100, "most entries to show")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
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
