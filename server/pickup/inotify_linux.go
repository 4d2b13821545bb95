package pickup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watch reports the names of files closed after writing in dir, or renamed into it, until ctx ends.
func watch(ctx context.Context, dir string) (<-chan string, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	// A non-blocking fd wrapped in os.File uses Go's poller, so Close unblocks Read.
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	out := make(chan string, 64)
	go func() {
		defer close(out)
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := f.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) && ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "pickup: inotify read:", err)
				}
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameLen := int(ev.Len)
				name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+nameLen]
				off += unix.SizeofInotifyEvent + nameLen
				if ev.Mask&unix.IN_ISDIR != 0 {
					continue
				}
				for i, b := range name { // the name is NUL-padded
					if b == 0 {
						name = name[:i]
						break
					}
				}
				select {
				case out <- string(name):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}
