package sqlstore

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// watchHub hands out one channel per watched session and closes it on
// the session's next wake-up. Followers of one session share a channel.
type watchHub struct {
	mu     sync.Mutex
	chans  map[string]chan struct{}
	closed bool
}

func newWatchHub() *watchHub { return &watchHub{chans: make(map[string]chan struct{})} }

// closedChan is returned once the hub is closed, so no one waits forever
// on a closed store.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// watch returns the channel the session's next wake-up closes.
func (h *watchHub) watch(sessionID string) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return closedChan
	}
	ch := h.chans[sessionID]
	if ch == nil {
		ch = make(chan struct{})
		h.chans[sessionID] = ch
	}
	return ch
}

// wake closes the session's channel, if anyone watches it.
func (h *watchHub) wake(sessionID string) {
	h.mu.Lock()
	ch := h.chans[sessionID]
	delete(h.chans, sessionID)
	h.mu.Unlock()
	if ch != nil {
		close(ch)
	}
}

// wakeAll closes every channel: a spurious wake-up for most, which
// followers absorb by listing again.
func (h *watchHub) wakeAll() {
	h.mu.Lock()
	chans := h.chans
	h.chans = make(map[string]chan struct{})
	h.mu.Unlock()
	for _, ch := range chans {
		close(ch)
	}
}

// close wakes every watcher and makes later watches return a closed
// channel.
func (h *watchHub) close() {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.wakeAll()
}

// poll wakes every SQLite watcher each interval until ctx ends, so
// followers see other processes' appends.
func (s *Store) poll(ctx context.Context, interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.hub.wakeAll()
		}
	}
}

// listenConnect opens the dedicated listener connection and subscribes
// to the store's channel.
func (s *Store) listenConnect(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, fmt.Errorf("connect listener: %w", dbErr(err))
	}
	if _, err := conn.Exec(ctx, `LISTEN "`+s.channel+`"`); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("listen: %w", dbErr(err))
	}
	s.listenerPID.Store(conn.PgConn().PID())
	return conn, nil
}

// listen fans notifications out to watchers until ctx ends. A
// notification's payload is the session that was appended to; an empty
// payload wakes everyone. When the connection fails it reconnects with
// backoff and then wakes everyone, since notifications sent meanwhile are
// lost.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, conn *pgx.Conn) {
	defer close(s.done)
	defer func() {
		if conn != nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = conn.Close(closeCtx)
			cancel()
		}
	}()
	backoff := 100 * time.Millisecond
	for {
		if conn == nil {
			var err error
			if conn, err = s.listenConnect(ctx, cfg); err != nil {
				if ctx.Err() != nil {
					return
				}
				s.logger.Warn("listener reconnect failed", "err", err, "retry_in", backoff)
				if !sleepCtx(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			backoff = 100 * time.Millisecond
			s.hub.wakeAll()
			if s.opts.afterListenFunc != nil {
				s.opts.afterListenFunc()
			}
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("listener connection lost", "err", err)
			_ = conn.Close(ctx)
			conn = nil
			s.hub.wakeAll()
			continue
		}
		if n.Payload == "" {
			s.hub.wakeAll()
		} else {
			s.hub.wake(n.Payload)
		}
	}
}

// sleepCtx waits d or until ctx ends, reporting false for the latter.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
