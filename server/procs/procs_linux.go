package procs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

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
	pid, ok := parentPID()
	if !ok {
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

// Kill sends SIGKILL to pid and waits up to timeout for it to end.
func Kill(pid int, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	if !WaitFD(fd, timeout) {
		return fmt.Errorf("pid %d did not die within %s", pid, timeout)
	}
	return nil
}

// zombie reports whether pid has exited and waits for its parent to reap it.
func zombie(pid int) bool {
	f, ok := statFields(pid)
	return ok && len(f) > 0 && f[0] == "Z"
}

// statFields are /proc/PID/stat's fields from the third (the state) on: comm, before them, may hold spaces and
// parentheses, so they are what follows its last ')'.
func statFields(pid int) ([]string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(s[i+1:]), true
}
