package registry

import (
	"fmt"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

const minDigestPrefix = 8

// ResolveModule finds the module a reference names:
//
//	name              the newest module uploaded under name
//	name@sha256:HEX   that digest, which must carry that name
//	name@HEX          likewise, HEX a unique prefix of at least 8 digits
//	sha256:HEX        a digest or unique prefix, any name
func (s *Store) ResolveModule(ref string) (*registryv1.Module, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: no module named: give a name, name@sha256:<hex> or a digest", ErrInvalid)
	}
	name, dg, hasDigest := strings.Cut(ref, "@")
	if !hasDigest && strings.HasPrefix(ref, digest.Prefix) {
		name, dg, hasDigest = "", ref, true
	}
	if name != "" {
		if err := ValidateName(name); err != nil {
			return nil, err
		}
	}
	hexPart := strings.TrimPrefix(dg, digest.Prefix)
	if hasDigest && (len(hexPart) < minDigestPrefix || len(hexPart) > 64 || strings.Trim(hexPart, "0123456789abcdef") != "") {
		return nil, fmt.Errorf("%w: module reference %q: want name, name@sha256:<hex> or a hex prefix of at least %d digits", ErrInvalid, ref, minDigestPrefix)
	}

	var found *registryv1.Module
	err := s.fsm.view(func(tx *bolt.Tx) error {
		mods, err := allModules(tx)
		if err != nil {
			return err
		}
		var matches []*registryv1.Module
		for _, m := range mods {
			if (name == "" || m.Name == name) && (!hasDigest || strings.HasPrefix(m.Digest, digest.Prefix+hexPart)) {
				matches = append(matches, m)
			}
		}
		switch {
		case len(matches) == 0:
			return fmt.Errorf("%w: module %q", ErrNotFound, ref)
		case hasDigest && len(matches) > 1:
			return fmt.Errorf("%w: %q matches %d modules", ErrAmbiguous, ref, len(matches))
		}
		found = matches[len(matches)-1] // sorted oldest first: the newest
		return nil
	})
	return found, err
}

func sortModules(mods []*registryv1.Module) {
	slices.SortFunc(mods, func(a, b *registryv1.Module) int {
		if a.CreateRevision != b.CreateRevision {
			return int(a.CreateRevision - b.CreateRevision)
		}
		return strings.Compare(a.Digest, b.Digest)
	})
}
