//go:build faults

package faults

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/internal/pgtest"
	"github.com/zato-go/zato/server/config"
)

// TestServerStartsOncePostgreSQLIsBack: a server started while PostgreSQL is down (restarting, or not up yet after
// a reboot) waits for it, says so in its log, and is live once it is back. It used to exit at once ("open ODB:
// connection refused"), while the servers that ran waited out the same outage.
func TestServerStartsOncePostgreSQLIsBack(t *testing.T) {
	pg := launchPG(t, pgtest.Options{})
	c := newCluster(t, clusterOpts{Servers: 1, DSN: pg.DSN("postgres"), NoStart: true})
	if err := pg.Halt(); err != nil {
		t.Fatal(err)
	}
	started := c.StartAsync("server1")
	logPath := filepath.Join(c.Server("server1").Dir, config.LogRel)
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(logPath)
		if strings.Contains(string(b), "Waiting for the ODB, which is unavailable") {
			break
		}
		select {
		case err := <-started:
			t.Fatalf("the start ended while PostgreSQL was down: %v\n%s", err, b)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server's log never said it waits for the ODB:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond) // bounded by the deadline: the log has no event to wait on
	}
	if err := pg.Resume(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-started:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(90 * time.Second):
		t.Fatal("zato start did not return within 90 s of PostgreSQL being back")
	}
	if _, err := c.Client(c.Server("server1").URL, 0).Servers(timeout(t, 10*time.Second)); err != nil {
		t.Fatalf("the server started but does not answer: %v", err)
	}
}
