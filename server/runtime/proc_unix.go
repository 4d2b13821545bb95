//go:build unix && !linux

package runtime

import "syscall"

// sysProcAttr starts the guard in a process group of its own; without Pdeathsig here, the lifeline alone tells it of
// the server's death.
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
