package cluster

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zato-go/zato/server/odb"
	"github.com/zato-go/zato/server/runtime"
)

func TestPushEncoding(t *testing.T) {
	secret := []byte("s3cret")
	p := push{ID: 42, Module: "crm.py", Source: "from zato.server.service import Service\n# ünïcode\n"}
	b := encodePush(secret, "server1", p)
	got, err := decodePush(secret, b)
	p.From = "server1"
	if err != nil || got != p {
		t.Fatalf("decoded %+v, %v", got, err)
	}
	bad := map[string][]byte{
		"wrong secret": encodePush([]byte("other"), "server1", p),
		"tampered":     bytes.Replace(bytes.Clone(b), []byte(`"id":42`), []byte(`"id":41`), 1),
		"truncated":    b[:len(b)-1],
		"a nudge":      encodeNudge(secret, "server1", Nudge{}),
		"bad module":   encodePush(secret, "server1", push{ID: 1, Module: "../x.py"}),
		"no id":        encodePush(secret, "server1", push{Module: "x.py"}),
	}
	for name, b := range bad {
		if _, err := decodePush(secret, b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if encodePush(secret, "server1", push{ID: 1, Module: "big.py", Source: strings.Repeat("#", maxPushSource+1)}) != nil {
		t.Fatal("a module over maxPushSource was put in a datagram")
	}
	// Under maxPushSource, but JSON escapes each control character in six bytes.
	if encodePush(secret, "server1", push{ID: 1, Module: "esc.py", Source: strings.Repeat("\x01", maxPushSource)}) != nil {
		t.Fatal("a datagram over maxNudge")
	}
}

// loads records what the deployer loaded.
type loads struct {
	mu  sync.Mutex
	src []string
}

func (l *loads) Load(_ context.Context, module, _ string, source []byte) (runtime.LoadResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.src = append(l.src, string(source))
	return runtime.LoadResult{Module: module, Services: []string{"svc"}}, nil
}

func (l *loads) Unload(context.Context, string) ([]string, error) { return nil, nil }

func (l *loads) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.src)
}

// countingStore counts how often the deployer reads its pending list.
type countingStore struct {
	odb.Store
	pendingReads atomic.Int32
}

func (s *countingStore) PendingFor(ctx context.Context, server string) ([]odb.Deployment, error) {
	s.pendingReads.Add(1)
	return s.Store.PendingFor(ctx, server)
}

// TestPushedDeployments: a pushed deployment is applied without reading the pending list; one from before the
// deployer started, or one it already passed (a replay), is not applied again; a deployment that was not pushed
// is found by the pending list.
func TestPushedDeployments(t *testing.T) {
	ctx := t.Context()
	base, err := odb.OpenSQLite(ctx, filepath.Join(t.TempDir(), "zato.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	store := &countingStore{Store: base}
	rt := &loads{}
	c := New(Config{Name: "server2", Secret: "s3cret", CurrentDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, store, rt)

	create := func(src string) odb.Deployment {
		t.Helper()
		d, err := store.CreateDeployment(ctx, odb.NewDeployment{Module: "m.py", Action: odb.ActionDeploy, Source: src,
			ReceivedBy: "server1", Servers: []odb.ServerStatus{{Server: "server2", Status: odb.StatusPending}}})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	deployed := func(d odb.Deployment) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := store.ServerStatuses(ctx, d.ID)
			if err == nil && len(got) == 1 && got[0].Status == odb.StatusDeployed {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("deployment %d not deployed: %+v %v", d.ID, got, err)
			}
			select {
			case <-c.Hub().Wait(): // the deployer notifies after each status it records
			case <-time.After(50 * time.Millisecond):
			}
		}
	}

	d1 := create("v1") // before the deployer starts: its first look at the pending list finds it
	loopCtx, stop := context.WithCancel(ctx)
	defer stop()
	go c.deployLoop(loopCtx)
	deployed(d1)
	reads := store.pendingReads.Load()

	d2 := create("v2")
	if len(d2.Backlog) != 0 {
		t.Fatalf("backlog %v", d2.Backlog)
	}
	c.pushed(push{ID: d2.ID, Module: "m.py", Source: "v2", From: "server1"})
	deployed(d2)
	c.pushed(push{ID: d1.ID, Module: "m.py", Source: "v1", From: "server1"}) // replayed
	d3 := create("v3")
	c.pushed(push{ID: d3.ID, Module: "m.py", Source: "v3", From: "server1"})
	deployed(d3)
	if n := store.pendingReads.Load(); n != reads {
		t.Fatalf("pushed deployments read the pending list %d times", n-reads)
	}

	d4 := create("v4") // not pushed: a nudge (kick) finds it
	c.kick()
	deployed(d4)
	if got, want := rt.all(), []string{"v1", "v2", "v3", "v4"}; !slices.Equal(got, want) {
		t.Fatalf("loaded %q, want %q", got, want)
	}
}
