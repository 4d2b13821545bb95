package lsp

import (
	"context"
	"fmt"
	"time"

	"go.lsp.dev/protocol"
)

// progress reports one deployment through $/progress when the editor supports it, else through log messages.
// Reports go out from a goroutine of their own, in order, so the deployment never waits for the editor (creating a
// progress token is a round trip).
type progress struct {
	s      *server
	title  string
	events chan any // *protocol.WorkDoneProgressBegin, Report or End
}

// startProgress begins a progress report. The editor must accept the token first (window/workDoneProgress/create);
// an editor that refuses or does not answer in time gets log messages instead.
func (s *server) startProgress(title string) *progress {
	p := &progress{s: s, title: title, events: make(chan any, 8)}
	s.mu.Lock()
	supported := s.caps.workDoneProgress
	s.mu.Unlock()
	p.events <- &protocol.WorkDoneProgressBegin{Kind: "begin", Title: title}
	// Counted with the deployment that started it (so s.deploys is above 0 here): shutdown waits for the end to go out.
	s.deploys.Add(1)
	started := s.goFn(func() {
		defer s.deploys.Done()
		var token protocol.ProgressToken
		if supported {
			tok := protocol.String(fmt.Sprintf("zato-deploy-%d", s.progressSeq.Add(1)))
			ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
			err := s.editor.WorkDoneProgressCreate(ctx, &protocol.WorkDoneProgressCreateParams{Token: tok})
			cancel()
			if err == nil {
				token = tok
			} else {
				s.log.Debug("workDoneProgress/create", "err", err)
			}
		}
		for ev := range p.events {
			p.send(token, ev)
		}
	})
	if !started {
		s.deploys.Done()
	}
	return p
}

// report is dropped rather than waited for when reports pile up: the next one says more.
func (p *progress) report(msg string, pct uint32) {
	if len(p.events) >= cap(p.events)-1 {
		return // the last place is the end's
	}
	select {
	case p.events <- &protocol.WorkDoneProgressReport{Kind: "report", Message: &msg, Percentage: &pct}:
	default:
	}
}

func (p *progress) end(msg string) {
	p.events <- &protocol.WorkDoneProgressEnd{Kind: "end", Message: &msg}
	close(p.events)
}

func (p *progress) send(token protocol.ProgressToken, ev any) {
	if token == nil {
		switch v := ev.(type) {
		case *protocol.WorkDoneProgressBegin:
			p.s.logf(protocol.MessageTypeLog, "Zato: %s", v.Title)
		case *protocol.WorkDoneProgressReport:
			p.s.logf(protocol.MessageTypeLog, "Zato: %s: %s", p.title, *v.Message)
		}
		return // the end is the deployment's own log line
	}
	b, err := protocol.Marshal(ev)
	if err != nil {
		p.s.log.Error("encode progress", "err", err)
		return
	}
	if err := p.s.editor.Progress(p.s.ctx, &protocol.ProgressParams{Token: token, Value: protocol.LSPAny(b)}); err != nil && p.s.ctx.Err() == nil {
		p.s.log.Debug("$/progress", "err", err)
	}
}
