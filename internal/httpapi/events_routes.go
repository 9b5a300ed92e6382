package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// EventsListBody is the body of GET /events/{session_id}/list.
type EventsListBody struct {
	SessionID string            `json:"session_id"`
	Events    []telemetry.Event `json:"events"`
	Count     int               `json:"count"`
	// NextCursor, when set, is the sequence number to pass as cursor for
	// the next page; absent on the last page.
	NextCursor *int64 `json:"next_cursor,omitempty"`
}

// maxListEvents caps one page of GET /events/{session_id}/list, so a long
// session cannot make one response (and its buffer) grow without bound.
const maxListEvents = 10_000

type eventsListInput struct {
	SessionID string `path:"session_id" maxLength:"256" doc:"The session. Letters, digits and . _ : @ - only."`
	RunID     string `query:"run_id" doc:"Only this run."`
	Cursor    int64  `query:"cursor" minimum:"0" doc:"Only events after this sequence number (a previous page's next_cursor)."`
	Limit     int    `query:"limit" minimum:"1" maximum:"10000" doc:"At most this many events. Defaults to 10000."`
}

// Resolve implements huma.Resolver.
func (in *eventsListInput) Resolve(huma.Context) []error {
	return checkSessionID(in.SessionID, "path.session_id")
}

// StepsSummary summarises the trace of GET /events/{session_id}/trace;
// every field is null (counts zero) when the session has no such trace.
type StepsSummary struct {
	TraceID    *string `json:"trace_id"`
	RunID      *string `json:"run_id"`
	Status     *string `json:"status"`
	EventCount int     `json:"event_count"`
	SpanCount  int     `json:"span_count"`
}

// EventsTraceBody is the body of GET /events/{session_id}/trace.
type EventsTraceBody struct {
	SessionID string       `json:"session_id"`
	Summary   StepsSummary `json:"summary"`
	// Steps are the trace's events in order.
	Steps []telemetry.Event `json:"steps"`
}

// HistoryBody is the body of GET /sessions/{session_id}/history.
type HistoryBody struct {
	SessionID string        `json:"session_id"`
	Messages  []llm.Message `json:"messages"`
	Count     int           `json:"count"`
}

// ClearedBody is the body of DELETE /sessions/{session_id}.
type ClearedBody struct {
	Status    string `json:"status" example:"cleared"`
	SessionID string `json:"session_id"`
}

// checkSessionID rejects session ids outside the alphabet run.go accepts.
func checkSessionID(id, loc string) []error {
	if !sessionIDPattern.MatchString(id) {
		return []error{&huma.ErrorDetail{Location: loc, Message: "may contain only letters, digits and . _ : @ -", Value: id}}
	}
	return nil
}

type eventsStreamInput struct {
	SessionID   string `path:"session_id" maxLength:"256" doc:"The session. Letters, digits and . _ : @ - only."`
	RunID       string `query:"run_id" doc:"Only this run's events."`
	Cursor      string `query:"cursor" doc:"Resume after this event sequence number (an event frame's id). Takes precedence over Last-Event-ID."`
	LastEventID string `header:"Last-Event-ID" doc:"Resume after this event sequence number; browsers send it when they reconnect."`
	after       int64
}

// Resolve implements huma.Resolver.
func (in *eventsStreamInput) Resolve(huma.Context) []error {
	if errs := checkSessionID(in.SessionID, "path.session_id"); errs != nil {
		return errs
	}
	after, eb := resumeCursor(in.Cursor, in.LastEventID)
	if eb != nil {
		return []error{eb}
	}
	in.after = after
	return nil
}

type sessionRunInput struct {
	SessionID string `path:"session_id" maxLength:"256" doc:"The session. Letters, digits and . _ : @ - only."`
	RunID     string `query:"run_id" doc:"Only this run."`
}

// Resolve implements huma.Resolver.
func (in *sessionRunInput) Resolve(huma.Context) []error {
	return checkSessionID(in.SessionID, "path.session_id")
}

type sessionInput struct {
	SessionID string `path:"session_id" maxLength:"256" doc:"The session. Letters, digits and . _ : @ - only."`
}

// Resolve implements huma.Resolver.
func (in *sessionInput) Resolve(huma.Context) []error {
	return checkSessionID(in.SessionID, "path.session_id")
}

// sseResponses documents an event-stream response. huma adds the error
// responses to the map, so every operation needs its own.
func sseResponses() map[string]*huma.Response {
	return map[string]*huma.Response{
		"200": {Description: "An event stream.", Content: map[string]*huma.MediaType{"text/event-stream": {}}},
	}
}

// registerTelemetry adds the session event routes (/events/*, /sessions/*)
// and the /telemetry/* API; all of them need a token when auth is on.
func (a *API) registerTelemetry(api huma.API) {
	a.registerEvents(api)
	a.registerTelemetryAPI(api)
}

func (a *API) registerEvents(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "events-stream", Method: http.MethodGet, Path: "/events/{session_id}",
		Summary: "Replay a session's events, then follow new ones (Server-Sent Events)",
		Description: "Streams `session` {status: streaming}, then every stored event of the session (of one run with " +
			"`run_id`) as a frame named after its type whose `id:` is its sequence number in the session, then new events " +
			"as they are recorded. Resumes after `cursor` or the `Last-Event-ID` header, on any server sharing the event " +
			"store. A `: keep-alive` comment is sent while idle. Ends with `session` {status: ended} when the server shuts " +
			"down; a client that falls too far behind gets an `error` frame with `last_event_id` to resume from.",
		Security:  bearer,
		Errors:    []int{http.StatusUnprocessableEntity},
		Responses: sseResponses(),
	}, func(ctx context.Context, in *eventsStreamInput) (*huma.StreamResponse, error) {
		p := streamParams{sessionID: in.SessionID, runID: in.RunID, after: in.after}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			r, w := humachi.Unwrap(hctx)
			a.followStream(r, w, p)
		}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "events-list", Method: http.MethodGet, Path: "/events/{session_id}/list",
		Summary: "List a session's stored events",
		Description: "Events in sequence order, at most `limit` (10,000 by default and at most) per page; " +
			"`next_cursor` is set when more remain.",
		Security: bearer,
		Errors:   []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *eventsListInput) (*bodyOutput[EventsListBody], error) {
		limit := in.Limit
		if limit <= 0 {
			limit = maxListEvents
		}
		evs, err := a.cfg.Events.EventList(ctx, telemetry.ListParams{SessionID: in.SessionID, RunID: in.RunID, After: in.Cursor, Limit: limit + 1})
		if err != nil {
			return nil, a.storeError(ctx, "list session events", err)
		}
		body := EventsListBody{SessionID: in.SessionID}
		if len(evs) > limit {
			evs = evs[:limit]
			next := evs[limit-1].SequenceNumber
			body.NextCursor = &next
		}
		// Filter again on the run, which may be in metadata only.
		body.Events = make([]telemetry.Event, 0, len(evs))
		for _, e := range evs {
			if in.RunID == "" || e.Run() == in.RunID {
				body.Events = append(body.Events, e)
			}
		}
		body.Count = len(body.Events)
		return &bodyOutput[EventsListBody]{Body: body}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "events-trace", Method: http.MethodGet, Path: "/events/{session_id}/trace",
		Summary: "The steps of a session's latest trace, or of one run's",
		Description: "Without `run_id`, the session's latest run's agent trace; with it, that run's agent trace. " +
			"A trace of another session, or none, gives a null summary and no steps (still 200).",
		Security: bearer,
		Errors:   []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *sessionRunInput) (*bodyOutput[EventsTraceBody], error) {
		var (
			tr  telemetry.Trace
			err error
		)
		if in.RunID != "" {
			tr, err = a.cfg.Events.TraceLatestForRun(ctx, in.RunID)
		} else {
			tr, err = a.cfg.Events.TraceLatestForSession(ctx, in.SessionID)
		}
		body := EventsTraceBody{SessionID: in.SessionID, Steps: []telemetry.Event{}}
		switch {
		case errors.Is(err, telemetry.ErrNotFound):
		case err != nil:
			return nil, a.storeError(ctx, "get session trace", err)
		case tr.SessionID == in.SessionID:
			body.Summary = StepsSummary{
				TraceID: &tr.TraceID, RunID: nullable(tr.RunID), Status: &tr.Status,
				EventCount: len(tr.Events), SpanCount: len(tr.Spans),
			}
			body.Steps = tr.Events
		}
		return &bodyOutput[EventsTraceBody]{Body: body}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "session-history", Method: http.MethodGet, Path: "/sessions/{session_id}/history",
		Summary:  "The conversation the agent remembers for a session",
		Security: bearer,
		Errors:   []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *sessionInput) (*bodyOutput[HistoryBody], error) {
		msgs, err := a.cfg.Runner.History(ctx, in.SessionID)
		if err != nil {
			return nil, a.storeError(ctx, "session history", err)
		}
		if msgs == nil {
			msgs = []llm.Message{}
		}
		return &bodyOutput[HistoryBody]{Body: HistoryBody{SessionID: in.SessionID, Messages: msgs, Count: len(msgs)}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "session-clear", Method: http.MethodDelete, Path: "/sessions/{session_id}",
		Summary:     "Forget a session's conversation",
		Description: "Clears the session's memory. Its events stay in the event log, which is append-only.",
		Security:    bearer,
		Errors:      []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *sessionInput) (*bodyOutput[ClearedBody], error) {
		if err := a.cfg.Runner.ClearSession(ctx, in.SessionID); err != nil {
			return nil, a.storeError(ctx, "clear session", err)
		}
		return &bodyOutput[ClearedBody]{Body: ClearedBody{Status: "cleared", SessionID: in.SessionID}}, nil
	})
}

// storeError logs an unexpected store failure under a fresh error id and
// returns a 500 that carries only the id.
func (a *API) storeError(ctx context.Context, what string, err error) error {
	id := newErrorID()
	a.log.ErrorContext(ctx, what, slog.String("error_id", id), slog.String("error", err.Error()))
	return &ErrorBody{status: http.StatusInternalServerError, Detail: "Internal server error", ErrorID: id}
}

// nullable is nil for "", else a pointer to s.
func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
