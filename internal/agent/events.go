package agent

import (
	"context"
	"encoding/json"
	"maps"
	"time"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// emit fills the run's correlation fields into e, appends it to the event
// log and returns its event id. It appends even after ctx has ended, so a
// cancelled run's last events still land; a failed append is logged, not
// returned, because the run itself has not failed. Safe for concurrent use.
func (r *run) emit(ctx context.Context, e *telemetry.Event) string {
	e.EventID = telemetry.NewID("event_")
	e.TraceID = r.traceID
	e.SessionID = r.p.SessionID
	e.RunID = r.p.RunID
	e.Timestamp = time.Now().UTC()
	e.SchemaVersion = telemetry.SchemaVersion
	if e.SpanID == "" {
		e.SpanID = r.spanID
	}
	if len(e.Metadata) == 0 {
		// Most events carry only the run's correlation fields: share one
		// map per run. Stored events are never mutated, so sharing is safe.
		e.Metadata = r.metadata
	} else {
		md := maps.Clone(r.metadata)
		maps.Copy(md, e.Metadata)
		e.Metadata = md
	}
	if err := r.a.cfg.Events.EventAppend(context.WithoutCancel(ctx), e); err != nil {
		r.a.logger.Warn("append event", "event_type", e.EventType, "run_id", r.p.RunID, "error", err)
	}
	return e.EventID
}

func (r *run) agentActor() telemetry.Actor {
	return telemetry.Actor{Type: telemetry.ActorAgent, Name: r.a.cfg.Name}
}

func (r *run) modelActor() telemetry.Actor {
	return telemetry.Actor{Type: telemetry.ActorModel, ID: r.a.cfg.Model.Provider(), Name: r.a.cfg.Model.Name()}
}

func toolActor(name string) telemetry.Actor {
	return telemetry.Actor{Type: telemetry.ActorTool, Name: name}
}

func tokenUsage(u llm.Usage) *telemetry.TokenUsage {
	return &telemetry.TokenUsage{
		PromptTokens:     u.PromptTokens,
		CompletionTokens: u.CompletionTokens,
		TotalTokens:      u.TotalTokens,
	}
}

// eventArguments keeps a model's tool arguments recordable: valid JSON is
// embedded as is, anything else (a model's malformed output) as a string.
func eventArguments(args json.RawMessage) any {
	if len(args) == 0 {
		return map[string]any{}
	}
	if json.Valid(args) {
		return args
	}
	return string(args)
}
