package procs

import (
	"bytes"
	"os"
	"strconv"
)

// startStamp is when pid started, in clock ticks since boot (/proc/PID/stat's 22nd field): with the pid, it names
// one process for the life of the machine.
func startStamp(pid int) (string, bool) {
	f, ok := statFields(pid)
	const starttime = 22 - 3 // statFields starts at the third field
	if !ok || len(f) <= starttime {
		return "", false
	}
	return f[starttime], true
}

// looksLikeServer says whether pid runs `... server run DIR`, as Start starts a server.
func looksLikeServer(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return true // cannot tell: trust the file, as before
	}
	return bytes.Contains(b, []byte("\x00server\x00run\x00"))
}
