package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// Edge data stores: named tables of keys and values every worker holds
// in memory. Handlers read the stores their module links (sdk/guest/kv).

func (e *env) storesCmd() *cobra.Command {
	list := e.leaf("list", "list the stores: keys, bytes, last revision", noArgs, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			stores, rev, err := c.ListStores(ctx)
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"stores": stores, "revision": rev}, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "STORE\tKEYS\tBYTES\tREVISION")
				for _, s := range stores {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", s.Name, s.Keys, s.Bytes, s.ModRevision)
				}
				tw.Flush()
			})
		}
	})
	put := e.leaf("put <store> <key> [value]", "set one key (the value from the argument, or standard input)", func(c *cobra.Command, args []string) error {
		if len(args) < 2 || len(args) > 3 {
			return usageErr("want the store, the key and, unless it comes on standard input, the value")
		}
		return nil
	}, func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			var value []byte
			if len(args) == 3 {
				value = []byte(args[2])
			} else {
				var err error
				if value, err = io.ReadAll(io.LimitReader(os.Stdin, 1<<20)); err != nil {
					return err
				}
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			return e.writeEntries(ctx, cf, c, args[0], []*registryv1.KVEntry{{Key: args[1], Value: value}}, nil, false)
		}
	})
	get := e.leaf("get <store> <key>", "print one key's value", exactArgs(2, "the store and the key"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			entry, rev, err := c.GetEntry(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"key": entry.Key, "value": string(entry.Value), "revision": rev}, func(w io.Writer) {
				w.Write(entry.Value)
				if !bytes.HasSuffix(entry.Value, []byte("\n")) {
					fmt.Fprintln(w)
				}
			})
		}
	})
	keys := e.leaf("keys <store>", "list a store's keys in order", exactArgs(1, "the store"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		prefix := fs.String("prefix", "", "only keys that begin with this")
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var out []string
			// A page starts after a key: the prefix itself, if a key, first.
			if *prefix != "" {
				if _, _, err := c.GetEntry(ctx, args[0], *prefix); err == nil {
					out = append(out, *prefix)
				} else if status.Code(err) != codes.NotFound {
					return err
				}
			}
			err = eachKey(ctx, c, args[0], *prefix, func(k string) bool {
				if !strings.HasPrefix(k, *prefix) {
					return false
				}
				out = append(out, k)
				return true
			})
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"keys": out}, func(w io.Writer) {
				for _, k := range out {
					fmt.Fprintln(w, k)
				}
			})
		}
	})
	del := e.leaf("delete <store> <key>...", "delete keys", minArgs(2, "the store and the keys"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			return e.writeEntries(ctx, cf, c, args[0], nil, args[1:], false)
		}
	})
	imp := e.leaf("import <store> <file>", "write keys from JSON lines or CSV (- for standard input)", exactArgs(2, "the store and the file"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		format := fs.String("format", "", "jsonl or csv (default: from the file's extension)")
		dry := fs.Bool("dry-run", false, "say what the import would change; change nothing")
		replace := fs.Bool("replace", false, "also delete the keys the file does not name: the store becomes the file")
		return func(ctx context.Context, args []string) error {
			f := os.Stdin
			if args[1] != "-" {
				var err error
				if f, err = os.Open(args[1]); err != nil {
					return err
				}
				defer f.Close()
			}
			fm := *format
			if fm == "" {
				switch strings.ToLower(filepath.Ext(args[1])) {
				case ".csv":
					fm = "csv"
				case ".jsonl", ".ndjson", ".json":
					fm = "jsonl"
				default:
					return usageErr("cannot tell the format of %q: pass --format jsonl or --format csv", args[1])
				}
			}
			entries, err := readEntries(f, fm)
			if err != nil {
				return err
			}
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			var del []string
			if *replace {
				if del, err = missingKeys(ctx, c, args[0], entries); err != nil {
					return err
				}
			}
			return e.writeEntries(ctx, cf, c, args[0], entries, del, *dry)
		}
	})
	drop := e.leaf("drop <store>", "delete a store and every key in it", exactArgs(1, "the store"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			c, err := cf.dial()
			if err != nil {
				return err
			}
			defer c.Close()
			rev, err := c.DeleteStore(ctx, args[0])
			if err != nil {
				return err
			}
			return cf.emit(e, map[string]any{"revision": rev}, func(w io.Writer) {
				fmt.Fprintf(w, "store %s deleted (revision %d)\n", args[0], rev)
			})
		}
	})
	link := e.leaf("link <store> <module>", "let a module's handlers read a store", exactArgs(2, "the store and the module name"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			return e.changeConfig(ctx, cf, args[1], client.ConfigChange{LinkStores: []string{args[0]}})
		}
	})
	unlink := e.leaf("unlink <store> <module>", "stop a module's handlers reading a store", exactArgs(2, "the store and the module name"), func(fs *flag.FlagSet) runFunc {
		cf := addClientFlags(fs)
		return func(ctx context.Context, args []string) error {
			return e.changeConfig(ctx, cf, args[1], client.ConfigChange{UnlinkStores: []string{args[0]}})
		}
	})
	return group("stores", "edge data: key-value stores every worker holds for handlers to read", list, put, get, keys, del, imp, drop, link, unlink)
}

func (e *env) writeEntries(ctx context.Context, cf clientFlags, c *client.Client, store string, put []*registryv1.KVEntry, del []string, dry bool) error {
	resp, err := c.WriteEntries(ctx, store, put, del, dry)
	if err != nil {
		return err
	}
	return cf.emit(e, resp, func(w io.Writer) {
		verb := "wrote"
		if dry {
			verb = "would write"
		}
		fmt.Fprintf(w, "%s %s: %d added, %d updated, %d deleted, %d unchanged", verb, store, resp.Added, resp.Updated, resp.Deleted, resp.Unchanged)
		if resp.Revision != 0 {
			fmt.Fprintf(w, " (revision %d)", resp.Revision)
		}
		fmt.Fprintf(w, "\n%s holds %d keys, %d bytes\n", store, resp.Store.GetKeys(), resp.Store.GetBytes())
	})
}

// missingKeys are the store's keys that entries do not name (none for a
// store that does not exist yet).
func missingKeys(ctx context.Context, c *client.Client, store string, entries []*registryv1.KVEntry) ([]string, error) {
	named := make(map[string]bool, len(entries))
	for _, en := range entries {
		named[en.Key] = true
	}
	var missing []string
	err := eachKey(ctx, c, store, "", func(k string) bool {
		if !named[k] {
			missing = append(missing, k)
		}
		return true
	})
	if status.Code(err) == codes.NotFound {
		return nil, nil
	}
	return missing, err
}

// eachKey calls fn with a store's keys after the key after, in order,
// a page at a time, until fn returns false or the keys end.
func eachKey(ctx context.Context, c *client.Client, store, after string, fn func(key string) bool) error {
	for {
		page, next, _, err := c.ListEntries(ctx, store, after, 10000, true)
		if err != nil {
			return err
		}
		for _, en := range page {
			if !fn(en.Key) {
				return nil
			}
		}
		if after = next; next == "" {
			return nil
		}
	}
}

// readEntries parses an import: JSON lines of {"key": ..., "value": ...}
// (a value that is not a string is stored as its JSON text), or CSV rows
// of key,value (a first row "key,value" is a header).
func readEntries(r io.Reader, format string) ([]*registryv1.KVEntry, error) {
	var out []*registryv1.KVEntry
	switch format {
	case "jsonl":
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 4<<20)
		for line := 1; sc.Scan(); line++ {
			text := bytes.TrimSpace(sc.Bytes())
			if len(text) == 0 {
				continue
			}
			var row struct {
				Key   *string         `json:"key"`
				Value json.RawMessage `json:"value"`
			}
			dec := json.NewDecoder(bytes.NewReader(text))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&row); err != nil || row.Key == nil || row.Value == nil {
				return nil, usageErr("line %d: want {\"key\": \"...\", \"value\": ...}", line)
			}
			value := []byte(row.Value)
			var s string
			if json.Unmarshal(row.Value, &s) == nil {
				value = []byte(s)
			}
			out = append(out, &registryv1.KVEntry{Key: *row.Key, Value: value})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("read the import: %w", err)
		}
	case "csv":
		cr := csv.NewReader(r)
		cr.FieldsPerRecord = 2
		for row := 1; ; row++ {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, usageErr("csv: %v (want rows of key,value)", err)
			}
			if row == 1 && rec[0] == "key" && rec[1] == "value" {
				continue
			}
			out = append(out, &registryv1.KVEntry{Key: rec[0], Value: []byte(rec[1])})
		}
	default:
		return nil, usageErr("format %q: want jsonl or csv", format)
	}
	for i, en := range out {
		if !utf8.ValidString(en.Key) {
			return nil, usageErr("entry %d: the key %q is not UTF-8", i+1, en.Key)
		}
	}
	return out, nil
}
