package runtime

import "syscall"

// sysProcAttr starts the guard in a process group of its own (so that the server's terminal signals do not reach it
// and the group can be killed whole) and has the kernel tell it of the server's death. The signal is SIGTERM, not
// SIGKILL: the guard must live on to kill the worker's tree; it reacts by reading the lifeline, which is the real
// test (Pdeathsig follows the server thread that started the guard, not the whole server).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
