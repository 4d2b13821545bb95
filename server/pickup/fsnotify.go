package pickup

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// watchFsnotify is the watcher of systems without inotify (macOS, the BSDs, Windows); it builds everywhere so
// that it is tested on Linux too. fsnotify reports writes but not their end, so an entry named by a Create, Write
// or Rename event is reported once its size and mtime held still across two checks settleInterval apart; every new
// event on it starts the wait again.
func watchFsnotify(ctx context.Context, dir string, log *slog.Logger) (<-chan event, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	if err := fw.Add(dir); err != nil {
		fw.Close()
		return nil, err
	}
	out := make(chan event, 64)
	go func() {
		defer close(out)
		defer fw.Close()
		type check struct {
			size    int64
			mtime   time.Time
			missing bool
			at      time.Time
		}
		look := func(name string) check {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				if _, lerr := os.Lstat(filepath.Join(dir, name)); lerr == nil {
					return check{at: time.Now()} // a dangling symlink: report it like a file that stopped changing
				}
				return check{missing: true, at: time.Now()}
			}
			return check{size: fi.Size(), mtime: fi.ModTime(), at: time.Now()}
		}
		pending := map[string]check{}
		tick := time.NewTicker(settleInterval / 4)
		defer tick.Stop()
		var retry <-chan time.Time // set while the directory's watch is lost
		send := func(ev event) bool {
			select {
			case out <- ev:
				return true
			case <-ctx.Done():
				return false
			}
		}
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-fw.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) == filepath.Clean(dir) {
					if ev.Op&(fsnotify.Remove|fsnotify.Rename) != 0 && retry == nil {
						log.Warn("The pickup dir is no longer watched (deleted, replaced or unmounted): watching it again once it exists", "dir", dir)
						_ = fw.Remove(dir)
						retry = time.After(rewatchInterval)
					}
					continue
				}
				name := filepath.Base(ev.Name)
				switch {
				case ev.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Rename) != 0:
					pending[name] = look(name)
				case ev.Op&fsnotify.Remove != 0:
					delete(pending, name)
					if !send(event{kind: evGone, name: name}) {
						return
					}
				}
			case err, ok := <-fw.Errors:
				if !ok {
					return
				}
				if errors.Is(err, fsnotify.ErrEventOverflow) {
					log.Warn("Too many changes in the pickup dir at once, some events were lost: rescanning it", "dir", dir)
					if !send(event{kind: evRescan}) {
						return
					}
					continue
				}
				log.Warn("pickup dir watcher", "err", err)
			case <-retry:
				if fi, err := os.Stat(dir); err == nil && fi.IsDir() && fw.Add(dir) == nil {
					retry = nil
					log.Info("Watching the pickup dir again", "dir", dir)
					if !send(event{kind: evRescan}) {
						return
					}
				} else {
					retry = time.After(rewatchInterval)
				}
			case now := <-tick.C:
				for name, prev := range pending {
					if now.Sub(prev.at) < settleInterval {
						continue
					}
					cur := look(name)
					switch {
					case cur.missing:
						delete(pending, name)
						if !send(event{kind: evGone, name: name}) {
							return
						}
					case !prev.missing && cur.size == prev.size && cur.mtime.Equal(prev.mtime):
						delete(pending, name)
						if !send(event{kind: evFile, name: name}) {
							return
						}
					default:
						pending[name] = cur
					}
				}
			}
		}
	}()
	return out, nil
}
