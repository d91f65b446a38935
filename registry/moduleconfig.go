package registry

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// envNameRE is what a variable or secret may be called: a name every
// language reads from its environment.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)

// The bounds of a module name's configuration.
var (
	LimitConfigEntries = Limit{"vars and secrets of a module name", 64}
	LimitVarValue      = Limit{"var value", 4 << 10}
	LimitSecretSealed  = Limit{"secret (sealed)", 8 << 10}
	LimitConfigs       = Limit{"module names with a configuration", 10000}
)

func init() {
	Limits = append(Limits, LimitConfigEntries, LimitVarValue, LimitSecretSealed, LimitConfigs)
}

func validateEnvName(what, name string) error {
	if !envNameRE.MatchString(name) {
		return fmt.Errorf("%w: %s name %q: want a letter or _ then up to 127 letters, digits or _", ErrInvalid, what, name)
	}
	return nil
}

// checkConfigCommand bounds a configuration change before it reaches
// Raft, and again when it applies.
func checkConfigCommand(c *raftlogv1.PutConfigCommand) error {
	if err := ValidateName(c.GetModuleName()); err != nil {
		return err
	}
	for k, v := range c.GetSetVars() {
		if err := validateEnvName("var", k); err != nil {
			return err
		}
		if err := LimitVarValue.Check(v); err != nil {
			return err
		}
	}
	for k, sec := range c.GetSetSecrets() {
		if err := validateEnvName("secret", k); err != nil {
			return err
		}
		if len(sec.GetValue()) > 0 {
			return fmt.Errorf("%w: secret %s: the registry stores sealed secrets only", ErrInvalid, k)
		}
		if len(sec.GetSealed()) == 0 {
			return fmt.Errorf("%w: secret %s is not sealed", ErrInvalid, k)
		}
		if err := LimitSecretSealed.Check(string(sec.GetSealed())); err != nil {
			return err
		}
		if err := LimitDigest(sec.GetDigest(), sec.GetKeyId()); err != nil {
			return err
		}
		if _, both := c.GetSetVars()[k]; both {
			return fmt.Errorf("%w: %s is set as both a var and a secret", ErrInvalid, k)
		}
	}
	for _, k := range append(append([]string(nil), c.GetDeleteVars()...), c.GetDeleteSecrets()...) {
		if err := validateEnvName("var or secret", k); err != nil {
			return err
		}
	}
	if err := LimitKVLinks.CheckCount(len(c.GetLinkStores()) + len(c.GetUnlinkStores())); err != nil {
		return err
	}
	for _, s := range append(append([]string(nil), c.GetLinkStores()...), c.GetUnlinkStores()...) {
		if err := ValidateName(s); err != nil {
			return fmt.Errorf("store: %w", err)
		}
	}
	return nil
}

// LimitDigest bounds a secret's digest and key id (16 hex digits each).
func LimitDigest(digest, keyID string) error {
	if len(digest) > 64 || len(keyID) > 64 {
		return fmt.Errorf("%w: secret digest or key id over 64 bytes", ErrInvalid)
	}
	return nil
}

// ConfigChange is one change to a module name's configuration. Secrets
// arrive sealed; the registry never sees their values.
type ConfigChange struct {
	ModuleName    string
	SetVars       map[string]string
	SetSecrets    map[string]*registryv1.Secret
	DeleteVars    []string
	DeleteSecrets []string
	// Reseal replaces sealed secrets with the same values under another
	// key: their digests must match the stored ones.
	Reseal bool
	// LinkStores and UnlinkStores change which edge data stores the
	// module's handlers may read; a store linked must exist.
	LinkStores, UnlinkStores []string
}

// PutConfig applies a configuration change for a module name and returns
// the configuration it leaves (nil if it left none) and the revision.
func (s *Store) PutConfig(ctx context.Context, ch ConfigChange) (*registryv1.Config, int64, error) {
	c := &raftlogv1.PutConfigCommand{ModuleName: ch.ModuleName, SetVars: ch.SetVars, SetSecrets: ch.SetSecrets,
		DeleteVars: ch.DeleteVars, DeleteSecrets: ch.DeleteSecrets, Reseal: ch.Reseal, LinkStores: ch.LinkStores, UnlinkStores: ch.UnlinkStores}
	if err := checkConfigCommand(c); err != nil {
		return nil, 0, err
	}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutConfig{PutConfig: c}})
	if err != nil {
		return nil, 0, err
	}
	if res.duplicate || len(res.events) == 0 {
		cfg, err := s.Config(c.ModuleName)
		if err != nil {
			return nil, res.revision, nil
		}
		return cfg, res.revision, nil
	}
	if res.events[0].Type == registryv1.EventType_EVENT_TYPE_DELETE {
		return nil, res.revision, nil
	}
	return res.events[0].GetConfig(), res.revision, nil
}

// Config returns a module name's configuration, or ErrNotFound.
func (s *Store) Config(moduleName string) (*registryv1.Config, error) {
	c := &registryv1.Config{}
	err := s.fsm.view(func(tx *bolt.Tx) error {
		return getProto(tx.Bucket(bucketConfigs), moduleName, "configuration of module", c)
	})
	return c, err
}

// ListConfigs returns every module name's configuration and the revision
// the list reflects.
func (s *Store) ListConfigs() ([]*registryv1.Config, int64, error) {
	return listProto[*registryv1.Config](s, bucketConfigs, func() *registryv1.Config { return &registryv1.Config{} })
}

func (w *writer) putConfig(c *raftlogv1.PutConfigCommand) error {
	if err := checkConfigCommand(c); err != nil {
		return err
	}
	b := w.tx.Bucket(bucketConfigs)
	cfg := &registryv1.Config{}
	if err := getProto(b, c.ModuleName, "configuration", cfg); err != nil {
		if err := w.checkCapacity(bucketConfigs, LimitConfigs); err != nil {
			return err
		}
		cfg = &registryv1.Config{ModuleName: c.ModuleName, CreateRevision: w.rev}
	}
	if cfg.Vars == nil {
		cfg.Vars = map[string]string{}
	}
	if cfg.Secrets == nil {
		cfg.Secrets = map[string]*registryv1.Secret{}
	}
	var did []string
	for _, k := range c.DeleteVars {
		if _, ok := cfg.Vars[k]; ok {
			delete(cfg.Vars, k)
			did = append(did, "unset var "+k)
		}
	}
	for _, k := range c.DeleteSecrets {
		if _, ok := cfg.Secrets[k]; ok {
			delete(cfg.Secrets, k)
			did = append(did, "deleted secret "+k)
		}
	}
	for _, k := range sortedKeys(c.SetVars) {
		if _, ok := cfg.Secrets[k]; ok {
			return fmt.Errorf("%w: %s is a secret of %s; delete it before setting a var of that name", ErrInvalid, k, c.ModuleName)
		}
		cfg.Vars[k] = c.SetVars[k]
		did = append(did, "set var "+k)
	}
	for _, k := range sortedKeys(c.SetSecrets) {
		if _, ok := cfg.Vars[k]; ok {
			return fmt.Errorf("%w: %s is a var of %s; unset it before setting a secret of that name", ErrInvalid, k, c.ModuleName)
		}
		sec := proto.Clone(c.SetSecrets[k]).(*registryv1.Secret)
		sec.Version, sec.ModRevision = 1, w.rev
		if old := cfg.Secrets[k]; old != nil {
			sec.Version = old.Version + 1
			if c.Reseal {
				sec.Version, sec.ModRevision = old.Version, old.ModRevision
			}
		}
		cfg.Secrets[k] = sec
		did = append(did, fmt.Sprintf("set secret %s (version %d)", k, sec.Version))
		if c.Reseal {
			did[len(did)-1] = fmt.Sprintf("resealed secret %s with key %s", k, sec.KeyId)
		}
	}
	for _, s := range c.LinkStores {
		if w.tx.Bucket(bucketKVStores).Get([]byte(s)) == nil {
			return fmt.Errorf("%w: store %q (a store exists once a key is written to it)", ErrNotFound, s)
		}
	}
	if stores := sortedStores(cfg.Stores, c.LinkStores, c.UnlinkStores); !slices.Equal(stores, cfg.Stores) {
		if err := LimitKVLinks.CheckCount(len(stores)); err != nil {
			return err
		}
		did = append(did, "stores "+strings.Join(stores, " "))
		cfg.Stores = stores
	}
	if err := LimitConfigEntries.CheckCount(len(cfg.Vars) + len(cfg.Secrets)); err != nil {
		return err
	}
	if len(did) == 0 {
		return nil // nothing changed: no revision
	}
	w.audit("put_config", c.ModuleName+": "+strings.Join(did, ", "))
	if len(cfg.Vars)+len(cfg.Secrets)+len(cfg.Stores) == 0 {
		if err := b.Delete([]byte(c.ModuleName)); err != nil {
			return err
		}
		w.emit(registryv1.EventType_EVENT_TYPE_DELETE, &registryv1.Event_Config{Config: &registryv1.Config{ModuleName: c.ModuleName}})
		return nil
	}
	cfg.ModRevision = w.rev
	if err := putProto(b, []byte(c.ModuleName), cfg); err != nil {
		return err
	}
	w.emit(registryv1.EventType_EVENT_TYPE_PUT, &registryv1.Event_Config{Config: cfg})
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
