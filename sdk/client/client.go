package client

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
	"github.com/nanoedge/nanoedge/sdk/history"
	"github.com/nanoedge/nanoedge/sdk/signing"
)

// uploadChunk is the size of the chunks Upload sends.
const uploadChunk = 256 << 10

// maxFetch bounds the bytes FetchModule accepts for one module.
const maxFetch = 256 << 20

// Client talks to a control plane through one or more of its nodes. It is
// safe for concurrent use.
type Client struct {
	conn *grpc.ClientConn
	rs   registryv1.RegistryServiceClient
	as   registryv1.AccessServiceClient
	cs   registryv1.ClusterServiceClient
	ks   registryv1.KVServiceClient
	ts   registryv1.TelemetryServiceClient
	fs   registryv1.ConfigServiceClient
}

// Option configures a Client.
type Option func(*[]grpc.DialOption)

// WithDialOptions adds gRPC dial options, for example transport credentials.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *[]grpc.DialOption) { *o = append(*o, opts...) }
}

// WithTLS speaks TLS to the control plane (mutual TLS if cfg carries a
// client certificate).
func WithTLS(cfg *tls.Config) Option {
	return func(o *[]grpc.DialOption) {
		*o = append(*o, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	}
}

// WithToken sends a bearer token with every call. Without TLS the token
// crosses the network in clear text: use it on loopback or with
// WithDialOptions(grpc.WithTransportCredentials(...)).
func WithToken(token string) Option {
	return func(o *[]grpc.DialOption) {
		*o = append(*o, grpc.WithPerRPCCredentials(bearer(token)))
	}
}

type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// WithCallTimeout bounds every unary call whose context has no deadline,
// retries included: a node that stops answering cannot hang a caller that
// did not think of a deadline.
func WithCallTimeout(d time.Duration) Option {
	return func(o *[]grpc.DialOption) {
		*o = append([]grpc.DialOption{grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			if _, ok := ctx.Deadline(); !ok && d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			return invoker(ctx, method, req, reply, cc, opts...)
		})}, *o...)
	}
}

// OutcomeUnknown reports whether err says a write may or may not have
// been applied (the leader changed, or the commit timed out, after it was
// proposed). The client retries such calls with the same request id,
// which the registry applies once; this error is what is left when the
// retries ran out.
func OutcomeUnknown(err error) bool {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.Reason == "OUTCOME_UNKNOWN" {
			return true
		}
	}
	return false
}

// WithStaleReads lets the called node answer reads from its own state,
// which may lag the leader by a few writes, instead of forwarding them to
// the leader for a linearizable answer.
func WithStaleReads() Option {
	return func(o *[]grpc.DialOption) {
		*o = append(*o, grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "nanoedge-consistency", "stale"), method, req, reply, cc, opts...)
		}))
	}
}

// New returns a client for the control plane at addr: "host:port", or
// several nodes' addresses separated by commas, which it spreads calls over
// and fails over between. Unary calls answered Unavailable (during a leader
// election, say) are retried with backoff within their deadline; uploads
// resume. New does not connect until the first call.
func New(addr string, opts ...Option) (*Client, error) {
	tgt, dial, err := target(addr)
	if err != nil {
		return nil, err
	}
	dial = append(dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	for _, o := range opts {
		o(&dial)
	}
	conn, err := grpc.NewClient(tgt, dial...)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return &Client{conn: conn, rs: registryv1.NewRegistryServiceClient(conn), as: registryv1.NewAccessServiceClient(conn), cs: registryv1.NewClusterServiceClient(conn), ts: registryv1.NewTelemetryServiceClient(conn),
		fs: registryv1.NewConfigServiceClient(conn), ks: registryv1.NewKVServiceClient(conn)}, nil
}

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

// UploadResult describes a finished upload.
type UploadResult struct {
	Module *registryv1.Module
	// Created is false when the same bytes were already stored.
	Created  bool
	Revision int64
	// ResumedAt is where the last attempt started: 0, or the bytes an
	// interrupted attempt had delivered that did not travel again.
	ResumedAt int64
}

// UploadOption configures one upload.
type UploadOption func(*uploadOptions)

type uploadOptions struct {
	progress func(sent, total int64)
	signer   ed25519.PrivateKey
	keyID    string
	sig      []byte
	source   string
}

// WithSigner signs the upload with a publisher's private key.
func WithSigner(priv ed25519.PrivateKey) UploadOption {
	return func(o *uploadOptions) { o.signer = priv }
}

// WithSignature attaches a signature made elsewhere (nanoedge sign).
func WithSignature(keyID string, sig []byte) UploadOption {
	return func(o *uploadOptions) { o.keyID, o.sig = keyID, sig }
}

// WithSource records a source revision or CI run id as provenance.
func WithSource(source string) UploadOption {
	return func(o *uploadOptions) { o.source = source }
}

// WithProgress calls fn after every chunk sent.
func WithProgress(fn func(sent, total int64)) UploadOption {
	return func(o *uploadOptions) { o.progress = fn }
}

// Upload stores wasm under name. The control plane checks the bytes are a
// handler module before storing them. If the stream breaks (a connection
// cut, a node restarting), Upload resumes where the control plane's leader
// says it stopped receiving, up to three times.
func (c *Client) Upload(ctx context.Context, name string, wasm []byte, opts ...UploadOption) (*UploadResult, error) {
	var o uploadOptions
	for _, opt := range opts {
		opt(&o)
	}
	sum := digest.Of(wasm)
	md := &registryv1.UploadModuleMetadata{Name: name, Size: int64(len(wasm)), Digest: sum, KeyId: o.keyID, Signature: o.sig, Source: o.source}
	if o.signer != nil {
		md.KeyId = signing.KeyID(o.signer.Public().(ed25519.PublicKey))
		md.Signature = signing.Sign(o.signer, name, sum)
	}
	for attempt := 1; ; attempt++ {
		res, err := c.upload(ctx, md, wasm, o.progress)
		if err == nil {
			res.ResumedAt = md.Offset
			return res, nil
		}
		if attempt > maxResumes || status.Code(err) != codes.Unavailable || ctx.Err() != nil {
			return nil, err
		}
		// The stream broke. The node that received it kept what arrived;
		// go on from there (or from 0 if it kept nothing).
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
		md.Offset = 0
		if r, oerr := c.rs.GetUploadOffset(ctx, &registryv1.GetUploadOffsetRequest{Digest: sum}); oerr == nil {
			md.Offset = r.Offset
		}
	}
}

// maxResumes bounds how often Upload resumes a broken stream.
const maxResumes = 3

// upload sends md and the bytes of wasm from md.Offset on, in one stream.
func (c *Client) upload(ctx context.Context, md *registryv1.UploadModuleMetadata, wasm []byte, progress func(sent, total int64)) (*UploadResult, error) {
	stream, err := c.rs.UploadModule(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&registryv1.UploadModuleRequest{Msg: &registryv1.UploadModuleRequest_Metadata{Metadata: md}}); err != nil {
		return nil, closeErr(stream, err)
	}
	for off := int(md.Offset); off < len(wasm); off += uploadChunk {
		chunk := wasm[off:min(off+uploadChunk, len(wasm))]
		if err := stream.Send(&registryv1.UploadModuleRequest{Msg: &registryv1.UploadModuleRequest_Chunk{Chunk: chunk}}); err != nil {
			return nil, closeErr(stream, err)
		}
		if progress != nil {
			progress(int64(off+len(chunk)), int64(len(wasm)))
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return &UploadResult{Module: resp.Module, Created: resp.Created, Revision: resp.Revision}, nil
}

// closeErr returns the server's status when a send failed because the
// server already ended the stream (io.EOF), which says why.
func closeErr(stream grpc.ClientStreamingClient[registryv1.UploadModuleRequest, registryv1.UploadModuleResponse], err error) error {
	if errors.Is(err, io.EOF) {
		_, err = stream.CloseAndRecv()
	}
	return err
}

// GetModule resolves a module reference: "name", "name@sha256:<hex>",
// "sha256:<hex>", or a unique digest prefix of at least 8 hex digits.
func (c *Client) GetModule(ctx context.Context, ref string) (*registryv1.Module, error) {
	resp, err := c.rs.GetModule(ctx, &registryv1.GetModuleRequest{Ref: ref})
	if err != nil {
		return nil, err
	}
	return resp.Module, nil
}

// FetchModule downloads a module's bytes and checks they match its digest.
func (c *Client) FetchModule(ctx context.Context, want string) (*registryv1.Module, []byte, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rs.FetchModule(ctx, &registryv1.FetchModuleRequest{Digest: want})
	if err != nil {
		return nil, nil, err
	}
	var m *registryv1.Module
	var wasm []byte
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if m == nil {
			if m = resp.Module; m == nil || m.Size < 0 || m.Size > maxFetch {
				return nil, nil, fmt.Errorf("client: fetch %s: bad first message", want)
			}
			wasm = make([]byte, 0, m.Size)
		}
		if int64(len(wasm)+len(resp.Chunk)) > m.Size {
			return nil, nil, fmt.Errorf("client: fetch %s: more bytes than the module's size %d", want, m.Size)
		}
		wasm = append(wasm, resp.Chunk...)
	}
	if m == nil {
		return nil, nil, fmt.Errorf("client: fetch %s: empty response", want)
	}
	if got := digest.Of(wasm); got != m.Digest || got != want {
		return nil, nil, fmt.Errorf("client: fetch %s: received bytes have digest %s", want, got)
	}
	return m, wasm, nil
}

// ListModules returns every stored module, oldest first, and the revision
// the list reflects.
func (c *Client) ListModules(ctx context.Context) ([]*registryv1.Module, int64, error) {
	var all []*registryv1.Module
	var rev int64
	for token := ""; ; {
		resp, err := c.rs.ListModules(ctx, &registryv1.ListModulesRequest{PageToken: token})
		if err != nil {
			return nil, 0, err
		}
		if token == "" {
			rev = resp.Revision
		}
		all = append(all, resp.Modules...)
		if token = resp.NextPageToken; token == "" {
			break
		}
	}
	slices.SortStableFunc(all, func(a, b *registryv1.Module) int { return cmp.Compare(a.CreateRevision, b.CreateRevision) })
	return all, rev, nil
}

// Route names what SetRoute points where.
type Route struct {
	// Host without port; empty matches every host.
	Host string
	// PathPrefix starts with "/"; the longest matching prefix wins.
	PathPrefix string
	// Module is a module reference, as in GetModule.
	Module string
	// Options tighten the worker's limits for this route, or isolate
	// requests; nil keeps the worker's defaults.
	Options *registryv1.RouteOptions
	// Versions split traffic by weight (summing to 100) instead of Module.
	Versions []*registryv1.VersionSpec
	// StickyKey keeps a user on one version: "header:<name>",
	// "cookie:<name>" or "ip".
	StickyKey string
	// Rules send matching requests to a version before the split.
	Rules []*registryv1.RuleSpec
}

// SetRoute creates or replaces a route.
func (c *Client) SetRoute(ctx context.Context, r Route) (*registryv1.Route, int64, error) {
	resp, err := c.rs.SetRoute(ctx, &registryv1.SetRouteRequest{
		Host: r.Host, PathPrefix: r.PathPrefix, Module: r.Module, Options: r.Options,
		Versions: r.Versions, StickyKey: r.StickyKey, Rules: r.Rules,
	})
	if err != nil {
		return nil, 0, err
	}
	return resp.Route, resp.Revision, nil
}

// DeleteRoute removes a route and returns the revision of the delete.
func (c *Client) DeleteRoute(ctx context.Context, host, pathPrefix string) (int64, error) {
	resp, err := c.rs.DeleteRoute(ctx, &registryv1.DeleteRouteRequest{Host: host, PathPrefix: pathPrefix})
	if err != nil {
		return 0, err
	}
	return resp.Revision, nil
}

// ListRoutes returns every route and the revision the list reflects; watch
// from revision+1 to follow it.
func (c *Client) ListRoutes(ctx context.Context) ([]*registryv1.Route, int64, error) {
	var all []*registryv1.Route
	var rev int64
	for token := ""; ; {
		resp, err := c.rs.ListRoutes(ctx, &registryv1.ListRoutesRequest{PageToken: token})
		if err != nil {
			return nil, 0, err
		}
		if token == "" {
			// Watching from the first page's revision replays whatever
			// changed while the later pages were read.
			rev = resp.Revision
		}
		all = append(all, resp.Routes...)
		if token = resp.NextPageToken; token == "" {
			return all, rev, nil
		}
	}
}

// ErrCompacted is wrapped by the error Watch returns when the history it
// asked for is gone; errors.As it to a *CompactedError to learn where. It
// is history.ErrCompacted, the value the registry and workers share.
var ErrCompacted = history.ErrCompacted

// CompactedError says how far the registry's history was compacted.
type CompactedError = history.CompactedError

// maxFragmentEvents bounds the events of one revision a watch gathers.
const maxFragmentEvents = 1 << 20

// WatchResponse is one step of a watch: the events of whole revisions,
// in order, with the registry's revision when they were sent; or, last
// before the channel closes, the error that ended the watch.
type WatchResponse struct {
	Events   []*registryv1.Event
	Revision int64
	// Err ended the watch: the stream broke, or the history asked for is
	// gone (a *CompactedError, matching ErrCompacted: list, then watch
	// from the listed revision + 1).
	Err error
}

// Watch streams the changes from revision start on (0: from now) on the
// channel it returns, as etcd's WatchChan does, so a caller can select on
// it beside its own timers. The first response may carry no events: it
// reports the revision the watch starts after. The channel closes when
// ctx ends (without an error value) or the watch fails (after a response
// carrying Err). Cancel ctx to stop watching; until then the watch waits
// for its responses to be received.
func (c *Client) Watch(ctx context.Context, start int64) <-chan WatchResponse {
	out := make(chan WatchResponse)
	go func() {
		defer close(out)
		err := c.watch(ctx, start, func(resp WatchResponse) bool {
			select {
			case out <- resp:
				return true
			case <-ctx.Done():
				return false
			}
		})
		if err != nil && ctx.Err() == nil {
			select {
			case out <- WatchResponse{Err: err}:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

// watch runs one watch stream, handing each whole batch to send until
// send refuses (ctx ended) or the stream fails.
func (c *Client) watch(ctx context.Context, start int64, send func(WatchResponse) bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.rs.Watch(ctx, &registryv1.WatchRequest{StartRevision: start})
	if err != nil {
		return err
	}
	var compact int64
	var partial []*registryv1.Event
	for {
		resp, err := stream.Recv()
		if err != nil {
			if status.Code(err) == codes.OutOfRange && compact > 0 {
				return &CompactedError{CompactRevision: compact}
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("client: watch ended by the server")
			}
			return err
		}
		if resp.CompactRevision > 0 {
			compact = resp.CompactRevision
			continue
		}
		if resp.Fragment || len(partial) > 0 {
			// A revision too large for one response arrives in pieces;
			// the caller sees it whole.
			if partial = append(partial, resp.Events...); resp.Fragment {
				if len(partial) > maxFragmentEvents {
					return fmt.Errorf("client: a watched revision holds over %d events", maxFragmentEvents)
				}
				continue
			}
			resp.Events, partial = partial, nil
		}
		if !send(WatchResponse{Events: resp.Events, Revision: resp.Revision}) {
			return nil
		}
	}
}

// Health asks the control plane's gRPC health service; it needs no token.
func (c *Client) Health(ctx context.Context) (healthpb.HealthCheckResponse_ServingStatus, error) {
	resp, err := healthpb.NewHealthClient(c.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return 0, err
	}
	return resp.Status, nil
}

// CollectGarbage deletes modules no route uses (keeping the newest of each
// name) and abandoned upload chunks; dryRun only reports them.
func (c *Client) CollectGarbage(ctx context.Context, dryRun bool) (*registryv1.CollectGarbageResponse, error) {
	return c.rs.CollectGarbage(ctx, &registryv1.CollectGarbageRequest{DryRun: dryRun})
}
