package runtime

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Loads run at idle CPU priority where the system lets the server make a cpu cgroup (v1's cpu hierarchy, with
// cpu.idle: Linux 5.15 or later). Each worker's main thread, which imports the modules and replays them into a new
// worker, moves itself into one cgroup of the runtime whose cpu.idle is 1, and so does everything an import starts
// (forks, subprocesses and threads inherit it); the thread that reads requests, and the threads that run the
// services, stay at the server's priority. The scheduler then gives a CPU to a service's request at once, however
// many imports, forks and restarts are running: nice values and low cpu.shares did not (they change shares, not
// who waits on wakeup). An idle cgroup gets next to nothing while other work keeps every CPU busy, so when a load
// waits for a CPU more than half the time the cgroup is made an ordinary one until that load ends (boost), and the
// next load starts idle again: on a busy server a deployment takes a little longer, never for ever.
//
// Threads never move between cgroups after they start, because moving another thread, or a whole process, takes a
// lock that holds every fork, exit and new thread of the machine for an RCU grace period (milliseconds, more on a
// busy machine): the loader moves itself, by writing 0 to tasks, which takes no such lock, and a boost flips the
// cgroup's cpu.idle instead of moving the loader out.

// loadsGroup is the runtime's idle cpu cgroup.
type loadsGroup struct {
	dir     string
	boosted atomic.Bool // cpu.idle is 0: a load starved
}

// starvedTick and starvedShare decide a boost: the loader waited for a CPU more than starvedShare of a tick.
const (
	starvedTick  = 100 * time.Millisecond
	starvedShare = 2 // more than 1/2
)

// newLoadsGroup makes the runtime's idle cpu cgroup, or says why it cannot.
func newLoadsGroup(server string) (*loadsGroup, error) {
	mount := mounts()["cpu"]
	if mount == "" {
		return nil, errors.New("no cpu cgroup hierarchy (cgroup v1) to put the imports in")
	}
	parent := filepath.Join(mount, ownPaths()["cpu"])
	if _, err := os.Stat(filepath.Join(parent, "cpu.idle")); err != nil {
		return nil, errors.New("the kernel's cpu cgroups have no cpu.idle (Linux 5.15 or later)")
	}
	// Sequence 0 of the server's process: the workers' own cgroups count from 1, and removeStale reads the pid.
	dir := filepath.Join(parent, fmt.Sprintf("zato-%s-%d-0", safeName(server), os.Getpid()))
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	if err := write(dir, "cpu.idle", "1"); err != nil {
		_ = os.Remove(dir)
		return nil, err
	}
	return &loadsGroup{dir: dir}, nil
}

// tasks is the file a worker's main thread writes 0 into, which moves that thread alone; "" without the group.
func (g *loadsGroup) tasks() string {
	if g == nil {
		return ""
	}
	return filepath.Join(g.dir, "tasks")
}

// remove deletes the cgroup once the workers are gone; removeStale takes it otherwise, at the next start.
func (g *loadsGroup) remove() {
	if g != nil {
		_ = os.Remove(g.dir)
	}
}

// during watches one load of the worker whose main thread is tid, until the returned func is called: a cgroup that
// was boosted for an earlier load is made idle again first, and it is boosted if this load starves.
func (g *loadsGroup) during(w *worker) (end func()) {
	tid := int(w.pid.Load())
	if g == nil || tid <= 0 {
		return func() {}
	}
	if g.boosted.Load() && write(g.dir, "cpu.idle", "1") == nil {
		g.boosted.Store(false)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(starvedTick)
		defer t.Stop()
		last, ok := runDelay(tid)
		for ok {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			now, ok2 := runDelay(tid)
			if !ok2 {
				return
			}
			if now-last > starvedTick/starvedShare {
				if write(g.dir, "cpu.idle", "0") == nil {
					g.boosted.Store(true)
				}
				return
			}
			last = now
		}
	}()
	return func() { close(stop); <-done }
}

// runDelay is how long the thread has waited for a CPU in all, from /proc/<tid>/schedstat (its second field).
func runDelay(tid int) (time.Duration, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/schedstat")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	ns, err := strconv.ParseInt(f[1], 10, 64)
	return time.Duration(ns), err == nil
}
