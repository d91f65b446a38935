package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

// Join adds a control plane node to the cluster (admin only).
func (c *Client) Join(ctx context.Context, id, raftAddr, grpcAddr string) ([]*registryv1.Member, error) {
	resp, err := c.cs.Join(ctx, &registryv1.JoinRequest{Id: id, RaftAddr: raftAddr, GrpcAddr: grpcAddr})
	if err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// RemoveMember removes a node from the cluster (admin only).
func (c *Client) RemoveMember(ctx context.Context, id string) ([]*registryv1.Member, error) {
	resp, err := c.cs.RemoveMember(ctx, &registryv1.RemoveMemberRequest{Id: id})
	if err != nil {
		return nil, err
	}
	return resp.Members, nil
}

// Members lists the cluster's nodes as the called node sees them, and the
// revision it has applied.
func (c *Client) Members(ctx context.Context) ([]*registryv1.Member, int64, error) {
	resp, err := c.cs.ListMembers(ctx, &registryv1.ListMembersRequest{})
	if err != nil {
		return nil, 0, err
	}
	return resp.Members, resp.AppliedRevision, nil
}

// MembersStatus is Members with how the called node is doing: its
// applied revision and how long ago it heard from its leader.
func (c *Client) MembersStatus(ctx context.Context) (*registryv1.ListMembersResponse, error) {
	return c.cs.ListMembers(ctx, &registryv1.ListMembersRequest{})
}

// SaveSnapshot writes a backup of the called node's state to w (admin
// only) and returns what it holds. It fails if the bytes that arrive are
// not the size and SHA-256 the node announced first.
func (c *Client) SaveSnapshot(ctx context.Context, w io.Writer) (*registryv1.SnapshotInfo, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.cs.SaveSnapshot(ctx, &registryv1.SaveSnapshotRequest{})
	if err != nil {
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	info := first.GetInfo()
	if info == nil || info.Size <= 0 {
		return nil, errors.New("client: snapshot: the first message is not the snapshot's info")
	}
	sum := sha256.New()
	var n int64
	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		chunk := msg.GetChunk()
		if n += int64(len(chunk)); n > info.Size {
			return nil, fmt.Errorf("client: snapshot: more bytes than the announced %d", info.Size)
		}
		sum.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			return nil, fmt.Errorf("client: snapshot: %w", err)
		}
	}
	if got := hex.EncodeToString(sum.Sum(nil)); n != info.Size || got != info.Sha256 {
		return nil, fmt.Errorf("client: snapshot: received %d bytes with sha256 %s; the node announced %d bytes with sha256 %s", n, got, info.Size, info.Sha256)
	}
	return info, nil
}

// RestoreSnapshot replaces the whole cluster's state with the backup r
// holds (admin only). The cluster keeps its members; everything else,
// tokens included, becomes the backup's. It reads r twice: once for its
// size and sum, then to send it.
func (c *Client) RestoreSnapshot(ctx context.Context, r io.ReadSeeker) (*registryv1.SnapshotInfo, error) {
	sum := sha256.New()
	size, err := io.Copy(sum, r)
	if err == nil {
		_, err = r.Seek(0, io.SeekStart)
	}
	if err != nil {
		return nil, fmt.Errorf("client: snapshot: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := c.cs.RestoreSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	send := func(m *registryv1.RestoreSnapshotRequest) error {
		err := stream.Send(m)
		if errors.Is(err, io.EOF) {
			_, err = stream.CloseAndRecv() // the server ended the stream: its status says why
		}
		return err
	}
	header := &registryv1.RestoreSnapshotHeader{Size: size, Sha256: hex.EncodeToString(sum.Sum(nil))}
	if err := send(&registryv1.RestoreSnapshotRequest{Part: &registryv1.RestoreSnapshotRequest_Header{Header: header}}); err != nil {
		return nil, err
	}
	buf := make([]byte, uploadChunk)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if err := send(&registryv1.RestoreSnapshotRequest{Part: &registryv1.RestoreSnapshotRequest_Chunk{Chunk: buf[:n]}}); err != nil {
				return nil, err
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("client: snapshot: %w", err)
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.Info, nil
}
