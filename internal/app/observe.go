package app

import (
	"context"

	"github.com/omniserve/omniserve/internal/metrics"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/tool"
)

// observedEvents counts model and tool calls in Prometheus as their events
// are appended, so metrics and the event log cannot disagree. It embeds
// the store, so every other method passes straight through.
type observedEvents struct {
	telemetry.Store
	m *metrics.Metrics
	// tools holds the agent's tools: a name the model made up is counted
	// as "unknown", so a model cannot grow the label set.
	tools *tool.Registry
}

// EventAppend appends e, then records what it says.
func (o observedEvents) EventAppend(ctx context.Context, e *telemetry.Event) error {
	err := o.Store.EventAppend(ctx, e)
	if err != nil {
		return err
	}
	switch e.EventType {
	case telemetry.EventModelResponse:
		var prompt, completion int
		if u := e.TokenUsage; u != nil {
			prompt, completion = u.PromptTokens, u.CompletionTokens
		}
		o.m.ModelCall(e.Actor.ID, e.Actor.Name, "ok", prompt, completion)
	case telemetry.EventModelError:
		o.m.ModelCall(e.Actor.ID, e.Actor.Name, "error", 0, 0)
	case telemetry.EventToolResult:
		o.m.ToolCall(o.toolLabel(e.Actor.Name), "ok")
	case telemetry.EventToolError:
		o.m.ToolCall(o.toolLabel(e.Actor.Name), "error")
	}
	return nil
}

func (o observedEvents) toolLabel(name string) string {
	if _, ok := o.tools.Get(name); ok {
		return name
	}
	return "unknown"
}
