//go:build unix && !linux

package procs

import (
	"fmt"
	"syscall"
	"time"
)

// Stop sends SIGTERM and waits for the process to end; after timeout it sends SIGKILL.
// Without pidfds the wait polls signal 0, which is fine for a process that is not our child.
func Stop(dir string, timeout time.Duration) (bool, error) {
	pid, ok := Running(dir)
	if !ok {
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return false, fmt.Errorf("signal pid %d: %w", pid, err)
	}
	if waitGone(pid, timeout) {
		return true, nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitGone(pid, timeout)
	return true, fmt.Errorf("pid %d did not stop within %s and was killed", pid, timeout)
}

// Kill sends SIGKILL to pid and waits up to timeout for it to end.
func Kill(pid int, timeout time.Duration) error {
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	if !waitGone(pid, timeout) {
		return fmt.Errorf("pid %d did not die within %s", pid, timeout)
	}
	return nil
}

// ExitWithParent calls cancel when the process named by ZATO_PARENT_PID ends.
func ExitWithParent(cancel func()) {
	pid, ok := parentPID()
	if !ok {
		return
	}
	if !alive(pid) {
		cancel()
		return
	}
	go func() {
		waitGone(pid, -1)
		cancel()
	}()
}

// waitGone polls until pid no longer exists; false on timeout (negative timeout = forever).
func waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for delay := 5 * time.Millisecond; ; delay = min(2*delay, 250*time.Millisecond) {
		if !alive(pid) {
			return true
		}
		if timeout >= 0 && time.Now().After(deadline) {
			return false
		}
		time.Sleep(delay)
	}
}

// zombie is not told apart here: a zombie reads as alive until reaped.
func zombie(int) bool { return false }
