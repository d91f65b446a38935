package cli

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

const configUsage = "read flags from this YAML file, one 'flag-name: value' per flag, lists for repeated flags (env NANOEDGE_CONFIG); command-line flags and NANOEDGE_ variables win over it"

// configPath finds --config in args, before the flags are parsed, or
// falls back to $NANOEDGE_CONFIG.
func configPath(args []string) string {
	for i, a := range args {
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasValue {
			return value
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return os.Getenv("NANOEDGE_CONFIG")
}

// loadConfig sets the flags a config file names. One file can serve
// several commands, so keys a command has no flag for are skipped, unless
// they look like a typo of one of its flags.
func loadConfig(fs *flag.FlagSet, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("%w: config: %v", errUsage, err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		return fmt.Errorf("%w: config %s: %v", errUsage, path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "config" {
			return fmt.Errorf("%w: config %s: a config file cannot name another", errUsage, path)
		}
		if fs.Lookup(k) == nil {
			if near := nearFlag(fs, k); near != "" {
				return fmt.Errorf("%w: config %s: %q is not a flag of %s; did you mean %q?", errUsage, path, k, fs.Name(), near)
			}
			continue
		}
		list, ok := values[k].([]any)
		if !ok {
			list = []any{values[k]}
		}
		for _, v := range list {
			if err := fs.Set(k, configString(v)); err != nil {
				return fmt.Errorf("%w: config %s: %s: %v", errUsage, path, k, err)
			}
		}
	}
	return nil
}

func configString(v any) string {
	switch v := v.(type) {
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// nearFlag returns a flag of fs within two edits of name, or "".
func nearFlag(fs *flag.FlagSet, name string) string {
	near := ""
	fs.VisitAll(func(f *flag.Flag) {
		if near == "" && editDistance(f.Name, name) <= 2 {
			near = f.Name
		}
	})
	return near
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
