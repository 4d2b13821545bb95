package runtime

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// sliceProbe prints the slice this kernel gives a thread that asked for 100 us (sched_setattr): 100000 where custom
// slices exist (Linux 6.12), the default slice elsewhere.
const sliceProbe = `import ctypes, os, struct
attr = struct.pack('=IIQiIQQQ', 48, 0, 0, os.getpriority(os.PRIO_PROCESS, 0), 0, 100000, 0, 0)
ctypes.CDLL(None, use_errno=True).syscall({'x86_64': 314, 'aarch64': 274}[os.uname().machine], 0, attr, 0)
print([l.split(':')[1].strip() for l in open('/proc/thread-self/sched') if l.startswith('se.slice')][0])
`

// shortSlicesOrSkip checks that this kernel gives threads the slices they ask for; in CI it must.
func shortSlicesOrSkip(t *testing.T) {
	t.Helper()
	out, err := exec.Command("python3", "-c", sliceProbe).Output()
	if got := strings.TrimSpace(string(out)); err != nil || got != "100000" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI runs on Linux 6.12 or later, yet a thread that asked for a 100 us slice has %q (%v)", got, err)
		}
		t.Skipf("this kernel has no custom time slices (Linux 6.12): a thread that asked for 100 us has %q (%v)", got, err)
	}
}

// sliceModule's service answers with the time slice of the thread that runs it, and of the thread that imported it.
const sliceModule = `from zato.server.service import Service

def _slice():
    for line in open('/proc/thread-self/sched'):
        if line.startswith('se.slice'):
            return int(line.split(':')[1])

AT_IMPORT = _slice()

class Slices(Service):
    def handle(self):
        self.response.payload = {'service': _slice(), 'import': AT_IMPORT}
`

// A service runs on a thread with the shortest time slice, so that its requests do not wait a scheduler tick behind
// the server's ordinary work; imports keep the default one.
func TestServicesRunWithAShortTimeSlice(t *testing.T) {
	shortSlicesOrSkip(t)
	r, _ := start(t, Config{Workers: 2, Server: "short-slices"})
	if res := load(t, r, "slices.py", sliceModule); res.Error != nil {
		t.Fatal(res.Error)
	}
	for range 4 { // both workers, whichever answers
		out, err := call(t, r, "slices.slices", "")
		if err != nil {
			t.Fatal(err)
		}
		if out["service"] != float64(100000) {
			t.Errorf("a service ran with a %v ns slice, want 100000", out["service"])
		}
		if imp, _ := out["import"].(float64); imp <= 100000 {
			t.Errorf("the module was imported with a %v ns slice, want the default, longer one", out["import"])
		}
	}
}
