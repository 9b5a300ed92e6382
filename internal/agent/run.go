package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// Error types carried by runtime_error events.
const (
	failMaxSteps  = "max_steps_exceeded"
	failModel     = "model_error"
	failCancelled = "cancelled"
	failInternal  = "internal"
)

// failure tags a run error with the runtime_error type it is reported as.
type failure struct {
	kind string
	err  error
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// run is the state of one [Agent.Run] call. The mutable fields (usage,
// steps, lastResponseID) belong to the goroutine running Run; tool
// goroutines read only fields fixed before they start.
type run struct {
	a       *Agent
	p       RunParams
	traceID string
	// spanID is the run's own span; model calls and tool calls get theirs.
	spanID string
	start  time.Time
	// metadata is the correlation map shared by the run's events.
	metadata map[string]any

	usage llm.Usage
	steps int
	// lastResponseID is the event id of the latest model_response.
	lastResponseID string
}

// Run answers p.Query within the session p.SessionID, calling tools as the
// model asks, and records every step in the event log. A run that fails,
// including by cancellation, still records a runtime_error event and
// leaves the session's memory untouched.
func (a *Agent) Run(ctx context.Context, p RunParams) (*Result, error) {
	if p.Query == "" {
		return nil, errors.New("run params: Query is required")
	}
	if p.SessionID == "" {
		return nil, errors.New("run params: SessionID is required")
	}
	if p.RunID == "" {
		p.RunID = telemetry.NewID("run_")
	}
	r := &run{
		a:       a,
		p:       p,
		traceID: telemetry.NewID("trace_"),
		spanID:  telemetry.NewID("span_"),
		start:   time.Now(),
		metadata: map[string]any{
			"session_id": p.SessionID,
			"run_id":     p.RunID,
			"agent_name": a.cfg.Name,
		},
	}
	a.requests.Add(1)

	response, err := r.execute(ctx)
	duration := time.Since(r.start)
	a.totalTime.Add(int64(duration))
	if err != nil {
		return nil, r.fail(ctx, err, duration)
	}

	r.emit(ctx, &telemetry.Event{
		EventType:     telemetry.EventFinalAnswer,
		Actor:         r.agentActor(),
		ParentEventID: r.lastResponseID,
		Output: telemetry.JSON(struct {
			Response string `json:"response"`
		}{response}),
		TokenUsage: tokenUsage(r.usage),
		DurationMS: telemetry.Duration(duration),
	})
	return &Result{
		Response:  response,
		AgentName: a.cfg.Name,
		SessionID: p.SessionID,
		RunID:     p.RunID,
		TraceID:   r.traceID,
		Usage:     r.usage,
		Steps:     r.steps,
		Duration:  duration,
	}, nil
}

// execute is the loop. It returns the final answer, or an error that is a
// *failure unless it comes from the context.
func (r *run) execute(ctx context.Context) (string, error) {
	a := r.a
	r.emit(ctx, &telemetry.Event{
		EventType: telemetry.EventUserMessage,
		Actor:     telemetry.Actor{Type: telemetry.ActorUser},
		Input: telemetry.JSON(struct {
			Query string `json:"query"`
		}{r.p.Query}),
	})

	history, err := a.cfg.Memory.MessageList(ctx, r.p.SessionID)
	if err != nil {
		return "", &failure{failInternal, fmt.Errorf("load history: %w", err)}
	}
	history = recentHistory(history, a.cfg.MaxHistory)
	msgs := append(slices.Clip(history), llm.Message{Role: llm.RoleUser, Content: r.p.Query})
	turn := len(history) // msgs[turn:] is what this run adds to memory
	specs := a.cfg.Tools.Specs()

	for step := 1; ; step++ {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if step > a.cfg.MaxSteps {
			return "", &failure{failMaxSteps, fmt.Errorf("%w: the model still wanted tools after %d calls", ErrMaxSteps, a.cfg.MaxSteps)}
		}
		req := &llm.Request{
			System:      a.cfg.SystemInstruction,
			Messages:    slices.Clip(msgs),
			Tools:       specs,
			Temperature: a.cfg.Temperature,
			MaxTokens:   a.cfg.MaxTokens,
		}
		resp, err := r.callModel(ctx, step, req)
		if err != nil {
			return "", &failure{failModel, fmt.Errorf("call model (step %d): %w", step, err)}
		}
		msgs = append(msgs, resp.Message)
		if len(resp.Message.ToolCalls) == 0 {
			if err := a.cfg.Memory.MessageAppend(ctx, r.p.SessionID, msgs[turn:]...); err != nil {
				return "", &failure{failInternal, fmt.Errorf("save turn: %w", err)}
			}
			return resp.Message.Content, nil
		}
		msgs = append(msgs, r.runTools(ctx, resp.Message.ToolCalls)...)
	}
}

// fail records the runtime_error event of a failed run and returns the
// error Run reports. A run whose context ended is "cancelled" whatever
// step noticed it, and its error wraps ctx.Err().
func (r *run) fail(ctx context.Context, err error, duration time.Duration) error {
	kind := failInternal
	var f *failure
	if errors.As(err, &f) {
		kind = f.kind
		err = f.err
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		kind = failCancelled
		if !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w: %w", ctxErr, err)
		}
	}
	r.emit(ctx, &telemetry.Event{
		EventType:  telemetry.EventRuntimeError,
		Actor:      r.agentActor(),
		Error:      &telemetry.EventError{Type: kind, Message: err.Error()},
		TokenUsage: tokenUsage(r.usage),
		DurationMS: telemetry.Duration(duration),
	})
	return fmt.Errorf("run %s: %w", r.p.RunID, err)
}

// callModel makes one model call and records it: model_call, then
// model_delta per streamed text chunk, then model_response or model_error.
// The returned message is an assistant message whose tool calls all have
// ids.
func (r *run) callModel(ctx context.Context, step int, req *llm.Request) (*llm.Response, error) {
	model := r.a.cfg.Model
	span := telemetry.NewID("span_")
	callID := r.emit(ctx, &telemetry.Event{
		EventType: telemetry.EventModelCall,
		SpanID:    span,
		Actor:     r.modelActor(),
		// Structs, not maps: this is the hot path, and struct encoding
		// skips the key sort. Fields are in key order, as maps encode.
		Input: telemetry.JSON(struct {
			Messages  int  `json:"messages"`
			Step      int  `json:"step"`
			Streaming bool `json:"streaming"`
			Tools     int  `json:"tools"`
		}{len(req.Messages), step, r.p.Stream, len(req.Tools)}),
	})
	r.steps++

	start := time.Now()
	var resp *llm.Response
	var err error
	if r.p.Stream {
		resp, err = r.stream(ctx, req, span, callID)
	} else {
		resp, err = model.Generate(ctx, req)
		if err == nil && resp == nil {
			err = errors.New("model returned no response")
		}
	}
	duration := time.Since(start)
	if err != nil {
		r.emit(ctx, &telemetry.Event{
			EventType:     telemetry.EventModelError,
			SpanID:        span,
			ParentEventID: callID,
			Actor:         r.modelActor(),
			Error:         &telemetry.EventError{Type: failModel, Message: err.Error(), Retryable: llm.IsRetryable(err)},
			DurationMS:    telemetry.Duration(duration),
		})
		return nil, err
	}

	// Work on a copy: the response belongs to the model.
	out := *resp
	out.Message.Role = llm.RoleAssistant
	out.Message.ToolCalls = slices.Clone(resp.Message.ToolCalls)
	for i := range out.Message.ToolCalls {
		if out.Message.ToolCalls[i].ID == "" {
			// Tool messages must name their call; some providers send no ids.
			out.Message.ToolCalls[i].ID = telemetry.NewID("call_")
		}
	}
	r.usage = r.usage.Add(out.Usage)
	r.a.recordUsage(out.Usage)

	calls := make([]map[string]any, 0, len(out.Message.ToolCalls))
	for _, c := range out.Message.ToolCalls {
		calls = append(calls, map[string]any{"id": c.ID, "name": c.Name, "arguments": eventArguments(c.Arguments)})
	}
	r.lastResponseID = r.emit(ctx, &telemetry.Event{
		EventType:     telemetry.EventModelResponse,
		SpanID:        span,
		ParentEventID: callID,
		Actor:         r.modelActor(),
		Output: telemetry.JSON(struct {
			Content      string `json:"content"`
			FinishReason string `json:"finish_reason"`
			ToolCalls    any    `json:"tool_calls"`
		}{out.Message.Content, out.FinishReason, calls}),
		TokenUsage: tokenUsage(out.Usage),
		DurationMS: telemetry.Duration(duration),
	})
	return &out, nil
}

// stream makes a streaming call, recording a model_delta event per
// non-empty text chunk, and returns the assembled response.
func (r *run) stream(ctx context.Context, req *llm.Request, span, callID string) (*llm.Response, error) {
	for chunk, err := range r.a.cfg.Model.GenerateStream(ctx, req) {
		if err != nil {
			return nil, err
		}
		if chunk == nil {
			continue
		}
		if chunk.TextDelta != "" {
			r.emit(ctx, &telemetry.Event{
				EventType:     telemetry.EventModelDelta,
				SpanID:        span,
				ParentEventID: callID,
				Actor:         r.modelActor(),
				Output: telemetry.JSON(struct {
					Delta string `json:"delta"`
				}{chunk.TextDelta}),
				// model_delta is not in the original's closed vocabulary.
				Metadata: map[string]any{"experimental": true},
			})
		}
		if chunk.Done {
			if chunk.Response == nil {
				return nil, errors.New("stream finished without a response")
			}
			return chunk.Response, nil
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, llm.ErrStreamTruncated
}

// recentHistory keeps at most limit of the latest messages, starting at a
// user message so that no assistant tool call loses its results (or the
// reverse) at the cut.
func recentHistory(history []llm.Message, limit int) []llm.Message {
	if len(history) <= limit {
		return history
	}
	start := len(history) - limit
	for start < len(history) && history[start].Role != llm.RoleUser {
		start++
	}
	return history[start:]
}
