package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// permission is a class of RPCs a role may call.
type permission int

const (
	permRead    permission = 1 << iota // list and get metadata
	permFollow                         // watch changes, fetch module bytes
	permPublish                        // upload modules, change routes
	permAdmin                          // keys and tokens
)

var rolePerms = map[registryv1.Role]permission{
	registryv1.Role_ROLE_ADMIN:     permRead | permFollow | permPublish | permAdmin,
	registryv1.Role_ROLE_PUBLISHER: permRead | permFollow | permPublish,
	registryv1.Role_ROLE_WORKER:    permRead | permFollow,
	registryv1.Role_ROLE_READER:    permRead,
}

// openPrefixes need no credentials: probes and schema discovery.
var openPrefixes = []string{"/grpc.health.v1.Health/", "/grpc.reflection."}

// authenticate checks the bearer token of a call against method's needs and
// returns ctx naming the caller for the audit trail, and carrying the
// call's request id for the writes it makes.
func (s *Server) authenticate(ctx context.Context, method string) (context.Context, error) {
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get(RequestIDHeader)) > 0 {
		ctx = registry.WithRequestID(ctx, md.Get(RequestIDHeader)[0])
	}
	for _, p := range openPrefixes {
		if strings.HasPrefix(method, p) {
			return ctx, nil
		}
	}
	m, known := methods[method]
	if !s.cfg.Auth {
		return withCaller(ctx, caller{name: "anonymous"}), nil
	}
	tok, err := s.tokenFrom(ctx)
	if err != nil {
		return nil, err
	}
	if !known || rolePerms[tok.Role]&m.perm == 0 {
		return nil, status.Errorf(codes.PermissionDenied, "controlplane: token %q (role %s) may not call %s", tok.Name, roleName(tok.Role), method)
	}
	return withCaller(ctx, caller{id: tok.Id, name: tok.Name, role: tok.Role}), nil
}

// caller is who made a call: its token's id ("" without authentication),
// name and role (none without authentication).
type caller struct {
	id, name string
	role     registryv1.Role
}

type callerKey struct{}

// withCaller names the caller in ctx, for the audit trail and for what a
// token may report.
func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(registry.WithActor(ctx, c.name), callerKey{}, c)
}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

func (s *Server) tokenFrom(ctx context.Context) (*registryv1.Token, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return nil, status.Error(codes.Unauthenticated, "controlplane: no credentials: send \"authorization: Bearer <token>\"")
	}
	secret, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "controlplane: authorization must be \"Bearer <token>\"")
	}
	id, hash, err := ParseToken(secret)
	if err != nil {
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	var tok *registryv1.Token
	// A follower may not have applied a token the leader just created.
	err = s.awaitReplication(ctx, func() (err error) {
		tok, err = s.access.Token(id)
		return err
	})
	if ctx.Err() != nil {
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err != nil || subtle.ConstantTimeCompare(tok.SecretHash, hash) != 1 {
		return nil, status.Error(codes.Unauthenticated, "controlplane: unknown or revoked token")
	}
	return tok, nil
}

func roleName(r registryv1.Role) string {
	return strings.ToLower(strings.TrimPrefix(r.String(), "ROLE_"))
}

// ParseRole accepts "admin", "publisher", "worker" or "reader".
func ParseRole(s string) (registryv1.Role, error) {
	r, ok := registryv1.Role_value["ROLE_"+strings.ToUpper(s)]
	if !ok || r == 0 {
		return 0, fmt.Errorf("%w: role %q: want admin, publisher, worker or reader", registry.ErrInvalid, s)
	}
	return registryv1.Role(r), nil
}

// NewToken returns a token record and its bearer secret "ne_<id>_<secret>".
func NewToken(name string, role registryv1.Role) (*registryv1.Token, string, error) {
	var b [24]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", err
	}
	id, secret := hex.EncodeToString(b[:8]), hex.EncodeToString(b[8:])
	sum := sha256.Sum256([]byte(secret))
	return &registryv1.Token{Id: id, Name: name, Role: role, SecretHash: sum[:]}, "ne_" + id + "_" + secret, nil
}

// ParseToken splits a bearer secret into its id and the hash of its secret.
func ParseToken(s string) (id string, hash []byte, err error) {
	rest, ok := strings.CutPrefix(s, "ne_")
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(id) != 16 || len(secret) != 32 {
		return "", nil, fmt.Errorf("controlplane: malformed token: want ne_<16 hex>_<32 hex>")
	}
	sum := sha256.Sum256([]byte(secret))
	return id, sum[:], nil
}

func (s *Server) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, err := s.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (s *Server) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, err := s.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
}

type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

// replicationWait is how long a follower waits for an object the caller
// names (a token, a module) to arrive by replication before it says the
// object does not exist: the caller may have learned of it from the
// leader, or from a node ahead of this one.
const replicationWait = 5 * time.Second

// awaitReplication calls get until it succeeds, this node leads (nothing
// is on its way), replicationWait passes or ctx ends.
func (s *Server) awaitReplication(ctx context.Context, get func() error) error {
	err := get()
	for deadline := time.Now().Add(replicationWait); err != nil && !s.cluster.IsLeader() && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		err = get()
	}
	return err
}
