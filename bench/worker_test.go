package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/hostile"
	"github.com/zato-go/zato/internal/testenv"
)

// BenchmarkWorkerRestart is a python worker's restart on a server holding 500 healthy modules and the hostile corpus:
// a service that never answers makes the runtime kill its worker at the invoke timeout (1 s here, a death the runtime
// explains, so repeated restarts quarantine nothing); the figure is the time from that timeout to the new worker
// serving every module again (the timed-out invocation is answered once the replay is over).
func BenchmarkWorkerRestart(b *testing.B) {
	const timeout = time.Second
	c := testenv.StartCluster(b, testenv.Options{Servers: 1, ServerConf: map[string]string{
		"python.workers": "1", "main.invoke_timeout": timeout.String()}})
	cl := newClient(b, c)
	ctx := context.Background()
	for i := range 500 {
		if _, err := cl.Upload(ctx, fmt.Sprintf("mod_%03d.py", i), []byte(fmt.Sprintf(module, i)), "api"); err != nil {
			b.Fatal(err)
		}
	}
	corpus := hostile.AtImport() // their import forks, spawns, starts threads, closes fds and prints 25 MB, again at every replay
	for _, m := range corpus {
		if _, err := cl.Upload(ctx, m.Name, []byte(m.Source), "api"); err != nil {
			b.Fatal(err)
		}
	}
	hang := "import time\nfrom zato.server.service import Service\nclass Hang(Service):\n    def handle(self):\n        time.sleep(3600)\n"
	if d, err := cl.Deploy(ctx, "hang.py", []byte(hang), "api", nil); err != nil || d.Status != "deployed" {
		b.Fatalf("%v %+v", err, d)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, err := cl.Invoke(ctx, "hang.hang", nil); err == nil || !strings.Contains(err.Error(), "InvokeTimeout") {
			b.Fatalf("hang.hang: %v, want an InvokeTimeout", err)
		}
		lat = append(lat, time.Since(start)-timeout)
		if _, err := cl.Invoke(ctx, "mod-499.ping", nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	report(b, lat, 0, "", "modules", strconv.Itoa(500+len(corpus)+1))
}
