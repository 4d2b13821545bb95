package runtime

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// A worker's process tree runs in a cgroup of its own where the system lets the server make one: one directory under
// the server's own cgroup in each hierarchy that has the controller (cgroup v2's unified one when it delegates memory
// and pids, else v1's memory and pids hierarchies). The guard writes itself into each cgroup.procs before it forks the
// worker, so everything the worker starts is counted; the directories go when the worker's tree is gone.

// cgroup is one worker's cgroup directories, and how to read whether its memory limit was hit.
type cgroup struct {
	dirs   []string // the leaf in each hierarchy
	events string   // v2 memory.events, or v1 memory.oom_control, for the oom_kill count; "" when not limited
}

var cgroupSeq atomic.Int64

// cgroupLimits makes a cgroup for one worker with the limits asked for; it returns nil and why when the system does
// not allow it (no controller, not root, nothing delegated). Zero limits make nothing.
func cgroupLimits(server string, memoryMax int64, pidsMax int) (*cgroup, error) {
	if memoryMax <= 0 && pidsMax <= 0 {
		return nil, nil
	}
	name := fmt.Sprintf("zato-%s-%d-%d", safeName(server), os.Getpid(), cgroupSeq.Add(1))
	if cg, err := cgroupV2(name, memoryMax, pidsMax); err == nil {
		return cg, nil
	}
	return cgroupV1(name, memoryMax, pidsMax)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '.' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// mounts returns the cgroup mount points by hierarchy: "" for v2, else each v1 controller's name.
func mounts() map[string]string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+3 > len(fields) {
			continue
		}
		switch fields[sep+1] {
		case "cgroup2":
			out[""] = fields[4]
		case "cgroup":
			for _, o := range strings.Split(fields[sep+3], ",") {
				if o == "memory" || o == "pids" || o == "cpu" {
					out[o] = fields[4]
				}
			}
		}
	}
	return out
}

// ownPaths returns the server's own cgroup path in each hierarchy: "" for v2, else by v1 controller.
func ownPaths() map[string]string { return cgroupPaths("/proc/self/cgroup") }

// cgroupPaths reads a /proc/<pid>/cgroup file: the cgroup path in each hierarchy, "" for v2, else by v1 controller.
func cgroupPaths(file string) map[string]string {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

func cgroupV2(name string, memoryMax int64, pidsMax int) (*cgroup, error) {
	mount, own := mounts()[""], ownPaths()[""]
	if mount == "" {
		return nil, errors.New("no cgroup v2 hierarchy")
	}
	parent := filepath.Join(mount, own)
	ctl, err := os.ReadFile(filepath.Join(parent, "cgroup.subtree_control"))
	if err != nil {
		return nil, err
	}
	have := strings.Fields(string(ctl))
	for _, want := range []string{"memory", "pids"} {
		if !slices.Contains(have, want) {
			return nil, fmt.Errorf("cgroup v2 does not delegate %s to %s", want, parent)
		}
	}
	dir := filepath.Join(parent, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	cg := &cgroup{dirs: []string{dir}}
	if memoryMax > 0 {
		cg.events = filepath.Join(dir, "memory.events")
		if err := write(dir, "memory.max", strconv.FormatInt(memoryMax, 10)); err != nil {
			cg.remove()
			return nil, err
		}
		_ = write(dir, "memory.swap.max", "0") // the limit is on memory, not on what swap can hold for it
	}
	if pidsMax > 0 {
		if err := write(dir, "pids.max", strconv.Itoa(pidsMax)); err != nil {
			cg.remove()
			return nil, err
		}
	}
	return cg, nil
}

func cgroupV1(name string, memoryMax int64, pidsMax int) (*cgroup, error) {
	ms, own := mounts(), ownPaths()
	cg := &cgroup{}
	if memoryMax > 0 {
		if ms["memory"] == "" {
			return nil, errors.New("no memory cgroup hierarchy")
		}
		dir := filepath.Join(ms["memory"], own["memory"], name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return nil, err
		}
		cg.dirs = append(cg.dirs, dir)
		cg.events = filepath.Join(dir, "memory.oom_control")
		if err := write(dir, "memory.limit_in_bytes", strconv.FormatInt(memoryMax, 10)); err != nil {
			cg.remove()
			return nil, err
		}
		_ = write(dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(memoryMax, 10)) // no escape into swap
	}
	if pidsMax > 0 {
		if ms["pids"] == "" {
			cg.remove()
			return nil, errors.New("no pids cgroup hierarchy")
		}
		dir := filepath.Join(ms["pids"], own["pids"], name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			cg.remove()
			return nil, err
		}
		cg.dirs = append(cg.dirs, dir)
		if err := write(dir, "pids.max", strconv.Itoa(pidsMax)); err != nil {
			cg.remove()
			return nil, err
		}
	}
	return cg, nil
}

func write(dir, file, value string) error {
	return os.WriteFile(filepath.Join(dir, file), []byte(value), 0o644)
}

// procs lists the cgroup.procs files the guard writes itself into.
func (cg *cgroup) procs() []string {
	if cg == nil {
		return nil
	}
	out := make([]string, len(cg.dirs))
	for i, d := range cg.dirs {
		out[i] = filepath.Join(d, "cgroup.procs")
	}
	return out
}

// oomKilled tells whether the kernel killed a process of the cgroup for its memory limit.
func (cg *cgroup) oomKilled() bool {
	if cg == nil || cg.events == "" {
		return false
	}
	b, err := os.ReadFile(cg.events)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" && f[1] != "0" {
			return true
		}
	}
	return false
}

// remove deletes the directories; the worker's tree is gone by then (the guard exits last, after killing it).
func (cg *cgroup) remove() {
	if cg == nil {
		return
	}
	for _, d := range cg.dirs {
		_ = os.Remove(d)
	}
}

// removeStale deletes the empty cgroups that earlier processes of this server left (they were killed before they
// could): those whose creating process is gone. Another environment's server of the same name, alive, keeps its own.
func removeStale(server string) {
	prefix := "zato-" + safeName(server) + "-"
	ms, own := mounts(), ownPaths()
	for key, mount := range ms {
		if key != "" && key != "memory" && key != "pids" && key != "cpu" {
			continue
		}
		parent := filepath.Join(mount, own[key])
		ents, _ := os.ReadDir(parent)
		for _, e := range ents {
			if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
				continue
			}
			// zato-<server>-<pid>-<seq>: the pid is the one before last.
			f := strings.Split(e.Name(), "-")
			pid, err := strconv.Atoi(f[len(f)-2])
			if err != nil || pid == os.Getpid() {
				continue
			}
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
				continue // its server runs
			}
			_ = os.Remove(filepath.Join(parent, e.Name())) // fails, harmlessly, while a process is in it
		}
	}
}
