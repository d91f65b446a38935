package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/nanoedge/nanoedge/internal/testing/guests"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/testenv"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/client"
)

// TestSnapshotRestoresANewCluster is disaster recovery as an operator
// runs it: save a backup of a running cluster, start a new cluster, point
// a worker that keeps its old token at it, restore, and the worker serves
// the old routes. Damaged files, wrong tokens and lying headers are
// refused and leave the new cluster as it was.
func TestSnapshotRestoresANewCluster(t *testing.T) {
	ctx := context.Background()
	old := startEnv(t)
	hello := old.Upload(t, "hello", guests.Hello).Module
	if _, _, err := old.Publisher.SetRoute(ctx, client.Route{PathPrefix: "/app/", Module: hello.Digest}); err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(t.TempDir(), "backup.snap")
	code, out, errOut := run("cluster", "snapshot", "save", backup, "--controlplane", old.CP.Addr(), "--token", old.AdminToken)
	if code != 0 || !strings.Contains(out, "saved "+backup) || !strings.Contains(out, "1 routes") {
		t.Fatalf("save: exit %d, %q, %q", code, out, errOut)
	}
	if st, err := os.Stat(backup); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v (it holds token hashes: want 0600)", st, err)
	}
	code, out, _ = run("cluster", "snapshot", "inspect", backup, "--output", "json")
	info := &registryv1.SnapshotInfo{}
	if code != 0 || protojson.Unmarshal([]byte(out), info) != nil || info.Routes != 1 || info.Modules != 1 || info.Revision < 1 {
		t.Fatalf("inspect: exit %d, %q", code, out)
	}

	// The new cluster, and a worker of the old fleet pointed at it.
	fresh := startEnv(t)
	wcfg := fresh.WorkerConfig()
	wcfg.Token = old.WorkerToken
	w := testenv.StartWorker(t, wcfg)
	unchanged := func(t *testing.T) {
		t.Helper()
		routes, _, err := fresh.Admin.ListRoutes(ctx)
		if err != nil || len(routes) != 0 {
			t.Fatalf("the new cluster changed: routes %v, %v", routes, err)
		}
		if left, _ := filepath.Glob(filepath.Join(fresh.DataDir, "snapshot-*")); len(left) > 0 {
			t.Fatalf("a refused restore left %v", left)
		}
		if resp, err := http.Get(w.URL() + "/app/"); err != nil || resp.StatusCode == http.StatusOK {
			t.Fatalf("the worker serves /app/ before the restore: %v", err)
		} else {
			resp.Body.Close()
		}
	}
	unchanged(t)

	raw, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	damaged := filepath.Join(t.TempDir(), "damaged.snap")
	bad := append([]byte(nil), raw...)
	bad[len(bad)/2] ^= 0x40
	if err := os.WriteFile(damaged, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	reader := fresh.Token(t, "dash", registryv1.Role_ROLE_READER)
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"without --yes", []string{backup, "--token", fresh.AdminToken}, "--yes"},
		{"a reader token", []string{backup, "--yes", "--token", reader}, "permission denied"},
		{"no token", []string{backup, "--yes", "--token", ""}, "unauthenticated"},
		{"a damaged file", []string{damaged, "--yes", "--token", fresh.AdminToken}, "checksum does not match"},
		{"a missing file", []string{backup + ".nope", "--yes", "--token", fresh.AdminToken}, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"cluster", "snapshot", "restore", "--controlplane", fresh.CP.Addr()}, c.args...)
			code, _, errOut := run(args...)
			if code == 0 || !strings.Contains(errOut, c.want) {
				t.Fatalf("exit %d, stderr %q; want a failure naming %q", code, errOut, c.want)
			}
			unchanged(t)
		})
	}

	// A client that lies about what it sends, past the CLI's own check.
	sum := sha256.Sum256(raw)
	for _, c := range []struct {
		name   string
		header *registryv1.RestoreSnapshotHeader
		body   []byte
		code   codes.Code
	}{
		{"larger than the limit", &registryv1.RestoreSnapshotHeader{Size: 1 << 40, Sha256: hex.EncodeToString(sum[:])}, raw, codes.ResourceExhausted},
		{"another sum", &registryv1.RestoreSnapshotHeader{Size: int64(len(raw)), Sha256: strings.Repeat("ab", 32)}, raw, codes.InvalidArgument},
		{"more bytes than announced", &registryv1.RestoreSnapshotHeader{Size: 100, Sha256: hex.EncodeToString(sum[:])}, raw, codes.InvalidArgument},
		{"fewer bytes than announced", &registryv1.RestoreSnapshotHeader{Size: int64(len(raw)), Sha256: hex.EncodeToString(sum[:])}, raw[:len(raw)/2], codes.InvalidArgument},
		{"no header", nil, raw, codes.InvalidArgument},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := rawRestore(ctx, fresh.CP.Addr(), fresh.AdminToken, c.header, c.body)
			if status.Code(err) != c.code {
				t.Fatalf("got %v, want %s", err, c.code)
			}
			unchanged(t)
		})
	}

	code, out, errOut = run("cluster", "snapshot", "restore", backup, "--yes", "--controlplane", fresh.CP.Addr(), "--token", fresh.AdminToken)
	if code != 0 || !strings.Contains(out, "restored "+backup) {
		t.Fatalf("restore: exit %d, %q, %q", code, out, errOut)
	}
	// The old fleet's worker, with its old token, now serves the old routes.
	poll.Eventually(t, 30*time.Second, func() error {
		resp, err := http.Get(w.URL() + "/app/")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET /app/: %d %s", resp.StatusCode, body)
		}
		return nil
	})
	// The tokens are the backup's: the old admin's works, the new one's is gone.
	code, out, _ = run("route", "list", "--controlplane", fresh.CP.Addr(), "--token", old.AdminToken)
	if code != 0 || !strings.Contains(out, "/app/") {
		t.Fatalf("route list with the old admin token: exit %d, %q", code, out)
	}
	if _, _, err := fresh.Admin.ListRoutes(ctx); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("the new cluster's bootstrap token after the restore: %v, want Unauthenticated", err)
	}
	code, out, _ = run("audit", "--controlplane", fresh.CP.Addr(), "--token", old.AdminToken)
	if code != 0 || !strings.Contains(out, "restore_snapshot") {
		t.Fatalf("the audit trail does not show the restore: %q", out)
	}
}

// rawRestore sends a restore stream as given: a header (if any), then body.
func rawRestore(ctx context.Context, addr, token string, h *registryv1.RestoreSnapshotHeader, body []byte) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	stream, err := registryv1.NewClusterServiceClient(conn).RestoreSnapshot(ctx)
	if err != nil {
		return err
	}
	if h != nil {
		if err := stream.Send(&registryv1.RestoreSnapshotRequest{Part: &registryv1.RestoreSnapshotRequest_Header{Header: h}}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	for off := 0; off < len(body); off += 64 << 10 {
		if err := stream.Send(&registryv1.RestoreSnapshotRequest{Part: &registryv1.RestoreSnapshotRequest_Chunk{Chunk: body[off:min(off+64<<10, len(body))]}}); err != nil {
			break // the server ended the stream; its status follows
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}
