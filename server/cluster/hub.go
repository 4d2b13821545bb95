package cluster

import "sync"

// Hub wakes whoever waits for "something may have changed": long-polls, SSE streams. It is a generation broadcast:
// Wait returns a channel closed at the next Notify, so waiters never miss a change made after they asked.
type Hub struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewHub returns a ready Hub.
func NewHub() *Hub { return &Hub{ch: make(chan struct{})} }

// Wait returns a channel closed at the next Notify.
func (h *Hub) Wait() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ch
}

// Notify wakes every current waiter.
func (h *Hub) Notify() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.ch)
	h.ch = make(chan struct{})
}
