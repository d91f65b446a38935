package controlplane

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/registry"
)

// SaveSnapshot implements ClusterServiceServer: this node's state, as a
// backup file.
func (c *clusterServer) SaveSnapshot(_ *registryv1.SaveSnapshotRequest, stream grpc.ServerStreamingServer[registryv1.SaveSnapshotResponse]) error {
	f, info, err := c.s.cluster.SaveSnapshot(stream.Context())
	if err != nil {
		return toStatus(err)
	}
	defer f.Close()
	pb := snapshotInfo(info)
	pb.NodeId = c.s.cluster.NodeID()
	if err := stream.Send(&registryv1.SaveSnapshotResponse{Part: &registryv1.SaveSnapshotResponse_Info{Info: pb}}); err != nil {
		return err
	}
	buf := make([]byte, c.s.cfg.ChunkSize)
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if err := stream.Send(&registryv1.SaveSnapshotResponse{Part: &registryv1.SaveSnapshotResponse_Chunk{Chunk: buf[:n]}}); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return status.Errorf(codes.Internal, "controlplane: snapshot: %v", err)
		}
	}
	c.s.cfg.Logger.InfoContext(stream.Context(), "snapshot saved", "revision", info.Revision, "bytes", info.Size, "by", callerFrom(stream.Context()).name)
	return nil
}

// RestoreSnapshot implements ClusterServiceServer: the leader replaces the
// cluster's state with the backup the caller streams.
func (c *clusterServer) RestoreSnapshot(stream grpc.ClientStreamingServer[registryv1.RestoreSnapshotRequest, registryv1.RestoreSnapshotResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return toStatus(err)
	}
	h := first.GetHeader()
	switch {
	case h == nil:
		return status.Error(codes.InvalidArgument, "controlplane: the first restore message must be the header")
	case h.Size <= 0:
		return status.Errorf(codes.InvalidArgument, "controlplane: snapshot size %d: want the file's size in bytes", h.Size)
	case h.Size > c.s.cfg.MaxSnapshotSize:
		return status.Errorf(codes.ResourceExhausted, "controlplane: a snapshot of %d bytes exceeds the limit of %d bytes", h.Size, c.s.cfg.MaxSnapshotSize)
	case len(h.Sha256) != 2*sha256.Size:
		return status.Error(codes.InvalidArgument, "controlplane: the header's sha256 must be 64 hex digits")
	}
	r := &snapshotStream{stream: stream, want: h, sum: sha256.New()}
	info, err := c.s.cluster.RestoreSnapshot(stream.Context(), r)
	if r.err != nil {
		return r.err
	}
	if err != nil {
		return toStatus(err)
	}
	c.s.cfg.Logger.WarnContext(stream.Context(), "state restored from a snapshot", "revision", info.Revision, "sha256", info.SHA256, "by", callerFrom(stream.Context()).name)
	return stream.SendAndClose(&registryv1.RestoreSnapshotResponse{Info: snapshotInfo(info)})
}

// snapshotStream reads a restore's chunks as a file, holding the caller
// to the size and sum its header announced: past the size, or at the end
// with another sum, it fails instead of returning io.EOF.
type snapshotStream struct {
	stream grpc.ClientStreamingServer[registryv1.RestoreSnapshotRequest, registryv1.RestoreSnapshotResponse]
	want   *registryv1.RestoreSnapshotHeader
	sum    hash.Hash
	n      int64
	buf    []byte
	err    error
}

func (r *snapshotStream) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		msg, err := r.stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			if r.n != r.want.Size || hex.EncodeToString(r.sum.Sum(nil)) != r.want.Sha256 {
				r.err = status.Errorf(codes.InvalidArgument, "controlplane: received %d bytes with sha256 %x; the header announced %d bytes with sha256 %s",
					r.n, r.sum.Sum(nil), r.want.Size, r.want.Sha256)
				return 0, r.err
			}
			return 0, io.EOF
		case err != nil:
			r.err = toStatus(err)
			return 0, r.err
		case msg.GetHeader() != nil:
			r.err = status.Error(codes.InvalidArgument, "controlplane: the header may only come first")
			return 0, r.err
		}
		r.buf = msg.GetChunk()
		if r.n += int64(len(r.buf)); r.n > r.want.Size {
			r.err = status.Errorf(codes.InvalidArgument, "controlplane: received more than the %d bytes announced", r.want.Size)
			return 0, r.err
		}
		r.sum.Write(r.buf)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func snapshotInfo(i registry.SnapshotInfo) *registryv1.SnapshotInfo {
	return &registryv1.SnapshotInfo{
		Revision: i.Revision, Size: i.Size, Sha256: i.SHA256, Modules: int32(i.Modules), Routes: int32(i.Routes),
		Keys: int32(i.Keys), Tokens: int32(i.Tokens), Flags: int32(i.Flags),
	}
}
