package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	"github.com/nanoedge/nanoedge/internal/pki"
	"github.com/nanoedge/nanoedge/internal/testing/poll"
	"github.com/nanoedge/nanoedge/internal/testing/raftattack"
	raftlogv1 "github.com/nanoedge/nanoedge/proto/nanoedge/raftlog/v1"
	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// nodeTLS issues node id a certificate from ca and returns the Raft TLS
// configuration of that node.
func nodeTLS(t testing.TB, ca *pki.CA, id string) *tls.Config {
	t.Helper()
	cfg, err := ca.NodeTLS(id, []string{"127.0.0.1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func newCA(t testing.TB) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA("nanoedge test cluster CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestTLSClusterSurvivesLeaderKill runs three nodes over mutual TLS: they
// elect, replicate, and elect again when the leader stops.
func TestTLSClusterSurvivesLeaderKill(t *testing.T) {
	ca := newCA(t)
	stores := newClusterWith(t, 3, func(i int, cfg *Config) { cfg.TLS = nodeTLS(t, ca, cfg.NodeID) })
	old := leaderIn(t, stores)
	mod := mustPut(t, old, "m", fakeWasm("m"))
	waitConverged(t, stores)
	old.Close()
	var rest []*Store
	for _, s := range stores {
		if s != old {
			rest = append(rest, s)
		}
	}
	leader := leaderIn(t, rest)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := leader.SetRoute(ctx, "", "/after", mod.Digest, nil); err != nil {
		t.Fatalf("write after the leader stopped: %v", err)
	}
	waitConverged(t, rest)
}

// TestTLSNodeMustBeItsCertificate: a node refuses to start with a
// certificate naming another node, so it fails at start rather than being
// refused by every peer.
func TestTLSNodeMustBeItsCertificate(t *testing.T) {
	ca := newCA(t)
	cfg := testConfig(t.TempDir())
	cfg.NodeID = "n1"
	cfg.TLS = nodeTLS(t, ca, "n2")
	_, err := Open(cfg)
	if err == nil || !strings.Contains(err.Error(), `for node "n2"`) {
		t.Fatalf("exp a refusal naming n2, got %v", err)
	}
}

// TestRaftPortRefusesIntruders appends a command that creates an admin
// token through the Raft port, as an attacker reaching it would. Over
// plain TCP the entry applies (what TLS closes); over mutual TLS it is
// refused without a certificate, with one from another CA, and with one
// from the cluster CA naming a node that is not a member; the cluster
// keeps its state and keeps accepting writes.
func TestRaftPortRefusesIntruders(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	token := &registryv1.Token{Id: "0123456789abcdef", Name: "intruder", Role: registryv1.Role_ROLE_ADMIN, SecretHash: make([]byte, 32)}
	cmd, err := proto.Marshal(&raftlogv1.Command{Op: &raftlogv1.Command_PutToken{PutToken: &raftlogv1.PutTokenCommand{Token: token}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		tls      bool
		attacker *tls.Config
		applied  bool
	}{
		{"plain TCP, no certificate (what TLS closes)", false, nil, true},
		{"no certificate", true, nil, false},
		{"certificate of another CA", true, clientOf(nodeTLS(t, other, "n2"), ca), false},
		{"cluster CA, not a member", true, clientOf(nodeTLS(t, ca, "n9"), ca), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stores := newClusterWith(t, 2, func(i int, cfg *Config) {
				if tc.tls {
					cfg.TLS = nodeTLS(t, ca, cfg.NodeID)
				}
			})
			leader := leaderIn(t, stores)
			mod := mustPut(t, leader, "m", fakeWasm("m"))
			waitConverged(t, stores)
			target := stores[1]
			res, err := raftattack.Inject(target.RaftAddr(), tc.attacker, cmd)
			if tc.applied {
				if err != nil || !res.Applied {
					t.Fatalf("the injection should reach an insecure node: %+v %v", res, err)
				}
				poll.Eventually(t, 5*time.Second, func() error {
					_, err := target.Token(token.Id)
					return err
				})
				return
			}
			if res.Applied {
				t.Fatalf("intruder's entry applied at index %d", res.Index)
			}
			t.Logf("refused: %v", err)
			for _, s := range stores {
				if _, err := s.Token(token.Id); !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s holds the intruder's token: %v", s.NodeID(), err)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, _, err := leaderIn(t, stores).SetRoute(ctx, "", "/still", mod.Digest, nil); err != nil {
				t.Fatalf("write after the intrusion attempt: %v", err)
			}
			waitConverged(t, stores)
		})
	}
}

// clientOf is a dialing attacker's TLS configuration: its own certificate,
// trusting the cluster CA so that only the server's check can refuse it.
func clientOf(own *tls.Config, cluster *pki.CA) *tls.Config {
	return &tls.Config{Certificates: own.Certificates, RootCAs: cluster.Pool(), InsecureSkipVerify: true}
}

// TestTLSDialChecksWhoAnswers: a node dialing a member's address refuses
// a peer that presents another node's valid certificate there.
func TestTLSDialChecksWhoAnswers(t *testing.T) {
	ca := newCA(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	members := func() ([]raft.Server, bool) {
		return []raft.Server{{ID: "n1", Address: "elsewhere:1"}, {ID: "n2", Address: raft.ServerAddress(ln.Addr().String())}, {ID: "n3", Address: "elsewhere:3"}}, true
	}
	impostor := &tcpLayer{ln: ln, tls: nodeTLS(t, ca, "n3"), members: members, logger: discardLogger()}
	defer impostor.Close()
	go func() {
		for {
			c, err := impostor.Accept()
			if err != nil {
				return
			}
			go func() { c.Read(make([]byte, 1)); c.Close() }()
		}
	}()
	dialer := &tcpLayer{tls: nodeTLS(t, ca, "n1"), members: members, logger: discardLogger()}
	c, err := dialer.Dial(raft.ServerAddress(ln.Addr().String()), 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatal("dialed n2's address and accepted n3's certificate")
	}
	if !errors.Is(err, ErrPeerRefused) || !strings.Contains(err.Error(), `"n3"`) {
		t.Fatalf("exp ErrPeerRefused naming n3, got %v", err)
	}
	if _, err := dialer.Dial("127.0.0.1:1", time.Second); err == nil {
		t.Fatal("dialed an address no member has")
	}
}

func TestConfigRefusesPlainRaftBeyondLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		insecure bool
		ok       bool
	}{
		{"127.0.0.1:0", false, true},
		{"localhost:7071", false, true},
		{"[::1]:7071", false, true},
		{"0.0.0.0:7071", false, false},
		{":7071", false, false},
		{"10.0.0.1:7071", false, false},
		{"10.0.0.1:7071", true, true},
	} {
		cfg := testConfig(t.TempDir())
		cfg.RaftAddr, cfg.Insecure = tc.addr, tc.insecure
		err := cfg.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%s insecure=%v: exp ok=%v, got %v", tc.addr, tc.insecure, tc.ok, err)
		}
		if err != nil && !strings.Contains(err.Error(), "mutual TLS") {
			t.Errorf("%s: the error should say why: %v", tc.addr, err)
		}
	}
}
