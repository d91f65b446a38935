package controlplane

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
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
)

// route decides where a call runs: here (nil conn) or on the leader.
func (s *Server) route(ctx context.Context, method string) (*grpc.ClientConn, error) {
	runs := methods[method].runs
	if runs == local {
		return nil, nil
	}
	read := runs == linearizable
	md, _ := metadata.FromIncomingContext(ctx)
	if read && first(md, StaleHeader) == "stale" {
		return nil, nil
	}
	if s.cluster.IsLeader() {
		if read {
			if err := s.cluster.LinearizableRead(ctx); err != nil {
				return nil, toStatus(err)
			}
		}
		return nil, nil
	}
	if first(md, forwardedHeader) != "" {
		return nil, status.Error(codes.Unavailable, "controlplane: not the leader (forwarded call); retry")
	}
	id, addr := s.cluster.Leader()
	if addr == "" {
		return nil, status.Errorf(codes.Unavailable, "controlplane: no leader known (leader id %q); retry", id)
	}
	return s.peers.conn(addr)
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
	for _, k := range []string{"authorization", StaleHeader} {
		if v := in.Get(k); len(v) > 0 {
			out.Set(k, v...)
		}
	}
	return metadata.NewOutgoingContext(ctx, out)
}

func (s *Server) forwardUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	conn, err := s.route(ctx, info.FullMethod)
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
	reply := out.New().Interface()
	if err := conn.Invoke(outgoing(ctx), info.FullMethod, req, reply); err != nil {
		return nil, err
	}
	return reply, nil
}

func (s *Server) forwardStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	conn, err := s.route(ss.Context(), info.FullMethod)
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
	// Only client-streaming writes (uploads) are forwarded.
	cs, err := conn.NewStream(outgoing(ss.Context()), &grpc.StreamDesc{ClientStreams: true}, info.FullMethod)
	if err != nil {
		return err
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
		return err
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
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
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
