// Package hostile is issue 11's corpus of hostile and careless service modules, shared by the end-to-end suite
// (which deploys it to a cluster while a canary answers) and the benchmarks (which replay it at every worker
// restart). Each module is valid Python that deploys; what it does to the process must harm no other module.
package hostile

// Module is one module of the corpus. Invoke names the service whose invocation does the harm; "" when the harm is
// done at import (and so again at every replay).
type Module struct {
	Name, Source, Invoke string
}

// Corpus is every module, in the order the end-to-end suite deploys them.
var Corpus = []Module{
	{Name: "close_stdin.py", Source: "import os\nos.close(0)\n"},
	{Name: "close_stdout.py", Source: "import os\nos.close(1)\nos.close(2)\n"},
	{Name: "fork_at_import.py", Source: "import os, time\nif os.fork() == 0:\n    time.sleep(10**6)\n"},
	{Name: "spawn_at_import.py", Source: "import subprocess\nsubprocess.Popen(['sleep', '100000'])\n"},
	{Name: "thread_at_import.py", Source: "import threading, time\nthreading.Thread(target=lambda: time.sleep(10**6)).start()\n"},
	{Name: "setsid_daemon.py", Source: "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(10**6)\n    os._exit(0)\n"},
	{Name: "print_flood.py", Source: "import sys\nfor _ in range(20):\n    print('x' * (1 << 20))\n"},
	{Name: "long_line.py", Source: "print('y' * (5 << 20))\n"},
	{Name: "huge_reply.py", Invoke: "huge-reply.get", Source: `from zato.server.service import Service

class Huge(Service):
    name = 'huge-reply.get'
    def handle(self):
        self.response.payload = {'blob': 'z' * (70 << 20)}
`},
}

// AtImport is the modules of the corpus that do their harm at import.
func AtImport() []Module {
	var out []Module
	for _, m := range Corpus {
		if m.Invoke == "" {
			out = append(out, m)
		}
	}
	return out
}
