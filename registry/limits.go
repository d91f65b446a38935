package registry

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

// Limit bounds one string or list the registry stores.
type Limit struct {
	// Field names it as the API does.
	Field string
	// Max is the most bytes (strings) or entries (lists).
	Max int
}

// The limits of everything a write can store. Each is checked on the
// leader before anything reaches Raft, and again when a command applies,
// so that no entry, list or watch response can outgrow what a worker
// accepts: a write past one fails with ErrInvalid naming the field and
// its limit.
var (
	LimitHost           = Limit{"host", 253}
	LimitPathPrefix     = Limit{"path_prefix", 1024}
	LimitName           = Limit{"name", 63}
	LimitStickyKey      = Limit{"sticky_key", 7 + 128}
	LimitRules          = Limit{"rules", 32}
	LimitRuleName       = Limit{"rules.name", 128}
	LimitRulePattern    = Limit{"rules.pattern", 256}
	LimitVersions       = Limit{"versions", 10}
	LimitCorsList       = Limit{"options.cors lists", 32}
	LimitCorsEntry      = Limit{"options.cors entries", 256}
	LimitOutboundList   = Limit{"options.outbound.allow", 64}
	LimitOutboundEntry  = Limit{"options.outbound.allow entries", 300}
	LimitDescription    = Limit{"description", 256}
	LimitSource         = Limit{"source", 256}
	LimitKeyID          = Limit{"key_id", 64}
	LimitSignature      = Limit{"signature", 64}
	LimitNodeID         = Limit{"id", 63}
	LimitNodeAddr       = Limit{"grpc_addr", 255}
	LimitRolloutSteps   = Limit{"steps", 20}
	LimitRolloutReason  = Limit{"reason", 512}
	LimitRouteBytes     = Limit{"route (encoded)", 16 << 10}
	LimitFlags          = Limit{"flags", 1000}
	LimitKeys           = Limit{"publisher keys", 1000}
	LimitTokens         = Limit{"tokens", 10000}
	LimitRoutes         = Limit{"routes", 100000}
	LimitWorkerReported = Limit{"worker_id", 128}
)

// Limits lists every limit, for documentation and tests.
var Limits = []Limit{
	LimitHost, LimitPathPrefix, LimitName, LimitStickyKey, LimitRules, LimitRuleName, LimitRulePattern,
	LimitVersions, LimitCorsList, LimitCorsEntry, LimitOutboundList, LimitOutboundEntry, LimitDescription, LimitSource, LimitKeyID, LimitSignature,
	LimitNodeID, LimitNodeAddr, LimitRolloutSteps, LimitRolloutReason, LimitRouteBytes, LimitFlags, LimitKeys,
	LimitTokens, LimitRoutes, LimitWorkerReported,
}

// Check refuses a string longer than the limit.
func (l Limit) Check(v string) error {
	if len(v) > l.Max {
		return fmt.Errorf("%w: %s is %d bytes; the limit is %d", ErrInvalid, l.Field, len(v), l.Max)
	}
	return nil
}

// CheckCount refuses a list longer than the limit.
func (l Limit) CheckCount(n int) error {
	if n > l.Max {
		return fmt.Errorf("%w: %d %s; the limit is %d", ErrInvalid, n, l.Field, l.Max)
	}
	return nil
}

// validateStoredRoute checks a route as it is stored: every string and
// list within its limit, references resolved to digests.
func validateStoredRoute(r *registryv1.Route) error {
	if err := validateRoute(r.Host, r.PathPrefix); err != nil {
		return err
	}
	if err := validateSticky(r.StickyKey); err != nil {
		return err
	}
	if err := LimitVersions.CheckCount(len(r.Versions)); err != nil {
		return err
	}
	if err := LimitRules.CheckCount(len(r.Rules)); err != nil {
		return err
	}
	refs := []string{r.ModuleName + "@" + r.ModuleDigest}
	for _, v := range r.Versions {
		refs = append(refs, v.ModuleName+"@"+v.ModuleDigest)
	}
	for i, rl := range r.Rules {
		if err := validateRule(&registryv1.RuleSpec{Kind: rl.Kind, Name: rl.Name, Pattern: rl.Pattern}); err != nil {
			return fmt.Errorf("rule %d: %w", i+1, err)
		}
		refs = append(refs, rl.ModuleName+"@"+rl.ModuleDigest)
	}
	for _, ref := range refs {
		name, d, _ := strings.Cut(ref, "@")
		if err := ValidateName(name); err != nil {
			return err
		}
		if !digest.Valid(d) {
			return fmt.Errorf("%w: %q is not a digest (sha256:<64 hex>)", ErrInvalid, d)
		}
	}
	opts := r.GetOptions()
	if opts.GetTimeoutMs() < 0 || opts.GetMaxRequestBody() < 0 {
		return fmt.Errorf("%w: route limits must not be negative", ErrInvalid)
	}
	if err := validateCors(opts.GetCors()); err != nil {
		return err
	}
	if err := validateOutbound(opts.GetOutbound()); err != nil {
		return err
	}
	bare := proto.Clone(r).(*registryv1.Route)
	bare.Previous = nil
	if n := proto.Size(bare); n > LimitRouteBytes.Max {
		return fmt.Errorf("%w: the route encodes to %d bytes; the limit is %d", ErrInvalid, n, LimitRouteBytes.Max)
	}
	return nil
}

// ValidateProvenance bounds what a publisher says of a module.
func ValidateProvenance(p *registryv1.Provenance) error {
	for _, c := range []struct {
		l Limit
		v string
	}{{LimitSource, p.GetSource()}, {LimitKeyID, p.GetKeyId()}, {LimitSignature, string(p.GetSignature())}, {LimitName, p.GetUploader()}} {
		if err := c.l.Check(c.v); err != nil {
			return err
		}
	}
	return nil
}

// checkCapacity refuses a new object in bucket once it holds limit's
// count.
func (w *writer) checkCapacity(bucket []byte, l Limit) error {
	if n := w.tx.Bucket(bucket).Stats().KeyN; n >= l.Max {
		return fmt.Errorf("%w: the registry holds %d %s; the limit is %d", ErrInvalid, n, l.Field, l.Max)
	}
	return nil
}

// A page of a list holds at most MaxPageItems objects and ends before it
// passes MaxPageBytes, so a list response stays far below gRPC's 4 MiB
// message limit whatever the registry holds.
const (
	MaxPageItems = 1000
	MaxPageBytes = 1 << 20
)

// Page is where a list starts and how much of it one call returns.
type Page struct {
	// Token is the previous page's Next; empty: the start.
	Token string
	// Size is the most objects to return; 0 or above MaxPageItems means
	// MaxPageItems.
	Size int
}

func (p Page) size() int {
	if p.Size <= 0 || p.Size > MaxPageItems {
		return MaxPageItems
	}
	return p.Size
}

// listPage reads one page of a bucket in key order after the page token.
func listPage[T proto.Message](s *Store, bucket []byte, p Page, alloc func() T) (out []T, rev int64, next string, err error) {
	after, err := base64.RawURLEncoding.DecodeString(p.Token)
	if err != nil {
		return nil, 0, "", fmt.Errorf("%w: page token %q", ErrInvalid, p.Token)
	}
	err = s.fsm.view(func(tx *bolt.Tx) error {
		rev = int64(u64(tx.Bucket(bucketMeta).Get(keyRevision)))
		c := tx.Bucket(bucket).Cursor()
		k, v := c.First()
		if len(after) > 0 {
			if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
				k, v = c.Next()
			}
		}
		var last []byte
		for size := 0; k != nil; k, v = c.Next() {
			if len(out) == p.size() || len(out) > 0 && size+len(v) > MaxPageBytes {
				next = base64.RawURLEncoding.EncodeToString(last)
				return nil
			}
			m := alloc()
			if err := proto.Unmarshal(v, m); err != nil {
				return err
			}
			out = append(out, m)
			size += len(v)
			last = append(last[:0], k...)
		}
		return nil
	})
	return out, rev, next, err
}
