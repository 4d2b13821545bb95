// Package procs starts server processes in the background, waits for them to be ready, and stops them.
package procs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zato-go/zato/server/config"
)

// ReadyFDEnv names the inherited file descriptor a server writes its URL to once it is live.
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

// Start runs `exe server run DIR` detached and returns once the server says it is live, or with the tail of its
// log if it exits first.
func Start(ctx context.Context, exe, dir string, timeout time.Duration) (pid int, url string, err error) {
	if p, ok := Running(dir); ok {
		return p, "", fmt.Errorf("%s is already running (pid %d)", dir, p)
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
	cmd := exec.Command(exe, "server", "run", dir)
	cmd.Env = append(os.Environ(), ReadyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Stdout, cmd.Stderr = errFile, errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // survives the terminal that started it
	if err := cmd.Start(); err != nil {
		w.Close()
		return 0, "", fmt.Errorf("start server in %s: %w", dir, err)
	}
	w.Close() // only the child holds the write end now: EOF means it exited
	pid = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(r).ReadString('\n')
		line <- s
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case s := <-line:
		if s = strings.TrimSpace(s); s != "" {
			return pid, s, nil
		}
		err := <-exited
		return pid, "", fmt.Errorf("server in %s exited (%v) before it was ready:\n%s", dir, err, tail(stderrPath, 20))
	case <-timer.C:
		_ = cmd.Process.Kill()
		return pid, "", fmt.Errorf("server in %s was not ready within %s:\n%s", dir, timeout, tail(stderrPath, 20))
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return pid, "", ctx.Err()
	}
}

// SignalReady tells the starting parent, if any, that the server is live.
func SignalReady(url string) {
	fd, err := strconv.Atoi(os.Getenv(ReadyFDEnv))
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(fd), "ready")
	if f == nil {
		return
	}
	fmt.Fprintln(f, url)
	f.Close()
	os.Unsetenv(ReadyFDEnv)
}

// Running returns the pid in dir's pid file if that process exists.
func Running(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, config.PIDRel))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0, false
	}
	return pid, true
}

// Stop sends SIGTERM and waits for the process to end; after timeout it sends SIGKILL.
func Stop(dir string, timeout time.Duration) (bool, error) {
	pid, ok := Running(dir)
	if !ok {
		return false, nil
	}
	fd, ferr := unix.PidfdOpen(pid, 0)
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return false, fmt.Errorf("signal pid %d: %w", pid, err)
	}
	if ferr != nil {
		return true, nil
	}
	defer unix.Close(fd)
	if WaitFD(fd, timeout) {
		return true, nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	WaitFD(fd, timeout)
	return true, fmt.Errorf("pid %d did not stop within %s and was killed", pid, timeout)
}

// WaitFD waits until a pidfd says its process ended; false on timeout (negative timeout = forever).
func WaitFD(fd int, timeout time.Duration) bool {
	ms := -1
	if timeout >= 0 {
		ms = int(timeout.Milliseconds())
	}
	for {
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, ms)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		return err == nil && n > 0
	}
}

// ExitWithParent calls cancel when the process named by ZATO_PARENT_PID ends.
func ExitWithParent(cancel func()) {
	pid, err := strconv.Atoi(os.Getenv(ParentPIDEnv))
	if err != nil || pid <= 0 {
		return
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil { // already gone
		cancel()
		return
	}
	go func() {
		defer unix.Close(fd)
		WaitFD(fd, -1)
		cancel()
	}()
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
