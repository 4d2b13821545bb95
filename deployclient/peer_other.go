//go:build !unix

package deployclient

import "net"

// watchPeer leaves the connection as it is where a non-waiting peek is not available.
func watchPeer(conn net.Conn) net.Conn { return conn }
