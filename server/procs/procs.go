// Package procs starts server processes in the background, waits for them to be ready, and stops them.
package procs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zato-go/zato/server/config"
)

// ReadyFDEnv names the inherited file descriptor (a handle on Windows) a server writes its URL to once it is live.
const ReadyFDEnv = "ZATO_READY_FD"

// ParentPIDEnv makes a server exit when that process ends (tests set it so no server outlives them).
const ParentPIDEnv = "ZATO_PARENT_PID"

// ServerDirs returns the server directories of dir: dir itself if it is a server, else its serverN children.
func ServerDirs(dir string) ([]string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if isServer(abs) {
		return []string{abs}, nil
	}
	entries, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", abs, err)
	}
	var out []string
	for _, e := range entries {
		p := filepath.Join(abs, e.Name())
		if e.IsDir() && isServer(p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is neither a server directory nor an environment with servers", abs)
	}
	return out, nil
}

func isServer(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, config.ConfRel))
	return err == nil
}

// ErrRunning is returned (wrapped) by Start for a server that runs already.
var ErrRunning = errors.New("already running")

// Start runs `exe server run DIR` detached and returns once the server says it is live, or with the tail of its
// log if it exits first.
func Start(ctx context.Context, exe, dir string, timeout time.Duration) (pid int, url string, err error) {
	if p, ok := Running(dir); ok {
		return p, "", fmt.Errorf("%s is already running (pid %d): %w", dir, p, ErrRunning)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, "", err
	}
	defer r.Close()
	stderrPath := filepath.Join(dir, "logs", "stderr.log")
	if err := os.MkdirAll(filepath.Dir(stderrPath), 0o755); err != nil {
		return 0, "", err
	}
	errFile, err := os.OpenFile(stderrPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, "", err
	}
	defer errFile.Close()
	logFrom := size(filepath.Join(dir, config.LogRel)) // what the log gets from here on is this start's
	cmd := exec.Command(exe, "server", "run", dir)
	cmd.Stdout, cmd.Stderr = errFile, errFile
	detach(cmd, w)
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, "", fmt.Errorf("start server in %s: %w", dir, err)
	}
	w.Close() // only the child holds the write end now: EOF means it exited
	pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	rd := readLines(r)
	defer rd.stop()
	url, last, ok := rd.waitReady(timeout, ctx.Done())
	switch {
	case ok && url != "":
		return pid, url, nil
	case ok:
		err := <-exited
		return pid, "", fmt.Errorf("server in %s exited (%v) before it was ready; its log: %s%s", dir, err,
			filepath.Join(dir, config.LogRel), wrote(tails(dir, stderrPath, logFrom)))
	}
	_ = cmd.Process.Kill()
	select { // gone before we say so, with what it wrote
	case <-exited:
	case <-time.After(5 * time.Second):
	}
	if err := ctx.Err(); err != nil {
		return pid, "", err
	}
	step := ""
	if last != "" {
		step = " of its last step (" + last + ")"
	}
	return pid, "", fmt.Errorf("server in %s was not ready within %s%s, so it was stopped; if it is only slow to start, "+
		"give it a longer --timeout. Its log: %s%s", dir, timeout, step, filepath.Join(dir, config.LogRel), wrote(tails(dir, stderrPath, logFrom)))
}

// wrote introduces the tails of a server that did not start on lines of their own, or is empty when it wrote nothing
// (a message then ends with its own words, not a colon and an empty line).
func wrote(tails string) string {
	if strings.TrimSpace(tails) == "" {
		return ""
	}
	return "\nWhat it wrote during this start:\n" + tails
}

// tails is the end of what a server that did not start wrote: its stderr (a crash) and what its log got since logFrom
// (the reasons; not an earlier run's lines).
func tails(dir, stderrPath string, logFrom int64) string {
	var parts []string
	if t := tail(stderrPath, 20, 0); t != "" {
		parts = append(parts, t)
	}
	if t := tail(filepath.Join(dir, config.LogRel), 20, logFrom); t != "" {
		parts = append(parts, t)
	}
	return strings.Join(parts, "\n")
}

// size is a file's size, 0 when it is not there.
func size(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// Running returns the pid of dir's server if it runs: the pid in dir's pid file, when that process is still the one
// that wrote it (pidfile.go).
func Running(dir string) (int, bool) {
	pid, ok := readPIDFile(filepath.Join(dir, config.PIDRel))
	if !ok {
		return 0, false
	}
	return pid, true
}

func tail(path string, n int, from int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < from {
		return ""
	}
	b = b[from:]
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// parentPID is the process named by ZATO_PARENT_PID (tests set it so that servers never outlive them).
func parentPID() (int, bool) {
	pid, err := strconv.Atoi(os.Getenv(ParentPIDEnv))
	return pid, err == nil && pid > 0
}
