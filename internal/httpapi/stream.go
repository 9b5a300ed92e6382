package httpapi

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// defaultMaxStreamLag is Config.MaxStreamLag's default.
const defaultMaxStreamLag = 10_000

// lagMessage is the error text of a stream cut for lagging.
const lagMessage = "stream lagging: resume with Last-Event-ID"

// streamParams selects what [API.pump] writes.
type streamParams struct {
	sessionID string
	// runID, when set, keeps only that run's events.
	runID string
	// after is the sequence number the stream resumes after.
	after int64
	// stop, when set, ends the stream once it closes and every stored
	// event has been written (POST /run closes it when the run returns).
	stop <-chan struct{}
	// follow marks a stream that only follows the log: it ends when the
	// server drains or aborts, and a client that falls more than
	// Config.MaxStreamLag events behind is cut off. A run's own stream
	// ends with its run instead, and cutting it would cancel the run.
	follow bool
}

// pumpEnd says why [API.pump] returned.
type pumpEnd int

const (
	// pumpStopped: stop closed and every event was written.
	pumpStopped pumpEnd = iota
	// pumpClientGone: a write failed or the request ended.
	pumpClientGone
	// pumpLogFailed: the event log failed; an error frame was written.
	pumpLogFailed
	// pumpLagging: the client fell behind; an error frame was written.
	pumpLagging
	// pumpShutdown: the server is draining or aborting (follow streams).
	pumpShutdown
)

// pump is the one loop behind every event stream (POST /run,
// GET /events/{session_id}, GET /telemetry/events/stream): it writes the
// session's events after p.after as SSE frames whose id is the event's
// sequence number, then follows new ones, with a keep-alive comment every
// Config.KeepAlive while idle. It holds no buffer of its own:
// [telemetry.Follow] pulls from the store in bounded batches as the
// client accepts frames, so a slow client costs one batch of memory.
//
// A follow stream ends at once when the server begins to drain or aborts.
func (a *API) pump(ctx context.Context, sw *sseWriter, p streamParams) pumpEnd {
	followCtx := ctx
	fp := telemetry.FollowParams{
		SessionID: p.sessionID, RunID: p.runID, After: p.after, Stop: p.stop, KeepAlive: a.cfg.KeepAlive,
	}
	if p.follow {
		var cancel context.CancelFunc
		followCtx, cancel = context.WithCancel(ctx)
		defer cancel()
		defer context.AfterFunc(a.abort, cancel)()
		defer context.AfterFunc(a.drain, cancel)()
		fp.MaxLag = int64(cmp.Or(a.cfg.MaxStreamLag, defaultMaxStreamLag))
	}
	for e, err := range telemetry.Follow(followCtx, a.cfg.Events, fp) {
		if err != nil {
			if lag, ok := errors.AsType[*telemetry.LagError](err); ok {
				_ = sw.event("error", 0, lagFrame{Error: lagMessage, LastEventID: lag.LastSequence, SessionID: p.sessionID})
				return pumpLagging
			}
			a.log.Warn("follow events", slog.String("session_id", p.sessionID), slog.String("run_id", p.runID), slog.String("error", err.Error()))
			_ = sw.event("error", 0, errorFrame{Error: "event log unavailable", SessionID: p.sessionID, RunID: p.runID})
			return pumpLogFailed
		}
		if e.SequenceNumber == 0 {
			err = sw.comment("keep-alive")
		} else {
			err = sw.event(e.EventType, e.SequenceNumber, eventFrame{Event: e, Type: e.EventType})
		}
		if err != nil {
			return pumpClientGone
		}
	}
	switch {
	case ctx.Err() != nil:
		return pumpClientGone
	case followCtx.Err() != nil:
		return pumpShutdown
	}
	return pumpStopped
}

// followSessionFrame is the data of the `session` frames of follow streams.
type followSessionFrame struct {
	SessionID string  `json:"session_id"`
	RunID     *string `json:"run_id"`
	Status    string  `json:"status"`
}

// lagFrame is the data of the `error` frame of a stream cut for lagging.
type lagFrame struct {
	Error string `json:"error"`
	// LastEventID is where to resume: the stream has delivered (or
	// skipped, for another run) every event up to it.
	LastEventID int64  `json:"last_event_id"`
	SessionID   string `json:"session_id"`
}

// followStream serves a follow stream once the request is valid:
// `session` {status: streaming}, the events, `session` {status: ended}.
func (a *API) followStream(r *http.Request, w http.ResponseWriter, p streamParams) {
	p.follow = true
	sw := newSSEWriter(w, a.cfg.SSEWriteTimeout)
	w.WriteHeader(http.StatusOK)
	defer a.metrics.SSEClientOpened()()
	var runID *string
	if p.runID != "" {
		runID = &p.runID
	}
	if sw.event("session", 0, followSessionFrame{SessionID: p.sessionID, RunID: runID, Status: "streaming"}) != nil {
		return
	}
	if a.pump(r.Context(), sw, p) == pumpClientGone {
		return
	}
	_ = sw.event("session", 0, followSessionFrame{SessionID: p.sessionID, RunID: runID, Status: "ended"})
}

// cursorMessage explains a bad resume cursor.
const cursorMessage = "must be a non-negative integer: the sequence number of the last event received"

// resumeCursor reads where a stream resumes: the cursor query parameter
// if present, else the Last-Event-ID header; 0 (from the start) when
// neither is. Both carry the sequence number of the last event the client
// has, which every event frame sends as its id.
func resumeCursor(query, lastEventID string) (int64, *ErrorBody) {
	value, loc := query, []string{"query", "cursor"}
	if value == "" {
		value, loc = lastEventID, []string{"header", "Last-Event-ID"}
	}
	if value == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(value, 10, 64)
	if err != nil || n < 0 {
		return 0, fieldError(cursorMessage, loc...)
	}
	return n, nil
}
