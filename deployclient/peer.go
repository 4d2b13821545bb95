package deployclient

import (
	"context"
	"errors"
	"net"
	"time"
)

// errPeerClosed is a write refused because the server had already closed the connection: nothing of the request
// left, so it may go again on a new connection (the transport does so), to that server or another.
var errPeerClosed = errors.New("the server had closed the connection before the request was sent")

// dialer opens the client's connections; each refuses to send on a connection its server already closed.
//
// Why: a server that dies (or closes an idle keep-alive connection) sends a FIN; until the transport's reader has
// seen it, the connection still looks reusable. A request written on it then fails with EOF, which in general may
// mean the server ran it and died: an invocation could not be sent again. Looking for the FIN before writing turns
// that case into one that provably sent nothing.
func dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return watchPeer(conn), nil
	}
}

// peerAware is a connection that checks, before each write, that its server has not closed it.
type peerAware struct {
	net.Conn
	closed func() bool
}

func (c *peerAware) Write(b []byte) (int, error) {
	if c.closed() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Addr: c.RemoteAddr(), Err: errPeerClosed}
	}
	return c.Conn.Write(b)
}
