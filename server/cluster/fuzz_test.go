package cluster

import (
	"bytes"
	"testing"
	"time"
)

// The decoders of what arrives from the network between servers: whatever the bytes, they never panic, accept only
// what the secret signed, and give back what was encoded.

var fuzzSecret = []byte("fuzz-secret")

func FuzzDecodePush(f *testing.F) {
	f.Add(encodePush(fuzzSecret, "server1", push{ID: 7, Module: "x.py", Source: "x = 1\n"}))
	f.Add([]byte(pushMagic + "server1\n{}"))
	f.Add([]byte("zato-push/1 \n{\"id\": -1}0123456789012345678901234567890123"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := decodePush(fuzzSecret, b)
		if err != nil {
			return
		}
		if p.ID <= 0 || !ValidName(p.Module) {
			t.Fatalf("accepted a bad push: %+v", p)
		}
		// Only the secret's own datagrams verify: encoding what was decoded gives back a datagram that decodes alike.
		again, err := decodePush(fuzzSecret, encodePush(fuzzSecret, p.From, p))
		if len(p.Source) <= maxPushSource && (err != nil || again.ID != p.ID || again.Module != p.Module || again.Source != p.Source) {
			t.Fatalf("round trip: %+v -> %+v (%v)", p, again, err)
		}
		if _, err := decodePush([]byte("another-secret"), b); err == nil {
			t.Fatal("a push verified under another secret")
		}
	})
}

func FuzzDecodeNudge(f *testing.F) {
	f.Add(encodeNudge(fuzzSecret, "server2", Nudge{Members: true}))
	f.Add(encodeNudge(fuzzSecret, "s", Nudge{Status: true}))
	f.Add([]byte(nudgeMagic + "- x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, from, err := decodeNudge(fuzzSecret, b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeNudge(fuzzSecret, from, n)[:len(nudgeMagic)], []byte(nudgeMagic)) {
			t.Fatal("re-encoding lost the magic")
		}
		if _, _, err := decodeNudge([]byte("another-secret"), b); err == nil {
			t.Fatal("a nudge verified under another secret")
		}
	})
}

func FuzzVerifyHTTPNudge(f *testing.F) {
	now := time.Unix(1_800_000_000, 0)
	f.Add(SignHTTPNudge(fuzzSecret, "server1", Nudge{Members: true}, now))
	f.Add("")
	f.Add("emF0by1udWRnZS1odHRwLzEg")
	f.Fuzz(func(t *testing.T, header string) {
		v := NewNudgeVerifier(string(fuzzSecret))
		if _, _, err := v.Verify(header, now); err != nil {
			return
		}
		// Accepted once: the same header again is a replay.
		if _, _, err := v.Verify(header, now); err == nil {
			t.Fatal("a nudge was accepted twice")
		}
		if _, _, err := NewNudgeVerifier("another-secret").Verify(header, now); err == nil {
			t.Fatal("a nudge verified under another secret")
		}
	})
}
