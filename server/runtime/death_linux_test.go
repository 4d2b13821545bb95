package runtime

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// An invocation that comes after the worker died, before the runtime learnt of it, is sent to the new worker: it
// never reached the dead one, so it is not "interrupted" (a 500) but answered.
func TestInvocationAfterAnUnseenDeathIsAnswered(t *testing.T) {
	r, _ := start(t, Config{})
	if res := load(t, r, "pinger.py", pinger); res.Error != nil {
		t.Fatal(res.Error)
	}
	for range 2 { // a third death within a minute would quarantine pinger.py, rightly
		rep, err := r.query(context.Background(), newPing(), time.Minute, "ping")
		if err != nil {
			t.Fatal(err)
		}
		guard := slotGuard(r, 0)
		if err := syscall.Kill(rep.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for alive(guard) { // the guard ends with the worker's tree; the runtime learns of it a moment later
			time.Sleep(time.Millisecond)
		}
		if out, err := call(t, r, "pinger.ping", ""); err != nil || out["ok"] != true {
			t.Fatalf("an invocation right after the worker died: %v %v", out, err)
		}
	}
}
