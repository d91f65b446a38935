package cli

import (
	"fmt"
	"os"
	"sort"
	"strconv"

	"github.com/spf13/pflag"
	"sigs.k8s.io/yaml"
)

const configUsage = "read flags from this YAML file, one 'flag-name: value' per flag, lists for repeated flags (env NANOEDGE_CONFIG); command-line flags and NANOEDGE_ variables win over it"

// configPathOf is --config, else $NANOEDGE_CONFIG.
func configPathOf(flags *pflag.FlagSet) string {
	if f := flags.Lookup("config"); f != nil && f.Value.String() != "" {
		return f.Value.String()
	}
	return os.Getenv("NANOEDGE_CONFIG")
}

// readConfig reads a config file into the values of each flag it names.
// One file can serve several commands, so keys a command has no flag for
// are skipped, unless they look like a typo of one of its flags.
func readConfig(path string, flags *pflag.FlagSet, command string) (map[string][]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErr("config: %v", err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(b, &values); err != nil {
		return nil, usageErr("config %s: %v", path, err)
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string][]string{}
	for _, k := range keys {
		if k == "config" {
			return nil, usageErr("config %s: a config file cannot name another", path)
		}
		if flags.Lookup(k) == nil {
			if near := nearFlag(flags, k); near != "" {
				return nil, usageErr("config %s: %q is not a flag of %s; did you mean %q?", path, k, command, near)
			}
			continue
		}
		list, ok := values[k].([]any)
		if !ok {
			list = []any{values[k]}
		}
		for _, v := range list {
			out[k] = append(out[k], configString(v))
		}
	}
	return out, nil
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

// nearFlag returns a flag of flags within two edits of name, or "".
func nearFlag(flags *pflag.FlagSet, name string) string {
	near, best := "", 3
	flags.VisitAll(func(f *pflag.Flag) {
		if d := editDistance(f.Name, name); d < best {
			near, best = f.Name, d
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
