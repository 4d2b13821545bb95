// Package loadorder is the one order in which a server loads hot-deployed modules, at its start and into every
// restarted Python worker: a module after the hot-deployed modules it imports, by name otherwise. A module's effect
// then does not depend on which server, or which worker, restarted when: the modules it imports are there, as the
// versions the others see, before it runs. It also reads which modules a source imports, for the deployer's
// dependents.
package loadorder

import (
	"container/heap"
	"regexp"
	"sort"
	"strings"
)

var (
	importLine = regexp.MustCompile(`(?m)^[ \t]*import[ \t]+([A-Za-z_][\w. \t,]*)`)
	fromLine   = regexp.MustCompile(`(?m)^[ \t]*from[ \t]+([A-Za-z_][\w.]*)[ \t]+import\b`)
)

// Imports lists the top-level modules a source imports (`import a.b as c, d`, `from a.b import c`), wherever the
// statement is (imports inside functions count: they run later, against whatever is loaded then).
func Imports(src string) map[string]bool {
	out := map[string]bool{}
	for _, m := range importLine.FindAllStringSubmatch(src, -1) {
		for _, part := range strings.Split(m[1], ",") {
			f := strings.Fields(part)
			if len(f) > 0 {
				out[strings.SplitN(f[0], ".", 2)[0]] = true
			}
		}
	}
	for _, m := range fromLine.FindAllStringSubmatch(src, -1) {
		out[strings.SplitN(m[1], ".", 2)[0]] = true
	}
	return out
}

// Sort orders module files (x.py) so that each comes after the modules of the set it imports, and by name where
// imports do not decide; source gives a module's source. In an import cycle, the module first by name among those
// left goes first.
func Sort(modules []string, source func(module string) string) []string {
	in := make(map[string]bool, len(modules))
	for _, m := range modules {
		in[m] = true
	}
	waitsOn := make(map[string]int, len(modules))       // module -> how many modules of the set it still waits for
	waitedBy := make(map[string][]string, len(modules)) // module -> the modules that wait for it
	for _, m := range modules {
		for name := range Imports(source(m)) {
			dep := name + ".py"
			if dep != m && in[dep] {
				waitsOn[m]++
				waitedBy[dep] = append(waitedBy[dep], m)
			}
		}
	}
	ready := &names{}
	left := make([]string, 0, len(modules))
	for _, m := range modules {
		if waitsOn[m] == 0 {
			heap.Push(ready, m)
		}
		left = append(left, m)
	}
	sort.Strings(left)
	done := make(map[string]bool, len(modules))
	out := make([]string, 0, len(modules))
	for len(out) < len(in) {
		if ready.Len() == 0 { // a cycle: break it at the first by name
			for _, m := range left {
				if !done[m] {
					waitsOn[m] = 0
					heap.Push(ready, m)
					break
				}
			}
		}
		m := heap.Pop(ready).(string)
		if done[m] {
			continue
		}
		done[m] = true
		out = append(out, m)
		for _, d := range waitedBy[m] {
			if waitsOn[d]--; waitsOn[d] == 0 && !done[d] {
				heap.Push(ready, d)
			}
		}
	}
	return out
}

// names is a min-heap of module names.
type names []string

func (n names) Len() int           { return len(n) }
func (n names) Less(i, j int) bool { return n[i] < n[j] }
func (n names) Swap(i, j int)      { n[i], n[j] = n[j], n[i] }
func (n *names) Push(x any)        { *n = append(*n, x.(string)) }
func (n *names) Pop() any {
	old := *n
	x := old[len(old)-1]
	*n = old[:len(old)-1]
	return x
}
