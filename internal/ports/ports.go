// Package ports finds free TCP ports for test servers.
//
// The ports are taken below the kernel's ephemeral range. A server that a test stops and starts again on the same
// port (PostgreSQL in the outage tests, a zato server after kill -9) must find it free: a port inside the
// ephemeral range can meanwhile be taken as the local end of any outgoing connection, including one of the clients
// that keep dialling the stopped server, and the restart then fails with "address already in use".
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

const lowest = 10000

// Free finds n consecutive ports that 127.0.0.1 can listen on, all below the ephemeral range, and returns the first.
func Free(n int) (int, error) {
	top := ephemeralLow() - n
	if top <= lowest {
		return 0, fmt.Errorf("no room for %d ports below the ephemeral range", n)
	}
	for range 200 {
		base := lowest + rand.IntN(top-lowest)
		if listenable(base, n) {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d consecutive free ports between %d and %d", n, lowest, top+n)
}

func listenable(base, n int) bool {
	for i := range n {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}

// ephemeralLow is the first port the kernel hands out for outgoing connections (32768 when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) < 1 {
		return 32768
	}
	low, err := strconv.Atoi(f[0])
	if err != nil || low <= lowest {
		return 32768
	}
	return low
}
