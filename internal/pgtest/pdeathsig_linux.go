package pgtest

import "syscall"

// setPdeathsig asks for SIGQUIT (immediate shutdown, children included) when the forking thread dies.
func setPdeathsig(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGQUIT }
