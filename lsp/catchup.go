package lsp

import (
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/wire"
)

// A deployment that ended with servers offline is not over for them: each applies the module's newest deployment when
// it starts again (no deployment misses a server for good). The editor's status follows it: while the module's last
// status is that deployment, the deployment is looked at again, less and less often, and a new status goes out when
// an offline server's row changes (deployed, or failed with its error at its line).

// catchUpFirst and catchUpMax bound the time between two looks at a deployment that waits for offline servers.
const (
	catchUpFirst = time.Second
	catchUpMax   = 30 * time.Second
)

// offline counts a deployment's rows that wait for their server to start again.
func offline(d deployclient.Deployment) int { return wire.Summarize(d.Action, d.Servers).Offline }

// followCatchUp watches d, which ended with servers offline, until none is, a newer save of the module (or another
// deployment of it) takes over, or the session ends.
func (s *server) followCatchUp(m *moduleState, base deployStatus, req deployRequest, cl *deployclient.Client, d deployclient.Deployment, elapsedMs float64) {
	if offline(d) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.goDeployLocked(func() {
		wait := catchUpFirst
		for offline(d) > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.deployCtx.Done():
				t.Stop()
				return
			}
			wait = min(2*wait, catchUpMax)
			if !s.stillLast(m, d.ID) {
				return
			}
			now, err := cl.Deployment(s.deployCtx, d.ID, 0)
			if err != nil || sameRows(now, d) {
				continue // a server that does not answer, or nothing new: look again later
			}
			d = now
			if !s.stillLast(m, d.ID) {
				return
			}
			st := fromDeployment(base, d)
			st.ElapsedMs = elapsedMs
			st.State, st.Message = finalState(d, elapsedMs)
			st.Settled = true
			s.finish(m, &st, &d, req)
		}
	})
}

// stillLast reports whether the module's latest status is about deployment id, with no newer save waiting.
func (s *server) stillLast(m *moduleState, id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return m.last != nil && m.last.DeploymentID == id && m.pending == nil && !m.running
}

// sameRows reports whether two views of a deployment say the same of every server.
func sameRows(a, b deployclient.Deployment) bool {
	if len(a.Servers) != len(b.Servers) {
		return false
	}
	for i := range a.Servers {
		if a.Servers[i].Name != b.Servers[i].Name || a.Servers[i].Status != b.Servers[i].Status {
			return false
		}
	}
	return true
}
