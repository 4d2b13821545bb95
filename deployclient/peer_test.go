//go:build unix

package deployclient

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// A connection its server closed refuses to send, with an error that proves nothing left; a live one sends, also
// when the server has written something the client has not read yet.
func TestWriteAfterTheServerClosed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 3)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() (net.Conn, net.Conn) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := dialer()(ctx, "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, <-accepted
	}

	// Closed by the server: the client reads its EOF (the FIN is there), then a write is refused.
	c, s := dial()
	s.Close()
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("read after the server closed: %d %v", n, err)
	}
	n, err := c.Write([]byte("POST /api/v1/invoke/x HTTP/1.1\r\n\r\n"))
	if n != 0 || !errors.Is(err, errPeerClosed) || !NotSent(err) {
		t.Fatalf("write on a closed connection: %d %v (NotSent %v)", n, err, NotSent(err))
	}

	// Live, with an unread byte from the server: the write goes through.
	c, s = dial()
	defer s.Close()
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatalf("write on a live connection: %v", err)
	}
	got := make([]byte, 4)
	if _, err := io.ReadFull(s, got); err != nil || string(got) != "ping" {
		t.Fatalf("the server read %q %v", got, err)
	}
}
