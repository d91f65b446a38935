package registry

import (
	"net"
	"time"

	"github.com/hashicorp/raft"
)

// tcpLayer is a raft.StreamLayer over plain TCP. Owning the listener lets a
// node bind port 0 and advertise the port it got.
type tcpLayer struct {
	ln        net.Listener
	advertise net.Addr // nil: the listener's address
}

func (l *tcpLayer) Accept() (net.Conn, error) { return l.ln.Accept() }
func (l *tcpLayer) Close() error              { return l.ln.Close() }
func (l *tcpLayer) Addr() net.Addr {
	if l.advertise != nil {
		return l.advertise
	}
	return l.ln.Addr()
}

func (l *tcpLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	return net.DialTimeout("tcp", string(addr), timeout)
}
