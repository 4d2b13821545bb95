package procs

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A starting server tells the process that started it how the start goes, on the pipe named by ReadyFDEnv: a line
// "progress WHAT" as each long step begins, then its URL once it is live. Each step gives the parent's timeout
// afresh, so a start that keeps moving (service-sources.txt entries that take their import time each, a module that
// hangs until its import timeout) is never killed for being slow in all, and one that stops moving still is.

const progressPrefix = "progress "

// Notifier is the starting server's end of the pipe; a nil one (no parent waits) says nothing.
type Notifier struct {
	mu sync.Mutex
	f  *os.File // nil once the server said it is ready
}

// Notify returns the end of the pipe the parent passed, nil without one.
func Notify() *Notifier {
	fd, err := strconv.ParseUint(os.Getenv(ReadyFDEnv), 10, 64) // an fd on Unix, a handle on Windows
	os.Unsetenv(ReadyFDEnv)                                     // not the python workers' to use
	if err != nil {
		return nil
	}
	f := os.NewFile(uintptr(fd), "ready")
	if f == nil {
		return nil
	}
	return &Notifier{f: f}
}

// Progress says that a long step of the start begins.
func (n *Notifier) Progress(what string) {
	n.say(progressPrefix+strings.ReplaceAll(what, "\n", " "), false)
}

// Ready says the server is live at url, and closes the pipe.
func (n *Notifier) Ready(url string) { n.say(url, true) }

// say writes one line, unless the pipe is closed already; last closes it.
func (n *Notifier) say(line string, last bool) {
	if n == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.f == nil {
		return
	}
	fmt.Fprintln(n.f, line)
	if last {
		n.f.Close()
		n.f = nil
	}
}

// readiness is the parent's end: the lines the server writes, until it closes the pipe (or dies).
type readiness struct {
	lines chan string
	done  chan struct{}
}

func readLines(f *os.File) *readiness {
	rd := &readiness{lines: make(chan string), done: make(chan struct{})}
	go func() {
		defer close(rd.lines)
		br := bufio.NewReader(f)
		for {
			s, err := br.ReadString('\n')
			if s = strings.TrimSpace(s); s != "" {
				select {
				case rd.lines <- s:
				case <-rd.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return rd
}

// stop ends the reading goroutine once the caller no longer listens.
func (rd *readiness) stop() { close(rd.done) }

// waitReady waits for the server's URL, timeout at most between two lines. It returns the URL; "" with ok when the
// pipe ended first (the server exited); !ok at the timeout, with the last step the server said it began.
func (rd *readiness) waitReady(timeout time.Duration, cancel <-chan struct{}) (url, last string, ok bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case s, open := <-rd.lines:
			if !open {
				return "", last, true
			}
			if what, isProgress := strings.CutPrefix(s, progressPrefix); isProgress {
				last = what
				timer.Reset(timeout)
				continue
			}
			return s, last, true
		case <-timer.C:
			return "", last, false
		case <-cancel:
			return "", last, false
		}
	}
}
