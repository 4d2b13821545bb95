//go:build unix

package procs

import (
	"errors"
	"os"
	"os/exec"
	"syscall"
)

// detach makes cmd outlive the terminal that started it and hands it w as fd 3 for the ready line.
func detach(cmd *exec.Cmd, w *os.File) {
	cmd.Env = append(os.Environ(), ReadyFDEnv+"=3")
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
}

// alive reports whether pid exists and has not exited (a zombie, not reaped yet by its parent, has); EPERM means
// it does but belongs to someone else.
func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return (err == nil || errors.Is(err, syscall.EPERM)) && !zombie(pid)
}
