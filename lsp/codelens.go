package lsp

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.lsp.dev/protocol"
)

// CodeLens puts "Deploy to Zato", the last result and, over a class the cluster serves, "Invoke" (and "Invoke on
// every server" when more than one server is live) over each Service class. It answers from memory only, so it
// stays fast while deployments run; a missing or old listing of the cluster's services is refreshed in the
// background, and the editor asked to refresh its lenses when it changes.
func (s *server) CodeLens(ctx context.Context, p *protocol.CodeLensParams) ([]protocol.CodeLens, error) {
	u := p.TextDocument.URI
	module := moduleName(u.FsPath())
	if module == "" {
		return []protocol.CodeLens{}, nil
	}
	s.mu.Lock()
	doc := s.docs[u]
	text := ""
	if doc != nil {
		text = doc.text
	}
	s.mu.Unlock()
	if doc == nil {
		return []protocol.CodeLens{}, nil
	}
	services := findServices(text, module)
	if len(services) == 0 {
		return []protocol.CodeLens{}, nil
	}
	arg, err := lspAny(map[string]string{"uri": string(u)})
	if err != nil {
		return nil, err
	}
	last, final, finalAt := s.lastStatus(u.FsPath())
	result := resultTitle(last, final, finalAt)
	snap := s.services(ctx, s.placeOf(u.FsPath()), false)
	out := make([]protocol.CodeLens, 0, 4*len(services))
	for _, sc := range services {
		r := protocol.Range{
			Start: protocol.Position{Line: uint32(sc.line), Character: uint32(sc.nameStart)},
			End:   protocol.Position{Line: uint32(sc.line), Character: uint32(sc.nameEnd)},
		}
		tip := fmt.Sprintf("Deploy %s (service %s) to every server", module, sc.name)
		out = append(out, protocol.CodeLens{Range: r, Command: protocol.Command{
			Title: "Deploy to Zato", Tooltip: &tip, Command: cmdDeploy, Arguments: []protocol.LSPAny{arg},
		}})
		if result != "" {
			out = append(out, protocol.CodeLens{Range: r, Command: protocol.Command{
				Title: result, Command: cmdShowStatus, Arguments: []protocol.LSPAny{arg},
			}})
		}
		if !served(snap, final, sc.name) {
			continue
		}
		iarg, err := lspAny(map[string]string{"uri": string(u), "service": sc.name})
		if err != nil {
			return nil, err
		}
		invokeTip := fmt.Sprintf("Invoke %s with its request file (.zato/requests/%s.json) and show the answer", sc.name, unsafeFileChars.ReplaceAllString(sc.name, "_"))
		out = append(out, protocol.CodeLens{Range: r, Command: protocol.Command{
			Title: "Invoke", Tooltip: &invokeTip, Command: cmdInvoke, Arguments: []protocol.LSPAny{iarg},
		}})
		if snap != nil && len(snap.liveMembers()) > 1 {
			everyTip := fmt.Sprintf("Invoke %s on each live server and compare the answers", sc.name)
			out = append(out, protocol.CodeLens{Range: r, Command: protocol.Command{
				Title: "Invoke on every server", Tooltip: &everyTip, Command: cmdInvokeEverywhere, Arguments: []protocol.LSPAny{iarg},
			}})
		}
	}
	return out, nil
}

// served reports whether a service is deployed: a server serves it as of the listing, or (before any listing, or
// for a stock Zato target, which lists nothing) the module's last deployment says so.
func served(snap *servicesSnap, final *deployStatus, name string) bool {
	if snap != nil && snap.err == nil {
		return snap.byName[name] != nil
	}
	if final == nil {
		return false
	}
	if final.State == stateAccepted {
		return true
	}
	for _, srv := range final.Servers {
		if srv.Status == "deployed" && contains(srv.Services, name) {
			return true
		}
	}
	return false
}

// resultTitle is the second lens: "Deployed 2/2 · 12:01:33", "Failed on server2", "Deploying… 1/2".
func resultTitle(last, final *deployStatus, finalAt time.Time) string {
	if last == nil {
		return ""
	}
	if !last.final() {
		if last.State == stateQueued {
			return "Zato: queued"
		}
		return fmt.Sprintf("Deploying… %d/%d", last.Confirmed, max(last.Expected, 0))
	}
	at := finalAt.Local().Format(time.TimeOnly)
	switch final.State {
	case stateDeployed:
		return fmt.Sprintf("Deployed %d/%d · %s", final.Confirmed, final.Expected, at)
	case stateAccepted:
		return "Accepted by Zato · " + at
	case statePartial:
		t := fmt.Sprintf("Deployed %d/%d", final.Confirmed, final.Expected)
		if f := serversWith(final, "failed"); f != "" {
			t += " · failed on " + f
		}
		if o := serversWith(final, "offline"); o != "" {
			t += " · offline: " + o
		}
		return t + " · " + at
	case stateUnreachable:
		return "Zato unreachable · " + at
	case stateUnauthorized:
		return "Zato: wrong username or password"
	default:
		if f := serversWith(final, "failed"); f != "" {
			return "Failed on " + f
		}
		return "Deployment failed · " + at
	}
}

func serversWith(st *deployStatus, status string) string {
	var out []string
	for _, s := range st.Servers {
		if s.Status == status {
			out = append(out, s.Name)
		}
	}
	return strings.Join(out, ", ")
}
