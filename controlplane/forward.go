package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

const (
	// StaleHeader, set to "stale" by a client, lets any node answer a read
	// from its own state instead of the leader's.
	StaleHeader = "nanoedge-consistency"
	// forwardedHeader marks a call a follower passed on: it is never passed
	// on twice.
	forwardedHeader = "nanoedge-forwarded"
	// RequestIDHeader carries a client's id for one write, the same on
	// every retry: the registry applies a write with a given id once.
	RequestIDHeader = "nanoedge-request-id"
)

// forwardTimeout bounds a forwarded call whose caller set no deadline.
const forwardTimeout = 30 * time.Second

// errLeaderChanged cancels a forwarded call when the node it went to is
// no longer the leader this node knows.
var errLeaderChanged = errors.New("controlplane: the leader changed while the call was forwarded")

// route decides where a call runs: here (nil conn) or on the leader, whose
// id it returns.
func (s *Server) route(ctx context.Context, method string) (*grpc.ClientConn, string, error) {
	runs := methods[method].runs
	if runs == local {
		return nil, "", nil
	}
	read := runs == linearizable
	md, _ := metadata.FromIncomingContext(ctx)
	if read && first(md, StaleHeader) == "stale" {
		return nil, "", nil
	}
	if s.cluster.IsLeader() {
		if read {
			if err := s.cluster.LinearizableRead(ctx); err != nil {
				return nil, "", toStatus(err)
			}
		}
		return nil, "", nil
	}
	if first(md, forwardedHeader) != "" {
		return nil, "", status.Error(codes.Unavailable, "controlplane: not the leader (forwarded call); retry")
	}
	id, addr := s.cluster.Leader()
	if addr == "" {
		return nil, "", status.Errorf(codes.Unavailable, "controlplane: no leader known (leader id %q); retry", id)
	}
	conn, err := s.peers.conn(addr)
	return conn, id, err
}

// forwardContext bounds a call forwarded to leader: by the caller's
// deadline (else, for a unary call, forwardTimeout), and by leader
// staying the leader this node knows. A stream's length depends on what
// it carries (a backup can take minutes); keepalives end it if either
// side goes silent. A leader paused or cut off is replaced in seconds; the
// call then ends instead of waiting on it.
func (s *Server) forwardContext(ctx context.Context, leader string, unary bool) (context.Context, func()) {
	cancelTimeout := func() {}
	if _, ok := ctx.Deadline(); !ok && unary {
		ctx, cancelTimeout = context.WithTimeout(ctx, forwardTimeout)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if id, _ := s.cluster.Leader(); id != leader {
					cancel(errLeaderChanged)
					return
				}
			}
		}
	}()
	return ctx, func() { close(done); cancel(nil); cancelTimeout() }
}

// forwardError says what became of a forwarded call that failed: when
// this node saw the leader change, a write's outcome is unknown.
func forwardError(ctx context.Context, err error) error {
	if errors.Is(context.Cause(ctx), errLeaderChanged) {
		return outcomeUnknown(errLeaderChanged.Error() + "; a write may have been applied: retry it with the same request id")
	}
	return err
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// outgoing carries the caller's credentials and read preference to the leader.
func outgoing(ctx context.Context) context.Context {
	in, _ := metadata.FromIncomingContext(ctx)
	out := metadata.Pairs(forwardedHeader, "1")
	for _, k := range []string{"authorization", StaleHeader, RequestIDHeader} {
		if v := in.Get(k); len(v) > 0 {
			out.Set(k, v...)
		}
	}
	return metadata.NewOutgoingContext(ctx, out)
}

func (s *Server) forwardUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	conn, leader, err := s.route(ctx, info.FullMethod)
	if err != nil || conn == nil {
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
	_, out, err := messageTypes(info.FullMethod)
	if err != nil {
		return nil, err
	}
	fctx, stop := s.forwardContext(ctx, leader, true)
	defer stop()
	reply := out.New().Interface()
	if err := conn.Invoke(outgoing(fctx), info.FullMethod, req, reply); err != nil {
		return nil, forwardError(fctx, err)
	}
	return reply, nil
}

func (s *Server) forwardStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	conn, leader, err := s.route(ss.Context(), info.FullMethod)
	if err != nil || conn == nil {
		if err != nil {
			return err
		}
		return handler(srv, ss)
	}
	in, out, err := messageTypes(info.FullMethod)
	if err != nil {
		return err
	}
	// Only client-streaming writes (uploads, restores) are forwarded.
	fctx, stop := s.forwardContext(ss.Context(), leader, false)
	defer stop()
	cs, err := conn.NewStream(outgoing(fctx), &grpc.StreamDesc{ClientStreams: true}, info.FullMethod)
	if err != nil {
		return forwardError(fctx, err)
	}
	for {
		m := in.New().Interface()
		if err := ss.RecvMsg(m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		if err := cs.SendMsg(m); errors.Is(err, io.EOF) {
			break // the leader ended the stream; its status follows
		} else if err != nil {
			return err
		}
	}
	if err := cs.CloseSend(); err != nil {
		return err
	}
	reply := out.New().Interface()
	if err := cs.RecvMsg(reply); err != nil {
		return forwardError(fctx, err)
	}
	return ss.SendMsg(reply)
}

// messageTypes finds a method's request and response types by name.
func messageTypes(fullMethod string) (in, out protoreflect.MessageType, err error) {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, nil, status.Errorf(codes.Internal, "controlplane: bad method %q", fullMethod)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "controlplane: %v", err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok || sd.Methods().ByName(protoreflect.Name(method)) == nil {
		return nil, nil, status.Errorf(codes.Internal, "controlplane: unknown method %q", fullMethod)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if in, err = protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName()); err == nil {
		out, err = protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	}
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "controlplane: %v", err)
	}
	return in, out, nil
}

// peers keeps one connection per peer API address.
type peers struct {
	tls   *tls.Config
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

func (p *peers) conn(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	creds := insecure.NewCredentials()
	if p.tls != nil {
		creds = credentials.NewTLS(p.tls)
	}
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 2 * time.Second, Timeout: 2 * time.Second, PermitWithoutStream: true}))
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "controlplane: dial leader %s: %v", addr, err)
	}
	if p.conns == nil {
		p.conns = make(map[string]*grpc.ClientConn)
	}
	p.conns[addr] = c
	return c, nil
}

func (p *peers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
