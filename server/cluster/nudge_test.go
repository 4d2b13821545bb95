package cluster

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestNudgeEncoding(t *testing.T) {
	secret := []byte("s3cret")
	for _, n := range []Nudge{{}, {Members: true}, {Status: true}, {Members: true, Status: true}} {
		got, from, err := decodeNudge(secret, encodeNudge(secret, "server 2", n))
		if err != nil || got != n || from != "server 2" {
			t.Fatalf("%+v: decoded %+v from %q, %v", n, got, from, err)
		}
	}
	good := encodeNudge(secret, "server1", Nudge{Status: true})
	tampered := bytes.Replace(bytes.Clone(good), []byte(" s "), []byte(" m "), 1)
	bad := map[string][]byte{
		"wrong secret": encodeNudge([]byte("other"), "server1", Nudge{}),
		"tampered":     tampered,
		"truncated":    good[:len(good)-1],
		"empty":        {},
		"other magic":  append([]byte("zato-nudge/9 "), good[len(nudgeMagic):]...),
	}
	for name, b := range bad {
		if _, _, err := decodeNudge(secret, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if bytes.Contains(good, secret) {
		t.Fatal("the secret travels in the datagram")
	}
}

// syncBuffer is a log sink that tests may read while the server writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func udp(t *testing.T) net.PacketConn {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return pc
}

// TestNudgeDelivery: a nudge sent to a peer's URL arrives on its socket and wakes its waiters; datagrams that are
// not this cluster's nudges are dropped with one log line.
func TestNudgeDelivery(t *testing.T) {
	log := &syncBuffer{}
	recvSock, sendSock := udp(t), udp(t)
	recv := New(Config{Name: "server2", Secret: "s3cret", Nudges: recvSock,
		Logger: slog.New(slog.NewTextHandler(log, nil))}, nil, nil)
	send := New(Config{Name: "server1", Secret: "s3cret", Nudges: sendSock}, nil, nil)
	go recv.serveNudges(t.Context())

	woken := recv.Hub().Wait()
	// Two strays first: datagrams from one socket arrive in order, so once the nudge has woken the hub both were read.
	for range 2 {
		if _, err := sendSock.WriteTo([]byte("hello"), recvSock.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	send.send(fmt.Sprintf("http://%s/", recvSock.LocalAddr()), Nudge{Status: true})
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("the nudge did not wake the receiving server's waiters")
	}
	if n := strings.Count(log.String(), "ignored a datagram"); n != 1 {
		t.Fatalf("%d log lines about strays, want 1:\n%s", n, log)
	}
	// A status nudge does not wake the deployer: nothing to apply.
	select {
	case <-recv.wake:
		t.Fatal("a status nudge woke the deployer")
	default:
	}

	woken = recv.Hub().Wait()
	send.send(fmt.Sprintf("http://%s", recvSock.LocalAddr()), Nudge{Members: true})
	select {
	case <-woken:
	case <-time.After(10 * time.Second):
		t.Fatal("the second nudge did not arrive")
	}
	select {
	case <-recv.wake:
	default:
		t.Fatal("a broadcast nudge did not wake the deployer")
	}
}
