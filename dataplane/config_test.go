package dataplane

import (
	"strings"
	"testing"
)

// TestConfigValidate: the defaults are valid, 0 requests per instance
// means the module's advice, and a limit that cannot work is refused with
// a message naming it.
func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Config)
		want   string // in the error; empty for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"requests per instance from the module", func(c *Config) { c.MaxRequestsPerInstance = 0 }, ""},
		{"requests per instance set", func(c *Config) { c.MaxRequestsPerInstance = 500 }, ""},
		{"negative requests per instance", func(c *Config) { c.MaxRequestsPerInstance = -1 }, "MaxRequestsPerInstance"},
		{"no instances", func(c *Config) { c.MaxInstances = 0 }, "MaxInstances"},
		{"no memory budget", func(c *Config) { c.RecycleMemory = 0 }, "RecycleMemory"},
		{"no timeout", func(c *Config) { c.RequestTimeout = 0 }, "timeouts"},
		{"no logger", func(c *Config) { c.Logger = nil }, "Logger"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.change(&cfg)
			err := cfg.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("exp valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("exp an error naming %s, got %v", tt.want, err)
			}
		})
	}
}
