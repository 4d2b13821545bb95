//go:build !linux

package pgtest

import "syscall"

// setPdeathsig does nothing: only Linux has a parent-death signal, so elsewhere a crashed test can leave postgres.
func setPdeathsig(*syscall.SysProcAttr) {}
