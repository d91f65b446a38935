package controlplane

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
	"github.com/nanoedge/nanoedge/sdk/digest"
	"github.com/nanoedge/nanoedge/sdk/history"
)

// Server implements the gRPC services over a Store.
type Server struct {
	registryv1.UnsafeRegistryServiceServer

	cfg Config
	// One store, seen by each part as the interface it declares.
	modules  ModuleStore
	access   AccessStore
	cluster  ClusterStore
	rollouts RolloutStore
	configs  ConfigStore
	kv       KVStore
	// validating bounds concurrent validations, including ones whose upload
	// already timed out and whose compile is still finishing.
	validating chan struct{}
	peers      peers
	fleet      fleet
	// partials holds interrupted uploads for a resume.
	partials   partials
	metrics    *serverMetrics
	stopHealth chan struct{}
}

// New returns a server over store.
func New(cfg Config, store Store) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, modules: store, access: store, cluster: store, rollouts: store, configs: store, kv: store, validating: make(chan struct{}, 2), peers: peers{tls: cfg.PeerTLS},
		partials: partials{budget: 4 * cfg.MaxModuleSize}, stopHealth: make(chan struct{})}
	s.metrics = newServerMetrics(s)
	return s, nil
}

// Close releases connections to peers.
func (s *Server) Close() {
	select {
	case <-s.stopHealth:
	default:
		close(s.stopHealth)
	}
	s.peers.close()
}

func (s *Server) interceptors() []grpc.ServerOption {
	// Authenticate first, on the node the client called, then run the call
	// here or on the leader.
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(s.metrics.grpc.UnaryServerInterceptor(), s.unaryAuth, s.forwardUnary),
		grpc.ChainStreamInterceptor(s.metrics.grpc.StreamServerInterceptor(), s.streamAuth, s.forwardStream),
	}
}

// GRPCServer returns a gRPC server with the registry and access services,
// authentication, gRPC health (SERVING while the node knows a leader it
// hears from) and server reflection registered.
func (s *Server) GRPCServer(opts ...grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		// Clients and peers ping every 2 s when quiet (a paused node is
		// noticed in seconds); the server pings its clients too.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}))
	gs := grpc.NewServer(append(opts, s.interceptors()...)...)
	registryv1.RegisterRegistryServiceServer(gs, s)
	registryv1.RegisterAccessServiceServer(gs, &accessServer{s: s})
	registryv1.RegisterClusterServiceServer(gs, &clusterServer{s: s})
	registryv1.RegisterConfigServiceServer(gs, &configServer{s: s})
	registryv1.RegisterKVServiceServer(gs, &kvServer{s: s})
	registryv1.RegisterTelemetryServiceServer(gs, &telemetryServer{s: s})
	hs := health.NewServer()
	healthpb.RegisterHealthServer(gs, hs)
	go s.watchHealth(hs, s.stopHealth)
	s.metrics.grpc.InitializeMetrics(gs)
	reflection.Register(gs)
	return gs
}

// UploadModule implements RegistryServiceServer.
func (s *Server) UploadModule(stream grpc.ClientStreamingServer[registryv1.UploadModuleRequest, registryv1.UploadModuleResponse]) (err error) {
	start := time.Now()
	defer func() {
		s.metrics.uploadSeconds.Observe(time.Since(start).Seconds())
		if err != nil {
			s.metrics.uploadsRefused.WithLabelValues(status.Code(err).String()).Inc()
		}
	}()
	first, err := stream.Recv()
	if err != nil {
		return toStatus(err)
	}
	md := first.GetMetadata()
	if md == nil {
		return status.Error(codes.InvalidArgument, "controlplane: the first upload message must carry metadata")
	}
	if err := registry.ValidateName(md.Name); err != nil {
		return toStatus(err)
	}
	if err := registry.ValidateProvenance(&registryv1.Provenance{KeyId: md.KeyId, Signature: md.Signature, Source: md.Source}); err != nil {
		return toStatus(err)
	}
	if md.Size <= 0 {
		return status.Errorf(codes.InvalidArgument, "controlplane: upload size %d: want the module's size in bytes", md.Size)
	}
	if md.Size > s.cfg.MaxModuleSize {
		return status.Errorf(codes.ResourceExhausted, "controlplane: module of %d bytes exceeds the limit of %d bytes", md.Size, s.cfg.MaxModuleSize)
	}
	wasm := make([]byte, 0, md.Size)
	if md.Offset != 0 {
		kept := s.partials.take(partialKey(stream.Context(), md.Digest), time.Now())
		if md.Digest == "" || md.Offset < 0 || md.Offset > int64(len(kept)) || md.Offset > md.Size {
			return status.Errorf(codes.FailedPrecondition, "controlplane: cannot resume at byte %d: this node holds %d bytes of that upload; start over from 0", md.Offset, len(kept))
		}
		wasm = append(wasm, kept[:md.Offset]...)
	}
	for chunks := 0; ; chunks++ {
		if chunks > s.cfg.MaxUploadChunks {
			return status.Errorf(codes.ResourceExhausted, "controlplane: upload exceeds %d chunks", s.cfg.MaxUploadChunks)
		}
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// The stream broke (the caller went away, a connection was cut):
			// keep what arrived so the caller can resume.
			if md.Digest != "" && len(wasm) > 0 {
				s.partials.keep(partialKey(stream.Context(), md.Digest), wasm, time.Now())
			}
			return toStatus(err)
		}
		chunk := msg.GetChunk()
		if msg.GetMetadata() != nil {
			return status.Error(codes.InvalidArgument, "controlplane: metadata may only come first")
		}
		if int64(len(wasm))+int64(len(chunk)) > md.Size {
			return status.Errorf(codes.InvalidArgument, "controlplane: received more than the %d bytes announced", md.Size)
		}
		wasm = append(wasm, chunk...)
		s.metrics.uploadBytes.Add(float64(len(chunk)))
	}
	if int64(len(wasm)) != md.Size {
		return status.Errorf(codes.InvalidArgument, "controlplane: received %d bytes, metadata announced %d", len(wasm), md.Size)
	}
	if digest := digest.Of(wasm); md.Digest != "" && md.Digest != digest {
		return status.Errorf(codes.InvalidArgument, "controlplane: received bytes have digest %s, metadata announced %s", digest, md.Digest)
	}
	prov, err := s.verifySignature(md, digest.Of(wasm))
	if err != nil {
		return err
	}
	prov.Uploader = registry.ActorFrom(stream.Context())
	if err := s.validate(stream.Context(), wasm); err != nil {
		return toStatus(err)
	}
	m, created, rev, err := s.modules.PutModule(stream.Context(), md.Name, wasm, prov)
	if err != nil {
		return toStatus(err)
	}
	if created {
		s.cfg.Logger.InfoContext(stream.Context(), "module stored", "name", m.Name, "digest", m.Digest, "size", m.Size, "revision", rev)
	}
	return stream.SendAndClose(&registryv1.UploadModuleResponse{Module: m, Created: created, Revision: rev})
}

func (s *Server) validate(ctx context.Context, wasm []byte) error {
	if s.cfg.ValidateModule == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ValidateTimeout)
	defer cancel()
	// Compilers need not watch ctx; the upload is answered at the deadline
	// whatever the validator is doing.
	select {
	case s.validating <- struct{}{}:
	default:
		select {
		case s.validating <- struct{}{}:
		case <-ctx.Done():
			return status.Errorf(codes.ResourceExhausted, "controlplane: busy validating other uploads; none finished within %v", s.cfg.ValidateTimeout)
		}
	}
	done := make(chan error, 1)
	go func() {
		defer func() { <-s.validating }()
		done <- s.cfg.ValidateModule(ctx, wasm)
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidModule, err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: validation did not finish within %v", ErrInvalidModule, s.cfg.ValidateTimeout)
	}
}

// GetModule implements RegistryServiceServer.
func (s *Server) GetModule(ctx context.Context, req *registryv1.GetModuleRequest) (*registryv1.GetModuleResponse, error) {
	rev := s.modules.Revision()
	m, err := s.modules.ResolveModule(req.Ref)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.GetModuleResponse{Module: m, Revision: rev}, nil
}

// FetchModule implements RegistryServiceServer.
func (s *Server) FetchModule(req *registryv1.FetchModuleRequest, stream grpc.ServerStreamingServer[registryv1.FetchModuleResponse]) error {
	var m *registryv1.Module
	var wasm []byte
	// Workers fetch what a watch or a list told them of, perhaps from a
	// node ahead of this one.
	err := s.awaitReplication(stream.Context(), func() (err error) {
		m, wasm, err = s.modules.ModuleBytes(req.Digest)
		return err
	})
	if err != nil {
		return toStatus(err)
	}
	first := true
	for off := 0; first || off < len(wasm); off += s.cfg.ChunkSize {
		resp := &registryv1.FetchModuleResponse{Chunk: wasm[off:min(off+s.cfg.ChunkSize, len(wasm))]}
		if first {
			resp.Module, first = m, false
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

// ListModules implements RegistryServiceServer.
func (s *Server) ListModules(ctx context.Context, req *registryv1.ListModulesRequest) (*registryv1.ListModulesResponse, error) {
	mods, rev, next, err := s.modules.ModulesPage(registry.Page{Token: req.PageToken, Size: int(req.PageSize)})
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.ListModulesResponse{Modules: mods, Revision: rev, NextPageToken: next}, nil
}

// SetRoute implements RegistryServiceServer.
func (s *Server) SetRoute(ctx context.Context, req *registryv1.SetRouteRequest) (*registryv1.SetRouteResponse, error) {
	r, rev, err := s.modules.PutRoute(ctx, req)
	if err != nil {
		return nil, toStatus(err)
	}
	s.cfg.Logger.InfoContext(ctx, "route set", "host", r.Host, "path", r.PathPrefix, "module", r.ModuleName+"@"+r.ModuleDigest, "revision", rev)
	return &registryv1.SetRouteResponse{Route: r, Revision: rev}, nil
}

// DeleteRoute implements RegistryServiceServer.
func (s *Server) DeleteRoute(ctx context.Context, req *registryv1.DeleteRouteRequest) (*registryv1.DeleteRouteResponse, error) {
	rev, err := s.modules.DeleteRoute(ctx, req.Host, req.PathPrefix)
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.DeleteRouteResponse{Revision: rev}, nil
}

// ListRoutes implements RegistryServiceServer.
func (s *Server) ListRoutes(ctx context.Context, req *registryv1.ListRoutesRequest) (*registryv1.ListRoutesResponse, error) {
	routes, rev, next, err := s.modules.RoutesPage(registry.Page{Token: req.PageToken, Size: int(req.PageSize)})
	if err != nil {
		return nil, toStatus(err)
	}
	return &registryv1.ListRoutesResponse{Routes: routes, Revision: rev, NextPageToken: next}, nil
}

// Watch implements RegistryServiceServer. The first response carries no
// events, only the revision the watch starts after, so a client knows where
// it stands before anything changes.
func (s *Server) Watch(req *registryv1.WatchRequest, stream grpc.ServerStreamingServer[registryv1.WatchResponse]) error {
	if req.StartRevision < 0 {
		return status.Errorf(codes.InvalidArgument, "controlplane: start_revision %d is negative", req.StartRevision)
	}
	rev := s.modules.Revision()
	start := req.StartRevision
	if start == 0 {
		start = rev + 1
	}
	if err := stream.Send(&registryv1.WatchResponse{Revision: rev}); err != nil {
		return err
	}
	s.metrics.watches.Inc()
	defer s.metrics.watches.Dec()
	err := s.modules.WatchProgress(stream.Context(), start, s.cfg.WatchProgress, func(events []*registryv1.Event, revision int64) error {
		if len(events) == 0 { // progress: this node is quiet, and says whether it is behind
			if !s.cluster.InTouch(s.cfg.OutOfTouch) {
				return status.Errorf(codes.Unavailable, "controlplane: this node has not heard from a leader for %v: watch another node", s.cfg.OutOfTouch)
			}
			return stream.Send(&registryv1.WatchResponse{Revision: revision})
		}
		return sendEvents(stream, s.configsFor(stream.Context(), events), revision)
	})
	var ce *history.CompactedError
	if errors.As(err, &ce) {
		if err := stream.Send(&registryv1.WatchResponse{Revision: s.modules.Revision(), CompactRevision: ce.CompactRevision}); err != nil {
			return err
		}
	}
	if stream.Context().Err() != nil {
		return nil // the client left
	}
	return toStatus(err)
}

// maxWatchBytes bounds the events of one watch response; a revision with
// more is sent in fragments.
const maxWatchBytes = 1 << 20

// sendEvents sends events in responses of at most maxWatchBytes (or one
// event, if it is larger), marking a response whose last revision
// continues in the next.
func sendEvents(stream grpc.ServerStreamingServer[registryv1.WatchResponse], events []*registryv1.Event, revision int64) error {
	for len(events) > 0 {
		n, size := 0, 0
		for n < len(events) && (n == 0 || size+proto.Size(events[n]) <= maxWatchBytes) {
			size += proto.Size(events[n])
			n++
		}
		resp := &registryv1.WatchResponse{Revision: revision, Events: events[:n]}
		resp.Fragment = n < len(events) && events[n].Revision == events[n-1].Revision
		if err := stream.Send(resp); err != nil {
			return err
		}
		events = events[n:]
	}
	return nil
}

// CollectGarbage implements RegistryServiceServer.
func (s *Server) CollectGarbage(ctx context.Context, req *registryv1.CollectGarbageRequest) (*registryv1.CollectGarbageResponse, error) {
	mods, rev, err := s.modules.CollectGarbage(ctx, req.DryRun)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &registryv1.CollectGarbageResponse{Deleted: mods, Revision: rev}
	for _, m := range mods {
		resp.FreedBytes += m.Size
	}
	return resp, nil
}

// RollbackRoute implements RegistryServiceServer.
func (s *Server) RollbackRoute(ctx context.Context, req *registryv1.RollbackRouteRequest) (*registryv1.RollbackRouteResponse, error) {
	r, rev, err := s.modules.RollbackRoute(ctx, req.Host, req.PathPrefix)
	if err != nil {
		return nil, toStatus(err)
	}
	s.cfg.Logger.InfoContext(ctx, "route rolled back", "host", r.Host, "path", r.PathPrefix, "module", r.ModuleName+"@"+r.ModuleDigest, "revision", rev)
	return &registryv1.RollbackRouteResponse{Route: r, Revision: rev}, nil
}
