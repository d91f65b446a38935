package registry

import (
	"context"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

type actorKey struct{}

// WithActor names who makes the writes done with ctx, for the audit trail.
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// ActorFrom returns the name WithActor put in ctx, or "".
func ActorFrom(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// AddKey trusts a publisher key. Adding a key that is already trusted
// changes nothing; re-adding a revoked key is refused.
func (s *Store) AddKey(ctx context.Context, key *registryv1.PublisherKey) (*registryv1.PublisherKey, int64, error) {
	if len(key.PublicKey) != 32 || key.Id == "" {
		return nil, 0, fmt.Errorf("%w: publisher key must be 32 bytes with an id", ErrInvalid)
	}
	if err := ValidateName(key.Name); err != nil {
		return nil, 0, err
	}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutKey{PutKey: &raftlogv1.PutKeyCommand{Key: key}}})
	if err != nil {
		return nil, 0, err
	}
	k, err := s.Key(key.Id)
	return k, res.revision, err
}

// RevokeKey marks a key revoked. While routes use modules the key signed
// it fails with ErrInUse naming them, unless force.
func (s *Store) RevokeKey(ctx context.Context, id string, force bool) (*registryv1.PublisherKey, int64, error) {
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_RevokeKey{RevokeKey: &raftlogv1.RevokeKeyCommand{Id: id, Force: force}}})
	if err != nil {
		return nil, 0, err
	}
	k, err := s.Key(id)
	return k, res.revision, err
}

// Key returns a publisher key by id.
func (s *Store) Key(id string) (*registryv1.PublisherKey, error) {
	k := &registryv1.PublisherKey{}
	err := s.fsm.view(func(tx *bolt.Tx) error { return getProto(tx.Bucket(bucketKeys), id, "publisher key", k) })
	return k, err
}

// ListKeys returns every publisher key, revoked ones included.
func (s *Store) ListKeys() ([]*registryv1.PublisherKey, int64, error) {
	return listProto[*registryv1.PublisherKey](s, bucketKeys, func() *registryv1.PublisherKey { return &registryv1.PublisherKey{} })
}

// PutToken stores a token (its secret hashed by the caller).
func (s *Store) PutToken(ctx context.Context, t *registryv1.Token) (int64, error) {
	if t.Id == "" || len(t.SecretHash) != 32 || t.Role == registryv1.Role_ROLE_UNSPECIFIED {
		return 0, fmt.Errorf("%w: token needs an id, a role and a 32-byte secret hash", ErrInvalid)
	}
	if err := ValidateName(t.Name); err != nil {
		return 0, err
	}
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_PutToken{PutToken: &raftlogv1.PutTokenCommand{Token: t}}})
	if err != nil {
		return 0, err
	}
	if res.duplicate {
		return res.revision, fmt.Errorf("%w: an earlier try of this request created the token at revision %d, and its secret cannot be shown again: revoke it and create another", ErrAlreadyApplied, res.revision)
	}
	return res.revision, nil
}

// RevokeToken deletes a token.
func (s *Store) RevokeToken(ctx context.Context, id string) (int64, error) {
	res, err := s.apply(ctx, &raftlogv1.Command{Op: &raftlogv1.Command_RevokeToken{RevokeToken: &raftlogv1.RevokeTokenCommand{Id: id}}})
	if err != nil {
		return 0, err
	}
	return res.revision, nil
}

// Token returns a token by id.
func (s *Store) Token(id string) (*registryv1.Token, error) {
	t := &registryv1.Token{}
	err := s.fsm.view(func(tx *bolt.Tx) error { return getProto(tx.Bucket(bucketTokens), id, "token", t) })
	return t, err
}

// ListTokens returns every token.
func (s *Store) ListTokens() ([]*registryv1.Token, int64, error) {
	return listProto[*registryv1.Token](s, bucketTokens, func() *registryv1.Token { return &registryv1.Token{} })
}

// ListAudit returns up to limit audit entries from revision start on.
func (s *Store) ListAudit(start int64, limit int) ([]*registryv1.AuditEntry, error) {
	var out []*registryv1.AuditEntry
	err := s.fsm.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, v := c.Seek(u64bytes(uint64(max(start, 0)))); k != nil && len(out) < limit; k, v = c.Next() {
			e := &registryv1.AuditEntry{}
			if err := proto.Unmarshal(v, e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func (w *writer) putKey(c *raftlogv1.PutKeyCommand) error {
	k := c.GetKey()
	if k.GetId() == "" || len(k.GetPublicKey()) != 32 {
		return fmt.Errorf("%w: publisher key must be 32 bytes with an id", ErrInvalid)
	}
	if err := LimitKeyID.Check(k.Id); err != nil {
		return err
	}
	if err := ValidateName(k.Name); err != nil {
		return err
	}
	keys := w.tx.Bucket(bucketKeys)
	if prev := keys.Get([]byte(k.GetId())); prev != nil {
		old := &registryv1.PublisherKey{}
		if err := proto.Unmarshal(prev, old); err != nil {
			return err
		}
		if old.Revoked {
			return fmt.Errorf("%w: key %s was revoked; generate a new key", ErrInvalid, k.Id)
		}
		return nil
	}
	if err := w.checkCapacity(bucketKeys, LimitKeys); err != nil {
		return err
	}
	k = proto.Clone(k).(*registryv1.PublisherKey)
	k.CreateRevision, k.Revoked, k.RevokeRevision = w.rev, false, 0
	if err := putProto(keys, []byte(k.Id), k); err != nil {
		return err
	}
	w.audit("add_key", k.Name+" "+k.Id)
	return nil
}

func (w *writer) revokeKey(c *raftlogv1.RevokeKeyCommand) error {
	keys := w.tx.Bucket(bucketKeys)
	k := &registryv1.PublisherKey{}
	if err := getProto(keys, c.Id, "publisher key", k); err != nil {
		return err
	}
	if k.Revoked {
		return nil
	}
	routes, err := routesSignedBy(w.tx, k.Id)
	if err != nil {
		return err
	}
	if len(routes) > 0 && !c.Force {
		return fmt.Errorf("%w: routes %s use modules signed by key %s (%s); route them to modules signed by another key first, or force the revocation (those versions then answer 503)",
			ErrInUse, strings.Join(routes, ", "), k.Id, k.Name)
	}
	k.Revoked, k.RevokeRevision = true, w.rev
	if err := putProto(keys, []byte(k.Id), k); err != nil {
		return err
	}
	w.emit(registryv1.EventType_EVENT_TYPE_PUT, &registryv1.Event_Key{Key: k})
	detail := k.Name + " " + k.Id
	if len(routes) > 0 {
		detail += fmt.Sprintf(" (forced: %d routes now answer 503: %s)", len(routes), strings.Join(routes, ", "))
	}
	w.audit("revoke_key", detail)
	return nil
}

// routesSignedBy names the routes (host+path) that can send a request to
// a module signed by key id.
func routesSignedBy(tx *bolt.Tx, id string) ([]string, error) {
	var out []string
	err := tx.Bucket(bucketRoutes).ForEach(func(_, v []byte) error {
		r := &registryv1.Route{}
		if err := proto.Unmarshal(v, r); err != nil {
			return err
		}
		for _, d := range r.Digests() {
			if m, err := getModule(tx, d); err == nil && m.GetProvenance().GetKeyId() == id {
				out = append(out, r.Host+r.PathPrefix)
				break
			}
		}
		return nil
	})
	return out, err
}

// revokedKey returns the revoked key that signed m, or nil.
func (w *writer) revokedKey(m *registryv1.Module) *registryv1.PublisherKey {
	id := m.GetProvenance().GetKeyId()
	if id == "" {
		return nil
	}
	k := &registryv1.PublisherKey{}
	if err := getProto(w.tx.Bucket(bucketKeys), id, "publisher key", k); err != nil || !k.Revoked {
		return nil
	}
	return k
}

func (w *writer) putToken(c *raftlogv1.PutTokenCommand) error {
	if t := c.GetToken(); t.GetId() == "" || len(t.GetSecretHash()) != 32 {
		return fmt.Errorf("%w: token needs an id and a 32-byte secret hash", ErrInvalid)
	}
	t := proto.Clone(c.GetToken()).(*registryv1.Token)
	if err := ValidateName(t.Name); err != nil {
		return err
	}
	if len(t.Id) != 16 {
		return fmt.Errorf("%w: token id %q: want 16 hex digits", ErrInvalid, t.Id)
	}
	tokens := w.tx.Bucket(bucketTokens)
	if err := w.checkCapacity(bucketTokens, LimitTokens); err != nil {
		return err
	}
	if tokens.Get([]byte(t.Id)) != nil {
		return fmt.Errorf("%w: token id %s exists", ErrInvalid, t.Id)
	}
	t.CreateRevision = w.rev
	if err := putProto(tokens, []byte(t.Id), t); err != nil {
		return err
	}
	w.audit("create_token", t.Name+" "+t.Role.String())
	return nil
}

func (w *writer) revokeToken(c *raftlogv1.RevokeTokenCommand) error {
	tokens := w.tx.Bucket(bucketTokens)
	t := &registryv1.Token{}
	if err := getProto(tokens, c.Id, "token", t); err != nil {
		return err
	}
	if err := tokens.Delete([]byte(c.Id)); err != nil {
		return err
	}
	w.audit("revoke_token", t.Name)
	return nil
}

func getProto(b *bolt.Bucket, id, what string, m proto.Message) error {
	v := b.Get([]byte(id))
	if v == nil {
		if host, path, ok := strings.Cut(id, "\x00"); ok { // a route key
			if host == "" {
				host = "*"
			}
			return fmt.Errorf("%w: %s %s", ErrNotFound, what, host+path)
		}
		return fmt.Errorf("%w: %s %q", ErrNotFound, what, id)
	}
	return proto.Unmarshal(v, m)
}

func listProto[T proto.Message](s *Store, bucket []byte, alloc func() T) ([]T, int64, error) {
	var out []T
	var rev int64
	err := s.fsm.view(func(tx *bolt.Tx) error {
		rev = int64(u64(tx.Bucket(bucketMeta).Get(keyRevision)))
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			m := alloc()
			if err := proto.Unmarshal(v, m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		})
	})
	return out, rev, err
}
