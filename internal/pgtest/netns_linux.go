package pgtest

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// enterNetNS moves the calling thread (locked to its goroutine) into the named network namespace.
func enterNetNS(name string) error {
	fd, err := unix.Open(filepath.Join("/var/run/netns", name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("network namespace %s: %w", name, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", name, err)
	}
	return nil
}
