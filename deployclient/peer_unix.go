//go:build unix

package deployclient

import (
	"net"
	"syscall"
)

// watchPeer wraps a TCP connection so that a write on it fails with errPeerClosed once the server closed it.
func watchPeer(conn net.Conn) net.Conn {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return conn
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return conn
	}
	return &peerAware{Conn: conn, closed: func() bool {
		// A peek that does not wait: 0 bytes and no error is the server's FIN (pending data or EAGAIN is not).
		var closed bool
		_ = raw.Control(func(fd uintptr) {
			var b [1]byte
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			closed = n == 0 && err == nil
		})
		return closed
	}}
}
