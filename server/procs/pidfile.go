package procs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The pid file names the server process of a server dir: "PID START", START being when that process started (see
// startStamp). A pid alone is not enough: after a crash, a reboot or an OOM kill the file stays, its pid is handed to
// another process, and zato stop would signal that process and zato start would refuse to start, "already running".

// WritePIDFile records the calling process as dir's server, atomically (a reader never sees half a file).
func WritePIDFile(path string) error {
	content := strconv.Itoa(os.Getpid())
	if st, ok := startStamp(os.Getpid()); ok {
		content += " " + st
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(content+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}

// PIDInFile returns the pid a pid file names and its start stamp ("" in a file of the older form), whether or not
// that process still runs.
func PIDInFile(path string) (pid int, stamp string, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, "", false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, "", false
	}
	pid, err = strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return 0, "", false
	}
	if len(f) > 1 {
		stamp = f[1]
	}
	return pid, stamp, true
}

// readPIDFile returns the pid in a pid file and whether the process with that pid now is the one that wrote it.
func readPIDFile(path string) (int, bool) {
	pid, stamp, ok := PIDInFile(path)
	if !ok || !alive(pid) {
		return 0, false
	}
	if stamp != "" {
		// The process that has the pid now started when the writer did, or it is another one.
		st, ok := startStamp(pid)
		return pid, !ok || st == stamp
	}
	// A file written before the start time was recorded: the process must at least be a zato server.
	return pid, looksLikeServer(pid)
}
