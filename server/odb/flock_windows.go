package odb

import (
	"os"

	"golang.org/x/sys/windows"
)

// Windows has no flock; LockFileEx over the whole of the (otherwise unused) lock file does the same job.

func tryLock(f *os.File) error {
	return lockEx(f, windows.LOCKFILE_EXCLUSIVE_LOCK|windows.LOCKFILE_FAIL_IMMEDIATELY)
}

func waitLock(f *os.File) error { return lockEx(f, windows.LOCKFILE_EXCLUSIVE_LOCK) }

func unlock(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, ^uint32(0), ^uint32(0), new(windows.Overlapped))
}

func lockEx(f *os.File, flags uint32) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), flags, 0, ^uint32(0), ^uint32(0), new(windows.Overlapped))
}
