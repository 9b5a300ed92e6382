package telemetry_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/telemetry"
)

func TestSpanKind(t *testing.T) {
	tests := []struct {
		e    telemetry.Event
		want string
	}{
		{telemetry.Event{EventType: "user_message"}, "agent.run"},
		{telemetry.Event{EventType: "final_answer"}, "agent.run"},
		{telemetry.Event{EventType: "runtime_error"}, "agent.run"},
		{telemetry.Event{EventType: "agent_start"}, "agent.run"},
		{telemetry.Event{EventType: "model_call"}, "model.call"},
		{telemetry.Event{EventType: "model_delta"}, "model.call"},
		{telemetry.Event{EventType: "model_error"}, "model.call"},
		{telemetry.Event{EventType: "tool_call"}, "tool.call"},
		{telemetry.Event{EventType: "tool_error"}, "tool.call"},
		{telemetry.Event{EventType: "tool_call", Actor: telemetry.Actor{Type: "mcp_server"}}, "mcp.tool.call"},
		{telemetry.Event{EventType: "mcp_tool_result"}, "mcp.tool.call"},
		{telemetry.Event{EventType: "tool_batch_start"}, "tool.batch"},
		{telemetry.Event{EventType: "mcp_reconnect"}, "runtime.control"},
		{telemetry.Event{EventType: "serve_request_start"}, "serve.request"},
		{telemetry.Event{EventType: "serve_request_error"}, "serve.request"},
		{telemetry.Event{EventType: "workspace_write"}, "workspace.write"},
		{telemetry.Event{EventType: "memory_read"}, "memory.read"},
		{telemetry.Event{EventType: "background_run_started"}, "background.run"},
		// The emitter's choice wins.
		{telemetry.Event{EventType: "tool_call", Metadata: map[string]any{"span_kind": "mcp.tool.call"}}, "mcp.tool.call"},
	}
	for _, tt := range tests {
		if got := telemetry.SpanKind(&tt.e); got != tt.want {
			t.Errorf("SpanKind(%s, %v) = %s, want %s", tt.e.EventType, tt.e.Metadata, got, tt.want)
		}
	}
}

func TestTerminalStatus(t *testing.T) {
	errEvent := func(typ, errType string) telemetry.Event {
		return telemetry.Event{EventType: typ, Error: &telemetry.EventError{Type: errType}}
	}
	tests := []struct {
		name     string
		e        telemetry.Event
		want     string
		terminal bool
	}{
		{"final answer", telemetry.Event{EventType: "final_answer"}, "completed", true},
		{"serve end", telemetry.Event{EventType: "serve_request_end"}, "completed", true},
		{"agent end", telemetry.Event{EventType: "agent_end"}, "completed", true},
		{"runtime cancelled", errEvent("runtime_error", "cancelled"), "cancelled", true},
		{"runtime timeout", errEvent("runtime_error", "timeout"), "timeout", true},
		{"runtime model error", errEvent("runtime_error", "model_error"), "failed", true},
		{"runtime without error", telemetry.Event{EventType: "runtime_error"}, "failed", true},
		{"serve timeout", errEvent("serve_request_error", "timeout"), "timeout", true},
		{"serve failed", errEvent("serve_request_error", "failed"), "failed", true},
		{"serve claims completed", errEvent("serve_request_error", "completed"), "failed", true},
		{"serve unknown type", errEvent("serve_request_error", "boom"), "failed", true},
		{"model error is not terminal", errEvent("model_error", "model_error"), "", false},
		{"tool result", telemetry.Event{EventType: "tool_result"}, "", false},
	}
	for _, tt := range tests {
		got, ok := telemetry.TerminalStatus(&tt.e)
		if got != tt.want || ok != tt.terminal {
			t.Errorf("%s: got %q %v, want %q %v", tt.name, got, ok, tt.want, tt.terminal)
		}
	}
}

func TestBuildTrace(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	dur := func(ms float64) *float64 { return &ms }
	shared := map[string]any{"session_id": "s", "run_id": "run_1", "agent_name": "tester"}
	ev := func(id, typ, span string, ms int, actor telemetry.Actor) telemetry.Event {
		return telemetry.Event{
			EventID: id, EventType: typ, TraceID: "trace_1", SpanID: span, SessionID: "s", RunID: "run_1",
			Timestamp: at(ms), Actor: actor, Metadata: shared,
		}
	}
	agent := telemetry.Actor{Type: "agent", Name: "tester"}
	model := telemetry.Actor{Type: "model", ID: "openai", Name: "gpt-x"}
	tool := telemetry.Actor{Type: "tool", Name: "add"}
	evs := []telemetry.Event{
		ev("e1", "user_message", "span_run", 0, telemetry.Actor{Type: "user"}),
		ev("e2", "model_call", "span_m", 1, model),
		ev("e3", "model_response", "span_m", 5, model),
		ev("e4", "tool_call", "span_t1", 6, tool),
		ev("e5", "tool_call", "span_t2", 6, tool),
		ev("e6", "tool_result", "span_t1", 8, tool),
		ev("e7", "final_answer", "span_run", 10, agent),
	}
	evs[2].DurationMS = dur(4)
	evs[6].DurationMS = dur(10)

	tr := telemetry.BuildTrace(evs)
	end := at(10)
	root := "span_run"
	type spanView struct {
		ID, Kind, Name, Status string
		Parent                 *string
		Ended                  *time.Time
		Duration               *float64
		Events                 []string
	}
	var got []spanView
	for _, s := range tr.Spans {
		got = append(got, spanView{s.SpanID, s.Kind, s.Name, s.Status, s.ParentSpanID, s.EndedAt, s.DurationMS, s.EventIDs})
	}
	at8, at5 := at(8), at(5)
	want := []spanView{
		{"span_run", "agent.run", "tester", "completed", nil, &end, dur(10), []string{"e1", "e7"}},
		{"span_m", "model.call", "gpt-x", "completed", &root, &at5, dur(4), []string{"e2", "e3"}},
		{"span_t1", "tool.call", "add", "completed", &root, &at8, dur(2), []string{"e4", "e6"}},
		// Never closed, but the trace completed: the span takes its status.
		{"span_t2", "tool.call", "add", "completed", &root, nil, nil, []string{"e5"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	if tr.TraceID != "trace_1" || tr.RootSpanID != "span_run" || tr.Status != "completed" || tr.Incomplete ||
		tr.EndedAt == nil || !tr.EndedAt.Equal(end) || !tr.StartedAt.Equal(t0) || tr.RunID != "run_1" || tr.SessionID != "s" ||
		tr.SchemaVersion != 3 || tr.ExecutionSurface != "interactive" || tr.EvidenceStatus != "complete" {
		t.Errorf("trace = %+v", tr)
	}
	if tr.TaskID != nil || tr.AgentID != nil || tr.ParentTraceID != nil {
		t.Errorf("optional ids should be null: %+v", tr)
	}
	if *tr.Metadata.AgentName != "tester" || *tr.Metadata.ModelProvider != "openai" || *tr.Metadata.Model != "gpt-x" || len(tr.Metadata.Tags) != 0 {
		t.Errorf("metadata = %+v", tr.Metadata)
	}
	kinds := map[string]string{}
	for _, e := range tr.Events {
		kinds[e.EventID] = e.Meta("span_kind")
	}
	if kinds["e1"] != "agent.run" || kinds["e3"] != "model.call" || kinds["e6"] != "tool.call" {
		t.Errorf("event span kinds = %v", kinds)
	}
	if _, ok := shared["span_kind"]; ok {
		t.Error("BuildTrace mutated the stored events' shared metadata")
	}

	// Before its terminal event the trace is running and incomplete, and
	// so are its open spans.
	running := telemetry.BuildTrace(evs[:4])
	if running.Status != "running" || !running.Incomplete || running.EndedAt != nil || running.EvidenceStatus != "partial" {
		t.Errorf("running trace = %+v", running)
	}
	if s := running.Spans[2]; s.Status != "running" || s.EndedAt != nil {
		t.Errorf("open span = %+v", s)
	}

	if z := telemetry.BuildTrace(nil); z.TraceID != "" || z.Spans != nil {
		t.Errorf("empty trace = %+v", z)
	}
}

func TestBuildServeTrace(t *testing.T) {
	md := map[string]any{"span_kind": "serve.request"}
	tr := telemetry.BuildTrace([]telemetry.Event{
		{EventID: "e1", EventType: "serve_request_start", TraceID: "trace_s", SpanID: "span_s", SessionID: "s", RunID: "run_1",
			Input: []byte(`{"method":"POST","path":"/run/sync","streaming":false}`), Metadata: md},
		{EventID: "e2", EventType: "serve_request_error", TraceID: "trace_s", SpanID: "span_s", SessionID: "s", RunID: "run_1",
			Error: &telemetry.EventError{Type: "timeout"}, Metadata: md},
	})
	if tr.Status != "timeout" || len(tr.Spans) != 1 || tr.Spans[0].Name != "POST /run/sync" || tr.Spans[0].Status != "timeout" ||
		tr.Spans[0].Kind != "serve.request" || !cmp.Equal(tr.Metadata.Tags, []string{"serve"}) {
		t.Errorf("serve trace = %+v", tr)
	}
}
