package deployclient

import (
	"bytes"
	"strings"
	"testing"
)

// The event-stream reader takes whatever a server (or a proxy on the way) sends: it never panics, and an event it
// reports carries only what the stream held.
func FuzzReadEvents(f *testing.F) {
	f.Add([]byte("event: deployment\ndata: {\"deployment_id\": 1}\n\nevent: done\ndata: {}\n\n"))
	f.Add([]byte(": comment\n\ndata: a\ndata: b\n\n"))
	f.Add([]byte("event:\ndata\n\n\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = readEvents(bytes.NewReader(b), func(event string, data []byte) error {
			if len(data) > len(b) || event != "message" && !bytes.Contains(b, []byte(event)) {
				t.Fatalf("event %q with %d bytes of data from %d bytes", event, len(data), len(b))
			}
			return nil
		})
	})
}

// FuzzParseConfigFile: a client file (.zato.yaml, zato-client.yaml) never panics the reader, and a refusal names the
// file.
func FuzzParseConfigFile(f *testing.F) {
	f.Add([]byte("url: http://127.0.0.1:17010\nusername: admin\npasswordEnv: ZATO_PASSWORD\n"))
	f.Add([]byte("targets:\n  Staging: {url: https://s:1, username: a}\npasword: x\n"))
	f.Add([]byte("url: [\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := ParseConfigFile(".zato.yaml", b); err != nil && !strings.Contains(err.Error(), ".zato.yaml") {
			t.Fatalf("a refusal without the file's name: %v", err)
		}
	})
}
