package cluster

import "golang.org/x/sys/unix"

const exchangeSupported = true

// exchange swaps two names atomically (renameat2 RENAME_EXCHANGE, Linux 3.15+; ext4, xfs, btrfs, tmpfs).
func exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}
