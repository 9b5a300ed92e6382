package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/tool"
)

// Error types carried by tool_error events.
const (
	toolErrFailed      = "tool_error"
	toolErrUnknown     = "unknown_tool"
	toolErrInvalidArgs = "invalid_arguments"
)

// toolRun is one tool call of a model turn, with its telemetry handles.
type toolRun struct {
	call    llm.ToolCall
	span    string
	eventID string // of its tool_call event
}

// runTools runs one turn's tool calls concurrently and returns one tool
// message per call, in the model's order. Every goroutine it starts has
// ended when it returns. Failures become error results the model reads.
func (r *run) runTools(ctx context.Context, calls []llm.ToolCall) []llm.Message {
	runs := make([]toolRun, len(calls))
	// tool_call events go out in the model's order, before any tool starts.
	for i, c := range calls {
		span := telemetry.NewID("span_")
		runs[i] = toolRun{
			call: c,
			span: span,
			eventID: r.emit(ctx, &telemetry.Event{
				EventType:     telemetry.EventToolCall,
				SpanID:        span,
				ParentEventID: r.lastResponseID,
				Actor:         toolActor(c.Name),
				Metadata:      r.toolMetadata(c.Name),
				Input: telemetry.JSON(map[string]any{
					"tool_call_id": c.ID,
					"name":         c.Name,
					"arguments":    eventArguments(c.Arguments),
				}),
			}),
		}
	}

	out := make([]llm.Message, len(runs))
	var wg sync.WaitGroup
	for i := range runs {
		wg.Go(func() { out[i] = r.runTool(ctx, runs[i]) })
	}
	wg.Wait()
	return out
}

// runTool runs one call and records its tool_result or tool_error event.
func (r *run) runTool(ctx context.Context, tr toolRun) llm.Message {
	start := time.Now()
	text, kind, err := r.callTool(ctx, tr.call)
	duration := time.Since(start)

	msg := llm.Message{Role: llm.RoleTool, ToolCallID: tr.call.ID, Name: tr.call.Name}
	if err != nil {
		msg.Content = err.Error()
		msg.IsError = true
		r.emit(ctx, &telemetry.Event{
			EventType:     telemetry.EventToolError,
			SpanID:        tr.span,
			ParentEventID: tr.eventID,
			Actor:         toolActor(tr.call.Name),
			Metadata:      r.toolMetadata(tr.call.Name),
			Output:        telemetry.JSON(map[string]any{"tool_call_id": tr.call.ID}),
			Error:         &telemetry.EventError{Type: kind, Message: err.Error()},
			DurationMS:    telemetry.Duration(duration),
		})
		return msg
	}
	msg.Content = text
	r.emit(ctx, &telemetry.Event{
		EventType:     telemetry.EventToolResult,
		SpanID:        tr.span,
		ParentEventID: tr.eventID,
		Actor:         toolActor(tr.call.Name),
		Metadata:      r.toolMetadata(tr.call.Name),
		Output:        telemetry.JSON(map[string]any{"tool_call_id": tr.call.ID, "result": text}),
		DurationMS:    telemetry.Duration(duration),
	})
	return msg
}

// toolMetadata marks a tool event with the tool's kind and span kind (and
// an MCP tool's server), so traces and exporters can tell MCP calls apart.
func (r *run) toolMetadata(name string) map[string]any {
	t, ok := r.a.cfg.Tools.Get(name)
	if !ok || t.Kind() != tool.KindMCP {
		return map[string]any{"tool_kind": tool.KindLocal, "span_kind": "tool.call"}
	}
	md := map[string]any{"tool_kind": tool.KindMCP, "span_kind": "mcp.tool.call"}
	if s, ok := t.(interface{ Server() string }); ok {
		md["mcp_server"] = s.Server()
	}
	return md
}

// callTool resolves and calls the tool, turning a panic into an error. kind
// is the tool_error type when err is set.
func (r *run) callTool(ctx context.Context, c llm.ToolCall) (text, kind string, err error) {
	t, ok := r.a.cfg.Tools.Get(c.Name)
	if !ok {
		return "", toolErrUnknown, fmt.Errorf("%w: %s", tool.ErrNotFound, c.Name)
	}
	args, err := normalizeArguments(c.Arguments)
	if err != nil {
		return "", toolErrInvalidArgs, fmt.Errorf("invalid arguments for tool %s: %w", c.Name, err)
	}
	defer func() {
		if v := recover(); v != nil {
			r.a.logger.Error("tool panicked", "tool", c.Name, "run_id", r.p.RunID, "panic", v, "stack", string(debug.Stack()))
			text, kind, err = "", toolErrFailed, fmt.Errorf("tool %s panicked: %v", c.Name, v)
		}
	}()
	text, err = t.Call(ctx, args)
	if err != nil {
		return "", toolErrFailed, err
	}
	return text, "", nil
}

// normalizeArguments checks that args is a JSON object. Empty arguments,
// which some providers send for tools without parameters, mean {}.
func normalizeArguments(args json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(args)
	if len(trimmed) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !json.Valid(trimmed) {
		return nil, errors.New("not valid JSON")
	}
	if trimmed[0] != '{' {
		return nil, errors.New("not a JSON object")
	}
	return args, nil
}
