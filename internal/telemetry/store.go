package telemetry

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"time"
)

// Sentinels backends return, so callers can branch without knowing the
// backend.
var (
	// ErrNotFound reports that no trace matches.
	ErrNotFound = errors.New("telemetry: not found")
	// ErrInvalidCursor reports a cursor this store did not hand out.
	ErrInvalidCursor = errors.New("telemetry: invalid cursor")
	// ErrLagging ends a follow whose consumer fell too far behind; see
	// [FollowParams.MaxLag] and [LagError].
	ErrLagging = errors.New("telemetry: follower lagging")
)

// ListParams selects events of one session.
type ListParams struct {
	SessionID string
	// RunID, when set, keeps only that run's events (by the RunID field,
	// else metadata["run_id"]).
	RunID string
	// After keeps events whose SequenceNumber is greater. Zero means from
	// the start.
	After int64
	// Limit caps the result; zero means no cap.
	Limit int
}

// EventQueryParams selects events across sessions. Every set field must
// match; RunID matches the event's RunID or metadata["run_id"], TaskID its
// metadata["task_id"].
type EventQueryParams struct {
	TraceID   string
	RunID     string
	SessionID string
	TaskID    string
	// EventTypes, when not empty, keeps events of these types.
	EventTypes []string
	// Cursor resumes after a page: pass the previous [EventPage.NextCursor].
	// Empty means from the start.
	Cursor string
	// Limit caps the page; zero means no cap.
	Limit int
}

// EventPage is one page of an event query.
type EventPage struct {
	// Events are in store-global append order.
	Events []Event
	// NextCursor continues after Events; empty when no more events match.
	// It is opaque: only the store that issued it understands it.
	NextCursor string
}

// TraceQueryParams selects traces; every set field must match the trace's
// [TraceFacts].
type TraceQueryParams struct {
	TraceID    string
	RunID      string
	SessionID  string
	TaskID     string
	AgentID    string
	WorkflowID string
	Model      string
	// Status is one of [TraceStatuses].
	Status string
	// Limit caps the result; zero means no cap.
	Limit int
}

// Store is the append-only event log and the traces built from it.
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
	// EventQuery returns events across sessions in store-global append
	// order (not timestamp order), one page at a time. Paging with
	// NextCursor yields every matching event exactly once, including
	// events appended between pages. A cursor the store cannot read is
	// [ErrInvalidCursor]. Backends choose the cursor: memstore uses its
	// global append counter, SQL backends their row id.
	EventQuery(ctx context.Context, p EventQueryParams) (EventPage, error)
	// TraceList returns the matching traces, the most recently started
	// first.
	TraceList(ctx context.Context, p TraceQueryParams) ([]Trace, error)
	// TraceGet returns one trace, or [ErrNotFound].
	TraceGet(ctx context.Context, traceID string) (Trace, error)
	// TraceLatestForRun returns the run's agent trace — the one whose id
	// the run reports — rather than the serve trace that brackets it: the
	// most recently started trace of the run that is not a serve trace,
	// else the most recent serve trace. [ErrNotFound] when the run has none.
	TraceLatestForRun(ctx context.Context, runID string) (Trace, error)
	// TraceLatestForSession returns the latest run's trace in the session,
	// chosen among that run's traces as TraceLatestForRun does.
	// [ErrNotFound] when the session has none.
	TraceLatestForSession(ctx context.Context, sessionID string) (Trace, error)
}

// FormatCursor renders a backend's integer position as an opaque cursor.
func FormatCursor(pos int64) string { return strconv.FormatInt(pos, 10) }

// ParseCursor reads a cursor made by [FormatCursor]; empty means 0.
func ParseCursor(c string) (int64, error) {
	if c == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %q", ErrInvalidCursor, c)
	}
	return n, nil
}

// LagError is the error [Follow] yields when its consumer fell more than
// [FollowParams.MaxLag] events behind. It matches [ErrLagging].
type LagError struct {
	// LastSequence is the last event the follow got past (yielded or
	// filtered out); resuming after it loses nothing.
	LastSequence int64
	// Behind is how many newer events were waiting.
	Behind int64
}

// Error implements error.
func (e *LagError) Error() string {
	return fmt.Sprintf("follower lagging: %d events behind after sequence %d", e.Behind, e.LastSequence)
}

// Is makes a LagError match [ErrLagging].
func (e *LagError) Is(target error) bool { return target == ErrLagging }

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
	// MaxLag, when positive, bounds how far the consumer may fall behind
	// events appended after the follow started: beyond it Follow yields a
	// [*LagError] and ends. Replaying the backlog that existed at the
	// start never counts as lag. Checked whenever a batch comes back full,
	// the only time the consumer can be behind.
	MaxLag int64
}

// Follow replays the session's events after p.After and then yields new ones
// as they are appended, in order, without gaps or duplicates. Memory use is
// bounded by p.Batch: a slow consumer only delays its own reads, and
// p.MaxLag disconnects one that falls too far behind.
func Follow(ctx context.Context, s Store, p FollowParams) iter.Seq2[Event, error] {
	batch := p.Batch
	if batch <= 0 {
		batch = 256
	}
	return func(yield func(Event, error) bool) {
		cursor := p.After
		var head int64 // the session's last sequence when the follow started
		if p.MaxLag > 0 {
			var err error
			if head, err = s.EventLastSequence(ctx, p.SessionID); err != nil {
				yield(Event{}, fmt.Errorf("follow session %s: %w", p.SessionID, err))
				return
			}
		}
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
				yield(Event{}, fmt.Errorf("follow session %s: %w", p.SessionID, err))
				return
			}
			for _, e := range events {
				cursor = e.SequenceNumber
				if p.RunID != "" && e.Run() != p.RunID {
					continue
				}
				if !yield(e, nil) {
					return
				}
			}
			if len(events) == batch {
				if p.MaxLag > 0 {
					last, err := s.EventLastSequence(ctx, p.SessionID)
					if err != nil {
						yield(Event{}, fmt.Errorf("follow session %s: %w", p.SessionID, err))
						return
					}
					if behind := last - max(cursor, head); behind > p.MaxLag {
						yield(Event{}, &LagError{LastSequence: cursor, Behind: behind})
						return
					}
				}
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
