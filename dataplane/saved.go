package dataplane

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

// A worker with a StateDir keeps what it serves on disk: the registry
// state it applied last (routes, flags, revoked keys, at a revision), the
// publisher keys it verified modules with, and the bytes and metadata of
// every module it compiled. Started while no control plane answers, it
// serves that state (verifying every module again) instead of nothing.
//
// Files: state.json (written to a temporary file, synced and renamed,
// with the SHA-256 of its state beside it) and modules/<hex digest>.wasm
// (named by content, checked against it when read).

const stateFile = "state.json"

// savedState is the part of state.json that its checksum covers.
type savedState struct {
	Revision int64             `json:"revision"`
	Saved    time.Time         `json:"saved"`
	Routes   []json.RawMessage `json:"routes"`
	Flags    map[string]bool   `json:"flags"`
	Revoked  []string          `json:"revoked"`
	Keys     []json.RawMessage `json:"keys"`
	Modules  []json.RawMessage `json:"modules"`
	// Configs are the module names' configurations without their secrets'
	// values: secrets are never written to disk.
	Configs []json.RawMessage `json:"configs,omitempty"`
}

type stateEnvelope struct {
	SHA256 string          `json:"sha256"`
	State  json.RawMessage `json:"state"`
}

// errNoSavedState: the state directory holds no state to serve.
var errNoSavedState = errors.New("dataplane: no saved state")

func (w *Worker) moduleFile(d string) string {
	return filepath.Join(w.cfg.StateDir, "modules", strings.TrimPrefix(d, digest.Prefix)+".wasm")
}

// saveModule keeps a fetched module's bytes and metadata, the bytes once.
func (w *Worker) saveModule(meta *registryv1.Module, wasm []byte) {
	w.moduleMeta.Store(meta.Digest, meta)
	if w.cfg.StateDir == "" {
		return
	}
	path := w.moduleFile(meta.Digest)
	if _, err := os.Stat(path); err == nil {
		return
	}
	if err := writeAtomic(path, wasm); err != nil {
		w.cfg.Logger.Warn("cannot keep a module on disk", "digest", shortDigest(meta.Digest), "err", err)
	}
}

// savedModule returns a module's bytes and metadata from disk, if both
// are there and the bytes are what the digest names.
func (w *Worker) savedModule(d string) (*registryv1.Module, []byte, bool) {
	m, ok := w.moduleMeta.Load(d)
	if !ok || w.cfg.StateDir == "" {
		return nil, nil, false
	}
	wasm, err := os.ReadFile(w.moduleFile(d))
	if err != nil || digest.Of(wasm) != d {
		return nil, nil, false
	}
	return m.(*registryv1.Module), wasm, true
}

// saveState writes what the worker serves now. It runs on the sync
// goroutine, at most about once a second.
func (w *Worker) saveState() error {
	if w.cfg.StateDir == "" {
		return nil
	}
	st := savedState{Revision: w.revision.Load(), Saved: time.Now().UTC(), Flags: w.flags}
	for _, r := range w.routes {
		b, err := protojson.Marshal(r)
		if err != nil {
			return err
		}
		st.Routes = append(st.Routes, b)
	}
	for id, revoked := range w.revoked {
		if revoked {
			st.Revoked = append(st.Revoked, id)
		}
	}
	for _, k := range w.keys() {
		b, _ := protojson.Marshal(k)
		st.Keys = append(st.Keys, b)
	}
	for _, c := range w.configs {
		c = proto.Clone(c).(*registryv1.Config)
		for _, sec := range c.Secrets {
			sec.Value, sec.Sealed = nil, nil
		}
		b, _ := protojson.Marshal(c)
		st.Configs = append(st.Configs, b)
	}
	for _, r := range w.routes {
		for _, d := range r.Digests() {
			if m, ok := w.moduleMeta.Load(d); ok {
				b, _ := protojson.Marshal(m.(*registryv1.Module))
				st.Modules = append(st.Modules, b)
			}
		}
	}
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	out, err := json.Marshal(stateEnvelope{SHA256: hex.EncodeToString(sum[:]), State: body})
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(w.cfg.StateDir, stateFile), out)
}

// loadState reads state.json into the worker's maps (routes, flags,
// revoked keys, saved keys and module metadata) and returns its revision
// and when it was saved.
func (w *Worker) loadState() (int64, time.Time, error) {
	raw, err := os.ReadFile(filepath.Join(w.cfg.StateDir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, time.Time{}, errNoSavedState
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	var env stateEnvelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return 0, time.Time{}, fmt.Errorf("dataplane: %s: %w", stateFile, err)
	}
	if sum := sha256.Sum256(env.State); hex.EncodeToString(sum[:]) != env.SHA256 {
		return 0, time.Time{}, fmt.Errorf("dataplane: %s does not match its checksum", stateFile)
	}
	var st savedState
	if err := json.Unmarshal(env.State, &st); err != nil {
		return 0, time.Time{}, fmt.Errorf("dataplane: %s: %w", stateFile, err)
	}
	routes := map[string]*registryv1.Route{}
	for _, b := range st.Routes {
		r := &registryv1.Route{}
		if err := protojson.Unmarshal(b, r); err != nil {
			return 0, time.Time{}, fmt.Errorf("dataplane: %s: route: %w", stateFile, err)
		}
		routes[routeKey(r.Host, r.PathPrefix)] = r
	}
	var keys []*registryv1.PublisherKey
	for _, b := range st.Keys {
		k := &registryv1.PublisherKey{}
		if err := protojson.Unmarshal(b, k); err != nil {
			return 0, time.Time{}, fmt.Errorf("dataplane: %s: key: %w", stateFile, err)
		}
		keys = append(keys, k)
	}
	for _, b := range st.Modules {
		m := &registryv1.Module{}
		if err := protojson.Unmarshal(b, m); err != nil {
			return 0, time.Time{}, fmt.Errorf("dataplane: %s: module: %w", stateFile, err)
		}
		w.moduleMeta.Store(m.Digest, m)
	}
	clear(w.configs)
	for _, b := range st.Configs {
		c := &registryv1.Config{}
		if err := protojson.Unmarshal(b, c); err != nil {
			return 0, time.Time{}, fmt.Errorf("dataplane: %s: configuration: %w", stateFile, err)
		}
		w.configs[c.ModuleName] = c
	}
	w.routes = routes
	clear(w.flags)
	for k, v := range st.Flags {
		w.flags[k] = v
	}
	clear(w.revoked)
	for _, id := range st.Revoked {
		w.revoked[id] = true
	}
	w.lastKeys.Store(&keys)
	return st.Revision, st.Saved, nil
}

// keys returns the publisher keys the worker last verified with.
func (w *Worker) keys() []*registryv1.PublisherKey {
	if k := w.lastKeys.Load(); k != nil {
		return *k
	}
	return nil
}

// writeAtomic writes data to path through a synced temporary file and a
// rename, so a crash leaves the old file or the new one, never half of
// one.
func writeAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
