package otelexport

import (
	"context"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// Markers planted in prompts, model output, tool arguments and results:
// none may reach an attribute or a status.
const (
	secretQuery  = "SECRET-QUERY my card is 4111"
	secretAnswer = "SECRET-ANSWER"
	secretArgs   = "SECRET-ARGS"
	secretResult = "SECRET-RESULT"
)

// scenario builds the events one served run appends, in the shapes
// internal/httpapi (serve trace) and internal/agent (agent trace) give
// them, with timestamps one millisecond apart.
type scenario struct {
	sessionID, runID      string
	serveTrace, serveSpan string
	agentTrace, runSpan   string
	agentName             string
	at                    time.Time
	serveStartID          string
}

func newScenario(suffix string) *scenario {
	return &scenario{
		sessionID:  "session_" + suffix,
		runID:      "run_" + suffix,
		serveTrace: "trace_serve_" + suffix,
		serveSpan:  "span_serve_" + suffix,
		agentTrace: "trace_agent_" + suffix,
		runSpan:    "span_run_" + suffix,
		agentName:  "calculator",
		at:         time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	}
}

// next returns the next event's timestamp.
func (s *scenario) next() time.Time {
	s.at = s.at.Add(time.Millisecond)
	return s.at
}

func (s *scenario) serveEvent(typ string) *telemetry.Event {
	return &telemetry.Event{
		EventID: telemetry.NewID("event_"), EventType: typ, Timestamp: s.next(),
		TraceID: s.serveTrace, SpanID: s.serveSpan, SessionID: s.sessionID, RunID: s.runID,
		Actor:    telemetry.Actor{Type: telemetry.ActorServe, Name: "OmniServe"},
		Metadata: map[string]any{"session_id": s.sessionID, "run_id": s.runID, "span_kind": "serve.request"},
	}
}

func (s *scenario) agentEvent(typ, span string, actor telemetry.Actor) *telemetry.Event {
	return &telemetry.Event{
		EventID: telemetry.NewID("event_"), EventType: typ, Timestamp: s.next(),
		TraceID: s.agentTrace, SpanID: span, SessionID: s.sessionID, RunID: s.runID, Actor: actor,
		SchemaVersion: telemetry.SchemaVersion,
		Metadata:      map[string]any{"session_id": s.sessionID, "run_id": s.runID, "agent_name": s.agentName},
	}
}

func (s *scenario) serveStart() *telemetry.Event {
	e := s.serveEvent(telemetry.EventServeRequestStart)
	e.Input = telemetry.JSON(map[string]any{"method": "POST", "path": "/run", "query_length": len(secretQuery), "streaming": true})
	s.serveStartID = e.EventID
	return e
}

func (s *scenario) serveEnd() *telemetry.Event {
	e := s.serveEvent(telemetry.EventServeRequestEnd)
	e.ParentEventID = s.serveStartID
	e.Output = telemetry.JSON(map[string]any{"status": "completed", "agent_trace_id": s.agentTrace})
	e.DurationMS = telemetry.Duration(9 * time.Millisecond)
	return e
}

func (s *scenario) serveError() *telemetry.Event {
	e := s.serveEvent(telemetry.EventServeRequestError)
	e.ParentEventID = s.serveStartID
	e.Output = telemetry.JSON(map[string]any{"status": "failed"})
	e.Error = &telemetry.EventError{Type: "failed", Message: "Model error: upstream unavailable"}
	return e
}

func (s *scenario) userMessage() *telemetry.Event {
	e := s.agentEvent(telemetry.EventUserMessage, s.runSpan, telemetry.Actor{Type: telemetry.ActorUser})
	e.Input = telemetry.JSON(map[string]any{"query": secretQuery})
	return e
}

func modelActor() telemetry.Actor {
	return telemetry.Actor{Type: telemetry.ActorModel, ID: "openai", Name: "gpt-4o-mini"}
}

func (s *scenario) modelCall(span string, step int) *telemetry.Event {
	e := s.agentEvent(telemetry.EventModelCall, span, modelActor())
	e.Input = telemetry.JSON(map[string]any{"step": step, "messages": 1, "tools": 1, "streaming": true})
	return e
}

func (s *scenario) modelDelta(span string) *telemetry.Event {
	e := s.agentEvent(telemetry.EventModelDelta, span, modelActor())
	e.Output = telemetry.JSON(map[string]any{"delta": secretAnswer})
	e.Metadata["experimental"] = true
	return e
}

// modelResponse answers with text when toolCallID is empty, else with one
// call of tool calculate.
func (s *scenario) modelResponse(span, toolCallID string, in, out int) *telemetry.Event {
	e := s.agentEvent(telemetry.EventModelResponse, span, modelActor())
	calls := []map[string]any{}
	finish, content := "stop", secretAnswer
	if toolCallID != "" {
		calls = append(calls, map[string]any{"id": toolCallID, "name": "calculate", "arguments": map[string]any{"expression": secretArgs}})
		finish, content = "tool_calls", ""
	}
	e.Output = telemetry.JSON(map[string]any{"content": content, "tool_calls": calls, "finish_reason": finish})
	e.TokenUsage = &telemetry.TokenUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out}
	e.DurationMS = telemetry.Duration(time.Millisecond)
	return e
}

func (s *scenario) modelError(span string) *telemetry.Event {
	e := s.agentEvent(telemetry.EventModelError, span, modelActor())
	e.Error = &telemetry.EventError{Type: "model_error", Message: "upstream unavailable", Retryable: true}
	return e
}

func toolActor(name string) telemetry.Actor {
	return telemetry.Actor{Type: telemetry.ActorTool, Name: name}
}

func (s *scenario) toolCall(span, name, callID string) *telemetry.Event {
	e := s.agentEvent(telemetry.EventToolCall, span, toolActor(name))
	e.Input = telemetry.JSON(map[string]any{"tool_call_id": callID, "name": name, "arguments": map[string]any{"expression": secretArgs}})
	return e
}

func (s *scenario) toolResult(span, name, callID string) *telemetry.Event {
	e := s.agentEvent(telemetry.EventToolResult, span, toolActor(name))
	e.Output = telemetry.JSON(map[string]any{"tool_call_id": callID, "result": secretResult})
	return e
}

func (s *scenario) toolError(span, name, callID string) *telemetry.Event {
	e := s.agentEvent(telemetry.EventToolError, span, toolActor(name))
	e.Output = telemetry.JSON(map[string]any{"tool_call_id": callID})
	e.Error = &telemetry.EventError{Type: "tool_error", Message: "division by zero"}
	return e
}

func (s *scenario) finalAnswer(in, out int) *telemetry.Event {
	e := s.agentEvent(telemetry.EventFinalAnswer, s.runSpan, telemetry.Actor{Type: telemetry.ActorAgent, Name: s.agentName})
	e.Output = telemetry.JSON(map[string]any{"response": secretAnswer})
	e.TokenUsage = &telemetry.TokenUsage{PromptTokens: in, CompletionTokens: out, TotalTokens: in + out}
	return e
}

func (s *scenario) runtimeError() *telemetry.Event {
	e := s.agentEvent(telemetry.EventRuntimeError, s.runSpan, telemetry.Actor{Type: telemetry.ActorAgent, Name: s.agentName})
	e.Error = &telemetry.EventError{Type: "model_error", Message: "call model (step 1): upstream unavailable"}
	return e
}

// toolRun is the example: a model call that asks for calculate,
// the tool call (succeeding unless failTool), a second model call that
// answers, the final answer, all inside one served request. It uses 10+8
// and 20+5 tokens.
func (s *scenario) toolRun(failTool bool) []*telemetry.Event {
	m1, m2, t1 := "span_model1_"+s.runID, "span_model2_"+s.runID, "span_tool1_"+s.runID
	tool := s.toolResult
	if failTool {
		tool = s.toolError
	}
	return []*telemetry.Event{
		s.serveStart(),
		s.userMessage(),
		s.modelCall(m1, 1),
		s.modelResponse(m1, "call_1", 10, 8),
		s.toolCall(t1, "calculate", "call_1"),
		tool(t1, "calculate", "call_1"),
		s.modelCall(m2, 2),
		s.modelDelta(m2),
		s.modelResponse(m2, "", 20, 5),
		s.finalAnswer(30, 13),
		s.serveEnd(),
	}
}

// appendAll appends events to s in order.
func appendAll(t *testing.T, s telemetry.Store, events []*telemetry.Event) {
	t.Helper()
	for _, e := range events {
		if err := s.EventAppend(context.WithoutCancel(t.Context()), e); err != nil {
			t.Fatalf("append %s: %v", e.EventType, err)
		}
	}
}
