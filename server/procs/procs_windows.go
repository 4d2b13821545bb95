package procs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// detach starts cmd without a console so it outlives the terminal, in its own group so Ctrl+C there misses it.
// Windows has no ExtraFiles, so the ready pipe goes over as an inherited handle named in the environment.
func detach(cmd *exec.Cmd, w *os.File) {
	h := syscall.Handle(w.Fd()) // os.Pipe handles are already inheritable
	cmd.Env = append(os.Environ(), ReadyFDEnv+"="+strconv.FormatUint(uint64(h), 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{
		CreationFlags:              windows.CREATE_NEW_PROCESS_GROUP | windows.DETACHED_PROCESS,
		AdditionalInheritedHandles: []syscall.Handle{h},
	}
}

// stillActive is STILL_ACTIVE, the exit code GetExitCodeProcess reports for a running process.
const stillActive = 259

// alive reports whether pid is running; access denied means it exists but belongs to someone else.
func alive(pid int) bool {
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return errors.Is(err, windows.ERROR_ACCESS_DENIED)
	}
	defer windows.CloseHandle(h)
	var code uint32
	return windows.GetExitCodeProcess(h, &code) == nil && code == stillActive
}

// Stop terminates the process and waits for it to end. A detached process has no console to send
// CTRL_BREAK to and Windows has no SIGTERM, so there is no graceful way: it is killed outright.
func Stop(dir string, timeout time.Duration) (bool, error) {
	pid, ok := Running(dir)
	if !ok {
		return false, nil
	}
	h, err := windows.OpenProcess(windows.PROCESS_TERMINATE|windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return false, fmt.Errorf("open pid %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	if err := windows.TerminateProcess(h, 1); err != nil {
		return false, fmt.Errorf("kill pid %d: %w", pid, err)
	}
	if !waitHandle(h, timeout) {
		return true, fmt.Errorf("pid %d did not stop within %s", pid, timeout)
	}
	return true, nil
}

// Kill terminates pid and waits up to timeout for it to end.
func Kill(pid int, timeout time.Duration) error {
	h, err := windows.OpenProcess(windows.PROCESS_TERMINATE|windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil {
		return err
	}
	defer windows.CloseHandle(h)
	if err := windows.TerminateProcess(h, 1); err != nil {
		return err
	}
	if !waitHandle(h, timeout) {
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
	h, err := windows.OpenProcess(windows.SYNCHRONIZE, false, uint32(pid))
	if err != nil { // already gone
		cancel()
		return
	}
	go func() {
		defer windows.CloseHandle(h)
		waitHandle(h, -1)
		cancel()
	}()
}

// waitHandle waits until a process handle is signalled (the process ended); negative timeout = forever.
func waitHandle(h windows.Handle, timeout time.Duration) bool {
	ms := uint32(windows.INFINITE)
	if timeout >= 0 {
		ms = uint32(timeout.Milliseconds())
	}
	ev, err := windows.WaitForSingleObject(h, ms)
	return err == nil && ev == windows.WAIT_OBJECT_0
}
