package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// handshakeTimeout bounds a Raft TLS handshake, so a peer that connects and
// says nothing holds a goroutine no longer than this.
const handshakeTimeout = 10 * time.Second

// ErrPeerRefused: a Raft peer did not prove it is a member of the cluster.
var ErrPeerRefused = errors.New("registry: raft peer refused")

// tcpLayer is a raft.StreamLayer over TCP, with mutual TLS when tls is set.
// Owning the listener lets a node bind port 0 and advertise the port it got.
type tcpLayer struct {
	ln        net.Listener
	advertise net.Addr // nil: the listener's address

	// With TLS, every peer presents a certificate from the cluster CA whose
	// common name is its node ID, and that ID must be a member.
	tls     *tls.Config
	members func() (servers []raft.Server, ok bool)
	logger  *slog.Logger
}

func (l *tcpLayer) Close() error { return l.ln.Close() }
func (l *tcpLayer) Addr() net.Addr {
	if l.advertise != nil {
		return l.advertise
	}
	return l.ln.Addr()
}

// Accept returns the next connection. A TLS connection is handed to Raft
// before its handshake, which runs on Raft's own goroutine for the
// connection at the first read: a slow or hostile peer never holds up the
// accept loop.
func (l *tcpLayer) Accept() (net.Conn, error) {
	c, err := l.ln.Accept()
	if err != nil || l.tls == nil {
		return c, err
	}
	cfg := l.tls.Clone()
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.ClientCAs = l.tls.RootCAs
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		id := peerID(cs)
		if err := l.checkMember(id); err != nil {
			l.logger.Warn("raft connection refused", "remote", c.RemoteAddr().String(), "node", id, "err", err)
			return err
		}
		return nil
	}
	return &handshakeConn{Conn: tls.Server(c, cfg)}, nil
}

// Dial connects to the member at addr and checks that the certificate it
// presents names the node the configuration has at that address.
func (l *tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil || l.tls == nil {
		return c, err
	}
	want, err := l.memberAt(addr)
	if err != nil {
		c.Close()
		return nil, err
	}
	cfg := l.tls.Clone()
	// The chain and the node ID are checked below; node IDs need not be
	// host names.
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if err := verifyChain(cs, l.tls.RootCAs, x509.ExtKeyUsageServerAuth); err != nil {
			return err
		}
		if got := peerID(cs); got != want {
			return fmt.Errorf("%w: %s presented the certificate of node %q, the configuration has %q there", ErrPeerRefused, addr, got, want)
		}
		return nil
	}
	tc := tls.Client(c, cfg)
	tc.SetDeadline(time.Now().Add(min(timeout, handshakeTimeout)))
	if err := tc.Handshake(); err != nil {
		c.Close()
		return nil, fmt.Errorf("registry: raft TLS handshake with %s: %w", addr, err)
	}
	tc.SetDeadline(time.Time{})
	return tc, nil
}

// checkMember accepts node id if the configuration names it. A node with
// no configuration yet (started to be joined) accepts any node the cluster
// CA vouches for: the leader adding it. A node whose Raft is not running
// yet accepts nobody; peers retry.
func (l *tcpLayer) checkMember(id string) error {
	servers, ok := l.members()
	if !ok {
		return fmt.Errorf("%w: raft is not running yet", ErrPeerRefused)
	}
	if len(servers) == 0 {
		return nil
	}
	for _, s := range servers {
		if string(s.ID) == id {
			return nil
		}
	}
	return fmt.Errorf("%w: node %q is not a member of the cluster", ErrPeerRefused, id)
}

func (l *tcpLayer) memberAt(addr raft.ServerAddress) (string, error) {
	servers, _ := l.members()
	for _, s := range servers {
		if s.Address == addr {
			return string(s.ID), nil
		}
	}
	return "", fmt.Errorf("%w: no member has the address %s", ErrPeerRefused, addr)
}

// peerID is the node ID a verified peer certificate names: its common name.
func peerID(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}

func verifyChain(cs tls.ConnectionState, roots *x509.CertPool, usage x509.ExtKeyUsage) error {
	if len(cs.PeerCertificates) == 0 {
		return fmt.Errorf("%w: no certificate", ErrPeerRefused)
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrPeerRefused, err)
	}
	return nil
}

// handshakeConn runs a server-side TLS handshake, bounded in time, before
// the first read or write.
type handshakeConn struct {
	*tls.Conn
	once sync.Once
	err  error
}

func (c *handshakeConn) handshake() error {
	c.once.Do(func() {
		c.Conn.SetDeadline(time.Now().Add(handshakeTimeout))
		c.err = c.Conn.Handshake()
		c.Conn.SetDeadline(time.Time{})
	})
	return c.err
}

func (c *handshakeConn) Read(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

func (c *handshakeConn) Write(b []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// checkNodeCertificate makes sure a node's own certificate names it, so a
// misconfigured node fails at start rather than being refused by peers.
func checkNodeCertificate(cfg *tls.Config, nodeID string) error {
	if len(cfg.Certificates) == 0 || cfg.RootCAs == nil {
		return errors.New("TLS needs this node's certificate and the cluster CA")
	}
	leaf := cfg.Certificates[0].Leaf
	if leaf == nil {
		var err error
		if leaf, err = x509.ParseCertificate(cfg.Certificates[0].Certificate[0]); err != nil {
			return fmt.Errorf("TLS certificate: %w", err)
		}
	}
	if leaf.Subject.CommonName != nodeID {
		return fmt.Errorf("TLS certificate is for node %q (its common name), not %q", leaf.Subject.CommonName, nodeID)
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: cfg.RootCAs, KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
			return fmt.Errorf("TLS certificate of %q does not verify with the cluster CA for both client and server use: %w", nodeID, err)
		}
	}
	return nil
}

// IsLoopback reports whether a listen address binds loopback only: an IP
// literal in 127.0.0.0/8 or ::1, or "localhost". An empty host binds every
// interface.
func IsLoopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
