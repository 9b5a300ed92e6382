package telemetry

import (
	"context"
	"iter"
	"time"
)

// ListParams selects events of one session.
type ListParams struct {
	SessionID string
	// RunID, when set, keeps only that run's events.
	RunID string
	// After keeps events whose SequenceNumber is greater. Zero means from
	// the start.
	After int64
	// Limit caps the result; zero means no cap.
	Limit int
}

// Store is the append-only event log.
type Store interface {
	// EventAppend stores e, filling EventID, Timestamp and SchemaVersion when
	// unset, and sets e.SequenceNumber to the session's next number.
	EventAppend(ctx context.Context, e *Event) error
	// EventList returns events in sequence order.
	EventList(ctx context.Context, p ListParams) ([]Event, error)
	// EventLastSequence returns the session's highest sequence number, 0 if none.
	EventLastSequence(ctx context.Context, sessionID string) (int64, error)
	// EventWatch returns a channel that is closed at the session's next append
	// (or earlier, spuriously). Callers re-list after it closes.
	EventWatch(sessionID string) <-chan struct{}
}

// FollowParams selects what [Follow] yields.
type FollowParams struct {
	SessionID string
	RunID     string
	// After is the resume cursor: events after this sequence are yielded.
	After int64
	// Stop ends the follow once closed and every stored event has been
	// yielded. Nil follows until ctx ends.
	Stop <-chan struct{}
	// Batch caps how many events one List call fetches. Defaults to 256.
	Batch int
	// KeepAlive, when positive, makes Follow yield a zero Event (one whose
	// SequenceNumber is 0) every such interval while it waits, so a
	// consumer can write keep-alives without a goroutine of its own.
	KeepAlive time.Duration
}

// Follow replays the session's events after p.After and then yields new ones
// as they are appended, in order, without gaps or duplicates. Memory use is
// bounded by p.Batch: a slow consumer only delays its own reads.
func Follow(ctx context.Context, s Store, p FollowParams) iter.Seq2[Event, error] {
	batch := p.Batch
	if batch <= 0 {
		batch = 256
	}
	return func(yield func(Event, error) bool) {
		cursor := p.After
		var tick <-chan time.Time
		if p.KeepAlive > 0 {
			t := time.NewTicker(p.KeepAlive)
			defer t.Stop()
			tick = t.C
		}
		for {
			// Watch before listing so an append between the two wakes us.
			changed := s.EventWatch(p.SessionID)
			stopped := isClosed(p.Stop)
			events, err := s.EventList(ctx, ListParams{SessionID: p.SessionID, After: cursor, Limit: batch})
			if err != nil {
				yield(Event{}, err)
				return
			}
			for _, e := range events {
				cursor = e.SequenceNumber
				if p.RunID != "" && e.RunID != p.RunID {
					continue
				}
				if !yield(e, nil) {
					return
				}
			}
			if len(events) == batch {
				continue
			}
			if stopped {
				return
			}
			if !waitChange(ctx, changed, p.Stop, tick, yield) {
				return
			}
		}
	}
}

// waitChange blocks until the session changes or p.Stop closes, yielding
// keep-alive ticks meanwhile. It reports false when the follow must end.
func waitChange(ctx context.Context, changed, stop <-chan struct{}, tick <-chan time.Time, yield func(Event, error) bool) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-changed:
			return true
		case <-stop:
			return true
		case <-tick:
			if !yield(Event{}, nil) {
				return false
			}
		}
	}
}

func isClosed(c <-chan struct{}) bool {
	if c == nil {
		return false
	}
	select {
	case <-c:
		return true
	default:
		return false
	}
}
