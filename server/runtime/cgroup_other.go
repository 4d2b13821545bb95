//go:build !linux

package runtime

import "errors"

// cgroup limits exist on Linux only.
type cgroup struct{}

func cgroupLimits(_ string, memoryMax int64, pidsMax int) (*cgroup, error) {
	if memoryMax <= 0 && pidsMax <= 0 {
		return nil, nil
	}
	return nil, errors.New("cgroups are a Linux feature")
}

func (cg *cgroup) procs() []string { return nil }
func (cg *cgroup) oomKilled() bool { return false }
func (cg *cgroup) remove()         {}
func removeStale(string)           {}
