package pickup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// watchMask: files complete in the directory (closed after writing, renamed in, created complete), entries that
// leave it, and the directory itself moving away (its watch is then dropped and set again on the path).
const watchMask = unix.IN_CLOSE_WRITE | unix.IN_MOVED_TO | unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM |
	unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// watch reports files closed after writing in dir, renamed into it or linked into it, until ctx ends. When the
// kernel drops the watch (the directory was deleted, replaced or unmounted), it logs one warning and sets the watch
// again once the path is a directory, then asks for a rescan; a queue overflow asks for a rescan too.
func watch(ctx context.Context, dir string, log *slog.Logger) (<-chan event, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	wd, err := unix.InotifyAddWatch(fd, dir, watchMask)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", dir, err)
	}
	var cur atomic.Int32 // the live watch descriptor, -1 while there is none
	cur.Store(int32(wd))
	// A non-blocking fd wrapped in os.File uses Go's poller, so Close unblocks Read.
	f := os.NewFile(uintptr(fd), "inotify")
	go func() {
		<-ctx.Done()
		f.Close()
	}()
	out := make(chan event, 64)
	readCtx, stopped := context.WithCancel(ctx)
	var rewatching sync.WaitGroup
	send := func(ev event) bool {
		select {
		case out <- ev:
			return true
		case <-readCtx.Done():
			return false
		}
	}
	// rewatch sets the watch again once dir exists as a directory; the kernel dropped the previous one.
	rewatch := func() {
		defer rewatching.Done()
		t := time.NewTicker(rewatchInterval)
		defer t.Stop()
		for {
			wd, err := unix.InotifyAddWatch(fd, dir, watchMask)
			if err == nil {
				cur.Store(int32(wd))
				log.Info("Watching the pickup dir again", "dir", dir)
				send(event{kind: evRescan})
				return
			}
			select {
			case <-readCtx.Done():
				return
			case <-t.C:
			}
		}
	}
	go func() {
		defer func() {
			stopped()
			rewatching.Wait()
			close(out)
		}()
		buf := make([]byte, 64*(unix.SizeofInotifyEvent+unix.NAME_MAX+1))
		for {
			n, err := f.Read(buf)
			if err != nil {
				if !errors.Is(err, os.ErrClosed) && ctx.Err() == nil {
					log.Error("inotify read", "err", err)
				}
				return
			}
			for off := 0; off+unix.SizeofInotifyEvent <= n; {
				raw := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
				nameLen := int(raw.Len)
				name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+nameLen]
				off += unix.SizeofInotifyEvent + nameLen
				for i, b := range name { // the name is NUL-padded
					if b == 0 {
						name = name[:i]
						break
					}
				}
				mask := raw.Mask
				switch {
				case mask&unix.IN_Q_OVERFLOW != 0:
					log.Warn("Too many changes in the pickup dir at once, some events were lost: rescanning it", "dir", dir)
					if !send(event{kind: evRescan}) {
						return
					}
					continue
				case raw.Wd != cur.Load():
					continue // a watch already given up
				case mask&unix.IN_IGNORED != 0:
					cur.Store(-1)
					log.Warn("The pickup dir is no longer watched (deleted, replaced or unmounted): watching it again once it exists", "dir", dir)
					rewatching.Add(1)
					go rewatch()
					continue
				case mask&unix.IN_MOVE_SELF != 0:
					// The watch follows the directory's inode to wherever it was moved; drop it (IN_IGNORED
					// follows) so that the watch is set again on the path.
					_, _ = unix.InotifyRmWatch(fd, uint32(raw.Wd))
					continue
				}
				if len(name) == 0 {
					continue // an event about the directory itself
				}
				ev, ok := translate(dir, mask, string(name))
				if ok && !send(ev) {
					return
				}
			}
		}
	}()
	return out, nil
}

// translate turns an inotify event about an entry of dir into what the Watcher acts on.
func translate(dir string, mask uint32, name string) (event, bool) {
	switch {
	case mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
		return event{kind: evGone, name: name}, true
	case mask&(unix.IN_CLOSE_WRITE|unix.IN_MOVED_TO) != 0:
		return event{kind: evFile, name: name}, true
	case mask&unix.IN_CREATE != 0:
		if mask&unix.IN_ISDIR != 0 {
			return event{kind: evFile, name: name}, true
		}
		// A new regular file is being written: its IN_CLOSE_WRITE follows. Symlinks and hard links are complete
		// when they appear and no IN_CLOSE_WRITE follows them.
		var st unix.Stat_t
		if err := unix.Lstat(dir+"/"+name, &st); err != nil {
			return event{}, false
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			if st.Nlink > 1 {
				return event{kind: evFile, name: name}, true
			}
			return event{}, false
		default: // symlinks; other kinds are logged as ignored
			return event{kind: evFile, name: name}, true
		}
	}
	return event{}, false
}
