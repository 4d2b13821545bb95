package runtime

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// A service's large values are backed by transparent huge pages where the kernel offers them (madvise or always):
// one page fault per 2 MiB instead of one per 4 KiB. Before, a 64 MiB value held no huge page.
func TestLargeValuesGetHugePages(t *testing.T) {
	if b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled"); err != nil || strings.Contains(string(b), "[never]") {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI's kernel offers transparent huge pages, yet: %q %v", b, err)
		}
		t.Skipf("this kernel offers no transparent huge pages: %q %v", b, err)
	}
	r, _ := start(t, Config{Workers: 1})
	load(t, r, "hold.py", "from zato.server.service import Service\nheld = []\nclass Hold(Service):\n    def handle(self):\n"+
		"        held.append(bytearray(64 << 20))\n        self.response.payload = {'ok': True}\n")
	if out, err := call(t, r, "hold.hold", ""); err != nil || out["ok"] != true {
		t.Fatalf("%v %v", out, err)
	}
	if kb, ok := workerMemory(t, r)["AnonHugePages"]; !ok || kb < 32<<10 {
		t.Errorf("a 64 MiB value is held in %d kB of huge pages", kb)
	}
}

// workerMemory is the first worker's /proc/<pid>/smaps_rollup, in kB by name.
func workerMemory(t *testing.T, r *Runtime) map[string]int {
	t.Helper()
	r.mu.Lock()
	pid := int(r.ws[0].pid.Load())
	r.mu.Unlock()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	kb := map[string]int{}
	for _, l := range strings.Split(string(b), "\n") {
		if name, v, ok := strings.Cut(l, ":"); ok {
			kb[name], _ = strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return kb
}

// The tunable joins what GLIBC_TUNABLES holds, and a user's own choice of it stands.
func TestHugeMallocKeepsTheUsersTunables(t *testing.T) {
	for _, c := range []struct{ env, want []string }{
		{[]string{"A=1"}, []string{"A=1", "GLIBC_TUNABLES=glibc.malloc.hugetlb=1"}},
		{[]string{"GLIBC_TUNABLES="}, []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=1"}},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2"}, []string{"GLIBC_TUNABLES=glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1"}},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}, []string{"GLIBC_TUNABLES=glibc.malloc.hugetlb=0"}},
	} {
		in := slices.Clone(c.env)
		if got := hugeMalloc(in); !slices.Equal(got, c.want) {
			t.Errorf("%q: %q, want %q", c.env, got, c.want)
		}
		if !slices.Equal(in, c.env) {
			t.Errorf("%q was changed in place", c.env)
		}
	}
}
