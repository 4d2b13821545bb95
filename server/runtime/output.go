package runtime

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"
)

// outputGate keeps what a runtime's workers print and log from growing the server's log without limit: a token
// bucket of bytes per second. Once it is empty, output is dropped until a quarter of it has filled again, with one
// note a second at most saying how much was dropped. It outlives the workers: a restart does not refill it.
type outputGate struct {
	log         *slog.Logger
	rate, burst float64 // bytes per second, and the bucket's size

	mu       sync.Mutex
	tokens   float64
	last     time.Time
	dropping bool
	dropped  int64
	lines    int64
	note     *time.Timer // logs the note a second after the first drop it reports
	stopped  bool
}

func newOutputGate(log *slog.Logger, rate, burst int) *outputGate {
	return &outputGate{log: log, rate: float64(rate), burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// admit tells whether n more bytes may go to the log; size is the whole line's length, counted when it is dropped.
func (g *outputGate) admit(n int, size int64) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	g.tokens = min(g.burst, g.tokens+now.Sub(g.last).Seconds()*g.rate)
	g.last = now
	if g.dropping && g.tokens >= g.burst/4 {
		g.dropping = false
		g.noteLocked()
	}
	if !g.dropping && !g.stopped && g.tokens >= float64(n) {
		g.tokens -= float64(n)
		return true
	}
	g.dropping = true
	g.dropped += size + 1
	g.lines++
	if g.note == nil && !g.stopped {
		g.note = time.AfterFunc(time.Second, func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.note = nil
			g.noteLocked()
		})
	}
	return false
}

func (g *outputGate) noteLocked() {
	if g.note != nil {
		g.note.Stop()
		g.note = nil
	}
	if g.dropped > 0 {
		g.log.Warn(fmt.Sprintf("%d bytes of output dropped (%d lines): the python worker wrote more than %d bytes a second",
			g.dropped, g.lines, int(g.rate)), "stream", "output")
		g.dropped, g.lines = 0, 0
	}
}

// stop logs the last note; later output is dropped silently.
func (g *outputGate) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.noteLocked()
	g.stopped = true
}

// readOutput sends what the worker writes on stream to the log, line by line, each line cut at maxLine bytes, through
// the gate; it reads until EOF whatever it drops, so that the worker never blocks on a full pipe.
func readOutput(rd io.Reader, stream string, maxLine int, g *outputGate) {
	lr := newLineReader(rd, maxLine)
	for {
		line, size, err := lr.next()
		if err != nil {
			return
		}
		if !g.admit(len(line), size) {
			continue
		}
		if cut := size - int64(len(line)); cut > 0 {
			g.log.Info(string(line)+fmt.Sprintf(" ... (a line of %d bytes, %d cut)", size, cut), "stream", stream)
			continue
		}
		g.log.Info(string(line), "stream", stream)
	}
}

// logRecord sends a service's self.logger record to the log through the gate.
func (g *outputGate) logRecord(m *logRecord) {
	if !g.admit(len(m.Msg), int64(len(m.Msg))) {
		return
	}
	lvl := slog.LevelInfo
	switch m.Level {
	case "DEBUG":
		lvl = slog.LevelDebug
	case "WARNING":
		lvl = slog.LevelWarn
	case "ERROR", "CRITICAL":
		lvl = slog.LevelError
	}
	g.log.Log(context.Background(), lvl, m.Msg, "service", m.Logger)
}
