package config

import (
	"strings"
	"testing"
)

// FuzzParseConf: server.conf as a person may write it (or a disk may garble it) never panics the reader, and every
// problem it reports names the file and a line.
func FuzzParseConf(f *testing.F) {
	f.Add([]byte("[main]\nname=server1\n[http]\nport=17010\n"))
	f.Add([]byte("[hot_deploy]\nbackup_history=1OO\nimport_timeout=2s\n"))
	f.Add([]byte("[api\nusername\n=x\n[[x]]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c := parseConf("server.conf", b)
		if err := c.err(); err != nil && !strings.Contains(err.Error(), "server.conf") {
			t.Fatalf("a problem without the file's name: %v", err)
		}
	})
}
