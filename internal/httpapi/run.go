package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humachi"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// RunRequest is the body of POST /run and POST /run/sync.
type RunRequest struct {
	Query     string `json:"query" minLength:"1" doc:"The user's message."`
	SessionID string `json:"session_id,omitempty" maxLength:"256" doc:"Continue this conversation. A new id is minted when absent or empty. Letters, digits and . _ : @ - only."`
}

// Usage is the token usage of one run.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// RunMetric is the per-run metric the original returns.
type RunMetric struct {
	RequestTokens  int     `json:"request_tokens"`
	ResponseTokens int     `json:"response_tokens"`
	TotalTokens    int     `json:"total_tokens"`
	TotalTime      float64 `json:"total_time" doc:"Seconds the run took."`
}

// RunResponse is the body of a finished run: the reply of POST /run/sync
// and the data of the `complete` frame of POST /run.
type RunResponse struct {
	Response  string     `json:"response"`
	SessionID string     `json:"session_id"`
	AgentName string     `json:"agent_name"`
	Metric    *RunMetric `json:"metric"`
	TraceID   *string    `json:"trace_id" doc:"The agent trace of this run."`
	RunID     string     `json:"run_id"`
	Usage     Usage      `json:"usage"`
}

type runInput struct {
	Body RunRequest
}

var sessionIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@-]+$`)

// Resolve implements huma.Resolver: session ids end up in URL paths, so
// they are restricted to a safe alphabet.
func (in *runInput) Resolve(huma.Context) []error {
	if s := in.Body.SessionID; s != "" && !sessionIDPattern.MatchString(s) {
		return []error{&huma.ErrorDetail{Location: "body.session_id", Message: "may contain only letters, digits and . _ : @ -", Value: s}}
	}
	return nil
}

// Causes of a run context ending, besides the client going away.
var (
	errRunTimeout = errors.New("request timed out")
	errShutdown   = errors.New("server shutting down")
)

func (a *API) registerRun(api huma.API) {
	errs := []int{http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout, http.StatusInternalServerError}
	huma.Register(api, huma.Operation{
		OperationID: "run-sync", Method: http.MethodPost, Path: "/run/sync",
		Summary:      "Run the agent and return its answer",
		Description:  "Runs the agent on the query with blocking model calls and answers with the final response. Every step is recorded in the session's event log.",
		Security:     bearer,
		MaxBodyBytes: a.cfg.MaxBodyBytes,
		Errors:       errs,
	}, func(ctx context.Context, in *runInput) (*bodyOutput[RunResponse], error) {
		sessionID := in.Body.SessionID
		if sessionID == "" {
			sessionID = a.cfg.Runner.NewSessionID()
		}
		release, err := a.admit.acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer release()
		runID := telemetry.NewID("run_")
		runCtx, cancel := a.runContext(ctx)
		defer cancel()
		res, err := a.execute(runCtx, "/run/sync", in.Body.Query, sessionID, runID, false)
		if err != nil {
			status, detail := a.publicError(runCtx, err)
			return nil, detailError(status, detail)
		}
		return &bodyOutput[RunResponse]{Body: runResponse(res)}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "run", Method: http.MethodPost, Path: "/run",
		Summary: "Run the agent and stream its events (Server-Sent Events)",
		Description: "Streams `session` {status: started}, then one frame per event of this run (its `id:` is the event's " +
			"sequence number in the session), then `complete` with the final response, then `session` {status: ended}. " +
			"Failures after the stream started arrive as an `error` frame. A `: keep-alive` comment is sent while idle. " +
			"Closing the connection cancels the run.",
		Security:     bearer,
		MaxBodyBytes: a.cfg.MaxBodyBytes,
		Errors:       []int{http.StatusUnprocessableEntity, http.StatusRequestEntityTooLarge, http.StatusServiceUnavailable},
		Responses: map[string]*huma.Response{
			"200": {Description: "An event stream.", Content: map[string]*huma.MediaType{"text/event-stream": {}}},
		},
	}, func(ctx context.Context, in *runInput) (*huma.StreamResponse, error) {
		sessionID := in.Body.SessionID
		if sessionID == "" {
			sessionID = a.cfg.Runner.NewSessionID()
		}
		query := in.Body.Query
		// Refused runs get a JSON 503, not a stream; an admitted stream
		// holds its slot until it ends.
		release, err := a.admit.acquire(ctx)
		if err != nil {
			return nil, err
		}
		return &huma.StreamResponse{Body: func(hctx huma.Context) {
			defer release()
			r, w := humachi.Unwrap(hctx)
			a.streamRun(r, w, query, sessionID)
		}}, nil
	})
}

// runContext derives a run's context: it ends when the request does, when
// the request timeout passes, or when the server aborts in-flight work.
func (a *API) runContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	stop := context.AfterFunc(a.abort, func() { cancel(errShutdown) })
	cancelTimeout := context.CancelFunc(func() {})
	if a.cfg.RequestTimeout > 0 {
		ctx, cancelTimeout = context.WithTimeoutCause(ctx, a.cfg.RequestTimeout, errRunTimeout)
	}
	return ctx, func() {
		cancelTimeout()
		stop()
		cancel(nil)
	}
}

// execute runs the agent inside a serve trace: serve_request_start before,
// serve_request_end (or serve_request_error) after, all in the session's
// log with the run's id.
func (a *API) execute(ctx context.Context, path, query, sessionID, runID string, stream bool) (*agent.Result, error) {
	traceID := telemetry.NewID("trace_")
	spanID := telemetry.NewID("span_")
	actor := telemetry.Actor{Type: telemetry.ActorServe, Name: "OmniServe"}
	meta := map[string]any{"session_id": sessionID, "run_id": runID, "span_kind": "serve.request"}
	logCtx := context.WithoutCancel(ctx)
	start := &telemetry.Event{
		EventType: telemetry.EventServeRequestStart, TraceID: traceID, SpanID: spanID,
		SessionID: sessionID, RunID: runID, Actor: actor, Metadata: meta,
		Input: telemetry.JSON(struct {
			Method      string `json:"method"`
			Path        string `json:"path"`
			QueryLength int    `json:"query_length"`
			Streaming   bool   `json:"streaming"`
		}{http.MethodPost, path, len(query), stream}),
	}
	if err := a.cfg.Events.EventAppend(logCtx, start); err != nil {
		return nil, fmt.Errorf("record serve request: %w", err)
	}
	began := time.Now()
	res, err := a.cfg.Runner.Run(ctx, agent.RunParams{Query: query, SessionID: sessionID, RunID: runID, Stream: stream})
	mode := "sync"
	if stream {
		mode = "stream"
	}
	end := &telemetry.Event{
		TraceID: traceID, SpanID: spanID, ParentEventID: start.EventID,
		SessionID: sessionID, RunID: runID, Actor: actor, Metadata: meta,
		DurationMS: telemetry.Duration(time.Since(began)),
	}
	if err != nil {
		status := runStatus(ctx, err)
		end.EventType = telemetry.EventServeRequestError
		end.Output = telemetry.JSON(map[string]any{"status": status})
		_, detail := a.publicError(ctx, err)
		end.Error = &telemetry.EventError{Type: status, Message: detail, Retryable: llm.IsRetryable(err)}
		a.metrics.RunFinished(mode, status, time.Since(began))
	} else {
		end.EventType = telemetry.EventServeRequestEnd
		end.Output = telemetry.JSON(struct {
			AgentTraceID string `json:"agent_trace_id"`
			Status       string `json:"status"`
		}{res.TraceID, "completed"})
		a.metrics.RunFinished(mode, "completed", res.Duration)
	}
	if aerr := a.cfg.Events.EventAppend(logCtx, end); aerr != nil {
		a.log.Warn("record serve request end", slog.String("run_id", runID), slog.String("error", aerr.Error()))
	}
	return res, err
}

// runStatus names how a failed run ended, with the serve trace's statuses.
func runStatus(ctx context.Context, err error) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errRunTimeout):
		return "timeout"
	case errors.Is(cause, errShutdown), errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "failed"
}

// publicError maps a run failure to a status and a detail safe to show a
// client: model errors carry the provider's secret-free message, anything
// unexpected only an error id (the full text goes to the log).
func (a *API) publicError(ctx context.Context, err error) (int, string) {
	cause := context.Cause(ctx)
	var lerr *llm.Error
	switch {
	case errors.Is(cause, errRunTimeout):
		return http.StatusGatewayTimeout, fmt.Sprintf("Request timed out after %d seconds", int(a.cfg.RequestTimeout.Seconds()))
	case errors.Is(cause, errShutdown):
		return http.StatusServiceUnavailable, "Server is shutting down"
	case errors.Is(err, context.Canceled):
		return 499, "Request cancelled"
	case errors.As(err, &lerr):
		return http.StatusBadGateway, "Model error: " + lerr.Error()
	case errors.Is(err, agent.ErrMaxSteps):
		return http.StatusInternalServerError, err.Error()
	}
	id := newErrorID()
	a.log.Error("run failed", slog.String("error_id", id), slog.String("error", err.Error()))
	return http.StatusInternalServerError, "Internal error while running the agent (error id " + id + ")"
}

func runResponse(res *agent.Result) RunResponse {
	trace := res.TraceID
	return RunResponse{
		Response:  res.Response,
		SessionID: res.SessionID,
		AgentName: res.AgentName,
		Metric: &RunMetric{
			RequestTokens:  res.Usage.PromptTokens,
			ResponseTokens: res.Usage.CompletionTokens,
			TotalTokens:    res.Usage.TotalTokens,
			TotalTime:      res.Duration.Seconds(),
		},
		TraceID: &trace,
		RunID:   res.RunID,
		Usage:   Usage{PromptTokens: res.Usage.PromptTokens, CompletionTokens: res.Usage.CompletionTokens, TotalTokens: res.Usage.TotalTokens},
	}
}

// sessionFrame is the data of `session` frames.
type sessionFrame struct {
	SessionID string `json:"session_id"`
	Status    string `json:"status"`
}

// errorFrame is the data of `error` frames.
type errorFrame struct {
	Error     string `json:"error"`
	SessionID string `json:"session_id"`
	RunID     string `json:"run_id"`
}

// eventFrame is the data of a telemetry frame: the event plus its type.
type eventFrame struct {
	telemetry.Event
	Type string `json:"type"`
}

// streamRun serves POST /run once the request is valid. A resume cursor
// (?cursor= or the Last-Event-ID header) makes the frames start after that
// sequence number in the session instead of after the session's last
// event when the request arrived. Every POST starts a new run and only its
// events are sent, so the cursor can only skip frames the client already
// has; to resume a dropped run stream, use GET /events/{session_id} with
// the run_id and Last-Event-ID.
func (a *API) streamRun(r *http.Request, w http.ResponseWriter, query, sessionID string) {
	ctx := r.Context()
	resume, bad := resumeCursor(r.URL.Query().Get("cursor"), r.Header.Get("Last-Event-ID"))
	if bad != nil {
		writeJSON(w, bad.status, bad)
		return
	}
	hasResume := r.URL.Query().Get("cursor") != "" || r.Header.Get("Last-Event-ID") != ""
	runID := telemetry.NewID("run_")
	sw := newSSEWriter(w, a.cfg.SSEWriteTimeout)
	w.WriteHeader(http.StatusOK)
	defer a.metrics.SSEClientOpened()()
	if sw.event("session", 0, sessionFrame{SessionID: sessionID, Status: "started"}) != nil {
		return
	}
	cursor, err := a.cfg.Events.EventLastSequence(ctx, sessionID)
	if err != nil {
		_ = sw.event("error", 0, errorFrame{Error: "event log unavailable", SessionID: sessionID, RunID: runID})
		_ = sw.event("session", 0, sessionFrame{SessionID: sessionID, Status: "ended"})
		return
	}
	if hasResume {
		cursor = resume
	}

	runCtx, cancel := a.runContext(ctx)
	defer cancel()
	done := make(chan struct{})
	var (
		res    *agent.Result
		runErr error
	)
	go func() {
		defer close(done)
		res, runErr = a.execute(runCtx, "/run", query, sessionID, runID, true)
	}()

	end := a.pump(ctx, sw, streamParams{sessionID: sessionID, runID: runID, after: cursor, stop: done})
	if end == pumpClientGone || ctx.Err() != nil {
		cancel()
		<-done
		return
	}
	<-done
	if runErr != nil {
		_, detail := a.publicError(runCtx, runErr)
		if errors.Is(context.Cause(runCtx), errRunTimeout) {
			detail = "Request timed out"
		}
		_ = sw.event("error", 0, errorFrame{Error: detail, SessionID: sessionID, RunID: runID})
	} else {
		_ = sw.event("complete", 0, runResponse(res))
	}
	_ = sw.event("session", 0, sessionFrame{SessionID: sessionID, Status: "ended"})
}
