package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// TelemetryEventsBody is the body of GET /telemetry/events.
type TelemetryEventsBody struct {
	// Filters echoes the filters applied: only those given, and always
	// the limit.
	Filters map[string]any    `json:"filters"`
	Events  []telemetry.Event `json:"events"`
	Count   int               `json:"count"`
	// NextCursor fetches the next page; null on the last one.
	NextCursor *string `json:"next_cursor"`
}

// TracesBody is the body of GET /telemetry/traces.
type TracesBody struct {
	Filters map[string]any    `json:"filters"`
	Traces  []telemetry.Trace `json:"traces"`
	Count   int               `json:"count"`
}

// TraceSummary summarises one trace.
type TraceSummary struct {
	TraceID    string `json:"trace_id"`
	RunID      string `json:"run_id"`
	SessionID  string `json:"session_id"`
	Status     string `json:"status"`
	EventCount int    `json:"event_count"`
	SpanCount  int    `json:"span_count"`
}

// TraceBody is the body of the single-trace routes.
type TraceBody struct {
	Filters map[string]any  `json:"filters"`
	Summary TraceSummary    `json:"summary"`
	Trace   telemetry.Trace `json:"trace"`
}

type telemetryEventsInput struct {
	TraceID   string   `query:"trace_id"`
	RunID     string   `query:"run_id"`
	SessionID string   `query:"session_id"`
	TaskID    string   `query:"task_id"`
	EventType []string `query:"event_type,explode" doc:"Keep events of these types; repeat the parameter for several."`
	Cursor    string   `query:"cursor" doc:"The next_cursor of the previous page."`
	Limit     int      `query:"limit" default:"200" minimum:"1" maximum:"1000"`
}

type telemetryStreamInput struct {
	SessionID   string `query:"session_id" required:"true" minLength:"1" maxLength:"256" doc:"The session to follow."`
	RunID       string `query:"run_id" doc:"Only this run's events."`
	Cursor      string `query:"cursor" doc:"Resume after this event sequence number (an event frame's id). Takes precedence over Last-Event-ID."`
	LastEventID string `header:"Last-Event-ID" doc:"Resume after this event sequence number; browsers send it when they reconnect."`
	after       int64
}

// Resolve implements huma.Resolver.
func (in *telemetryStreamInput) Resolve(huma.Context) []error {
	after, eb := resumeCursor(in.Cursor, in.LastEventID)
	if eb != nil {
		return []error{eb}
	}
	in.after = after
	return nil
}

type telemetryTracesInput struct {
	TraceID    string `query:"trace_id"`
	RunID      string `query:"run_id"`
	SessionID  string `query:"session_id"`
	TaskID     string `query:"task_id"`
	AgentID    string `query:"agent_id"`
	WorkflowID string `query:"workflow_id"`
	Model      string `query:"model"`
	Status     string `query:"status" doc:"One of running, completed, failed, cancelled, timeout, aborted_resource_guard, aborted_safety_guard, partial, suspended."`
	Normalize  bool   `query:"normalize" doc:"Accepted for compatibility: traces are always returned in schema version 3."`
	Limit      int    `query:"limit" default:"100" minimum:"1" maximum:"1000"`
}

type traceIDInput struct {
	TraceID   string `path:"trace_id" maxLength:"256"`
	Normalize bool   `query:"normalize" doc:"Accepted for compatibility: traces are always returned in schema version 3."`
}

type runTraceInput struct {
	RunID     string `path:"run_id" maxLength:"256"`
	Normalize bool   `query:"normalize" doc:"Accepted for compatibility: traces are always returned in schema version 3."`
}

type sessionTraceInput struct {
	SessionID string `path:"session_id" maxLength:"256" doc:"The session. Letters, digits and . _ : @ - only."`
	Normalize bool   `query:"normalize" doc:"Accepted for compatibility: traces are always returned in schema version 3."`
}

// Resolve implements huma.Resolver.
func (in *sessionTraceInput) Resolve(huma.Context) []error {
	return checkSessionID(in.SessionID, "path.session_id")
}

// invalidStatus is the original's 422 for an unknown trace status.
func invalidStatus(s string) error {
	return detailError(http.StatusUnprocessableEntity,
		fmt.Sprintf("Invalid trace status '%s'. Expected one of: %s", s, strings.Join(telemetry.TraceStatuses, ", ")))
}

// filters collects the non-empty selectors of a query.
type filters map[string]any

func (f filters) add(name, value string) filters {
	if value != "" {
		f[name] = value
	}
	return f
}

func (a *API) registerTelemetryAPI(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "telemetry-events", Method: http.MethodGet, Path: "/telemetry/events",
		Summary: "Query events across sessions",
		Description: "Events in the order the store recorded them, filtered by every selector given, `limit` at a time " +
			"(default 200, at most 1000). Pass `next_cursor` back as `cursor` for the next page; it is null on the last.",
		Security: bearer,
		Errors:   []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *telemetryEventsInput) (*bodyOutput[TelemetryEventsBody], error) {
		p := telemetry.EventQueryParams{
			TraceID: in.TraceID, RunID: in.RunID, SessionID: in.SessionID, TaskID: in.TaskID,
			EventTypes: in.EventType, Cursor: in.Cursor, Limit: in.Limit,
		}
		page, err := a.cfg.Events.EventQuery(ctx, p)
		if errors.Is(err, telemetry.ErrInvalidCursor) {
			return nil, fieldError("not a cursor this server issued", "query", "cursor")
		}
		if err != nil {
			return nil, a.storeError(ctx, "query events", err)
		}
		f := filters{"limit": in.Limit}.add("trace_id", in.TraceID).add("run_id", in.RunID).
			add("session_id", in.SessionID).add("task_id", in.TaskID).add("cursor", in.Cursor)
		if len(in.EventType) > 0 {
			f["event_type"] = in.EventType
		}
		// Filter again on every selector, whatever the backend did.
		events := make([]telemetry.Event, 0, len(page.Events))
		for i := range page.Events {
			if telemetry.EventMatches(&page.Events[i], p) && len(events) < in.Limit {
				events = append(events, page.Events[i])
			}
		}
		return &bodyOutput[TelemetryEventsBody]{Body: TelemetryEventsBody{
			Filters: f, Events: events, Count: len(events), NextCursor: nullable(page.NextCursor),
		}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "telemetry-events-stream", Method: http.MethodGet, Path: "/telemetry/events/stream",
		Summary: "Replay a session's events, then follow new ones (Server-Sent Events)",
		Description: "The same stream as GET /events/{session_id}, with the session as a query parameter: resumes after " +
			"`cursor` or the `Last-Event-ID` header; every event frame's `id:` is its sequence number in the session.",
		Security:  bearer,
		Errors:    []int{http.StatusUnprocessableEntity},
		Responses: sseResponses(),
	}, func(ctx context.Context, in *telemetryStreamInput) (*huma.StreamResponse, error) {
		p := streamParams{sessionID: in.SessionID, runID: in.RunID, after: in.after}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			r, w := humachi.Unwrap(hctx)
			a.followStream(r, w, p)
		}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "telemetry-traces", Method: http.MethodGet, Path: "/telemetry/traces",
		Summary:     "Query traces",
		Description: "Traces built from the event log, the most recently started first, `limit` at a time (default 100, at most 1000).",
		Security:    bearer,
		Errors:      []int{http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *telemetryTracesInput) (*bodyOutput[TracesBody], error) {
		if in.Status != "" && !telemetry.ValidTraceStatus(in.Status) {
			return nil, invalidStatus(in.Status)
		}
		traces, err := a.cfg.Events.TraceList(ctx, telemetry.TraceQueryParams{
			TraceID: in.TraceID, RunID: in.RunID, SessionID: in.SessionID, TaskID: in.TaskID,
			AgentID: in.AgentID, WorkflowID: in.WorkflowID, Model: in.Model, Status: in.Status, Limit: in.Limit,
		})
		if err != nil {
			return nil, a.storeError(ctx, "list traces", err)
		}
		if traces == nil {
			traces = []telemetry.Trace{}
		}
		f := filters{"limit": in.Limit, "normalize": in.Normalize}.add("trace_id", in.TraceID).add("run_id", in.RunID).
			add("session_id", in.SessionID).add("task_id", in.TaskID).add("agent_id", in.AgentID).
			add("workflow_id", in.WorkflowID).add("model", in.Model).add("status", in.Status)
		return &bodyOutput[TracesBody]{Body: TracesBody{Filters: f, Traces: traces, Count: len(traces)}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "telemetry-trace", Method: http.MethodGet, Path: "/telemetry/traces/{trace_id}",
		Summary:  "One trace",
		Security: bearer,
		Errors:   []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *traceIDInput) (*bodyOutput[TraceBody], error) {
		tr, err := a.cfg.Events.TraceGet(ctx, in.TraceID)
		return a.traceResponse(ctx, tr, err, tr.TraceID == in.TraceID,
			filters{"trace_id": in.TraceID, "normalize": in.Normalize}, "Trace not found: "+in.TraceID)
	})

	huma.Register(api, huma.Operation{
		OperationID: "telemetry-run-trace", Method: http.MethodGet, Path: "/telemetry/runs/{run_id}/trace",
		Summary:     "A run's agent trace",
		Description: "The run's agent trace (the one whose id POST /run/sync returns), not the serve trace that brackets it.",
		Security:    bearer,
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *runTraceInput) (*bodyOutput[TraceBody], error) {
		tr, err := a.cfg.Events.TraceLatestForRun(ctx, in.RunID)
		return a.traceResponse(ctx, tr, err, tr.RunID == in.RunID,
			filters{"run_id": in.RunID, "normalize": in.Normalize}, "Trace not found for run: "+in.RunID)
	})

	huma.Register(api, huma.Operation{
		OperationID: "telemetry-session-trace", Method: http.MethodGet, Path: "/telemetry/sessions/{session_id}/trace",
		Summary:  "A session's latest trace",
		Security: bearer,
		Errors:   []int{http.StatusNotFound, http.StatusUnprocessableEntity},
	}, func(ctx context.Context, in *sessionTraceInput) (*bodyOutput[TraceBody], error) {
		tr, err := a.cfg.Events.TraceLatestForSession(ctx, in.SessionID)
		return a.traceResponse(ctx, tr, err, tr.SessionID == in.SessionID,
			filters{"session_id": in.SessionID, "normalize": in.Normalize}, "Trace not found for session: "+in.SessionID)
	})
}

// traceResponse answers a single-trace route: 404 with notFound when the
// store has no trace or returned one that does not match the selector.
func (a *API) traceResponse(ctx context.Context, tr telemetry.Trace, err error, matches bool, f filters, notFound string) (*bodyOutput[TraceBody], error) {
	switch {
	case errors.Is(err, telemetry.ErrNotFound):
		return nil, detailError(http.StatusNotFound, notFound)
	case err != nil:
		return nil, a.storeError(ctx, "get trace", err)
	case !matches:
		return nil, detailError(http.StatusNotFound, notFound)
	}
	return &bodyOutput[TraceBody]{Body: TraceBody{
		Filters: f,
		Summary: TraceSummary{
			TraceID: tr.TraceID, RunID: tr.RunID, SessionID: tr.SessionID, Status: tr.Status,
			EventCount: len(tr.Events), SpanCount: len(tr.Spans),
		},
		Trace: tr,
	}}, nil
}
