package odb

import (
	"context"
	"sync"
	"time"
)

// Changes.

// watchReadyWait bounds how long Changes waits for the watcher's first baseline when the database is unreachable.
const watchReadyWait = 5 * time.Second

func (s *store) Changes(ctx context.Context) <-chan Change {
	ch := make(chan Change, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		close(ch)
		return ch
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()

	s.watchOnce.Do(func() {
		go func() {
			defer close(s.watchDone)
			var once sync.Once
			s.b.watch(s.ctx, func() { once.Do(func() { close(s.ready) }) }, s.broadcast)
		}()
	})
	t := time.NewTimer(watchReadyWait)
	select {
	case <-s.ready:
	case <-ctx.Done():
	case <-s.ctx.Done():
	case <-t.C:
	}
	t.Stop()

	go func() {
		select {
		case <-ctx.Done():
		case <-s.ctx.Done():
		}
		s.unsubscribe(ch)
	}()
	return ch
}

func (s *store) broadcast(c Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		merged := c
		select {
		case old := <-ch: // one signal is already waiting: coalesce
			merged.RowsOnly = merged.RowsOnly && old.RowsOnly
		default:
		}
		ch <- merged // room for it: only broadcast sends, under s.mu
	}
}

func (s *store) unsubscribe(ch chan Change) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.subs[ch]; ok {
		delete(s.subs, ch)
		close(ch)
	}
}
