package telemetry

import (
	"cmp"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"
)

// Span kinds, as the original names them. An event's kind is
// metadata["span_kind"] when its emitter set one, else derived from its
// type by [SpanKind].
const (
	SpanKindAgentRun    = "agent.run"
	SpanKindAgentStep   = "agent.step"
	SpanKindModelCall   = "model.call"
	SpanKindToolBatch   = "tool.batch"
	SpanKindToolCall    = "tool.call"
	SpanKindMCPToolCall = "mcp.tool.call"
	SpanKindServe       = "serve.request"
	SpanKindBackground  = "background.run"
	SpanKindRuntime     = "runtime.control"
)

// Trace statuses. A trace is running until its terminal event arrives;
// the others name how it ended. The last four are produced by features
// this server does not have yet, but are accepted as filter values.
const (
	StatusRunning              = "running"
	StatusCompleted            = "completed"
	StatusFailed               = "failed"
	StatusCancelled            = "cancelled"
	StatusTimeout              = "timeout"
	StatusAbortedResourceGuard = "aborted_resource_guard"
	StatusAbortedSafetyGuard   = "aborted_safety_guard"
	StatusPartial              = "partial"
	StatusSuspended            = "suspended"
)

// TraceStatuses lists every trace status in the original's order.
var TraceStatuses = []string{
	StatusRunning, StatusCompleted, StatusFailed, StatusCancelled, StatusTimeout,
	StatusAbortedResourceGuard, StatusAbortedSafetyGuard, StatusPartial, StatusSuspended,
}

// ValidTraceStatus reports whether s is one of [TraceStatuses].
func ValidTraceStatus(s string) bool { return slices.Contains(TraceStatuses, s) }

// Evidence statuses of a trace: whether its events tell the whole story.
const (
	EvidenceComplete = "complete"
	EvidencePartial  = "partial"
	EvidenceUnknown  = "unknown"
)

// Trace is one execution as the original's /telemetry API shows it, built
// from its events by [BuildTrace]. Optional fields are null in JSON when
// unknown, as in the original.
type Trace struct {
	TraceID       string  `json:"trace_id"`
	RootSpanID    string  `json:"root_span_id"`
	ParentTraceID *string `json:"parent_trace_id"`
	ParentSpanID  *string `json:"parent_span_id"`
	// Incomplete is true while no terminal event has been recorded.
	Incomplete bool       `json:"incomplete"`
	Status     string     `json:"status"`
	StartedAt  time.Time  `json:"started_at"`
	EndedAt    *time.Time `json:"ended_at"`
	RunID      string     `json:"run_id"`
	SessionID  string     `json:"session_id"`
	TaskID     *string    `json:"task_id"`
	SuiteID    *string    `json:"suite_id"`
	AgentID    *string    `json:"agent_id"`
	WorkflowID *string    `json:"workflow_id"`
	Metadata   TraceMeta  `json:"metadata"`
	Spans      []Span     `json:"spans"`
	// Events are the trace's events in append order; each carries its
	// span kind in metadata["span_kind"].
	Events           []Event `json:"events"`
	SchemaVersion    int     `json:"schema_version"`
	ExecutionSurface string  `json:"execution_surface"`
	EvidenceStatus   string  `json:"evidence_status"`
}

// TraceMeta describes what produced a trace.
type TraceMeta struct {
	AgentName     *string `json:"agent_name"`
	ModelProvider *string `json:"model_provider"`
	Model         *string `json:"model"`
	// Tags label the trace: ["serve"] for a serve trace, as in the
	// original; empty otherwise.
	Tags []string `json:"tags"`
}

// Span is one timed operation of a trace: the agent run, a model call, a
// tool call or the serve request.
type Span struct {
	SpanID       string     `json:"span_id"`
	ParentSpanID *string    `json:"parent_span_id"`
	Kind         string     `json:"kind"`
	Name         string     `json:"name"`
	Status       string     `json:"status"`
	StartedAt    time.Time  `json:"started_at"`
	EndedAt      *time.Time `json:"ended_at"`
	DurationMS   *float64   `json:"duration_ms"`
	EventIDs     []string   `json:"event_ids"`
}

// Meta returns metadata[key] when it is a string, else "".
func (e *Event) Meta(key string) string {
	s, _ := e.Metadata[key].(string)
	return s
}

// Run returns the event's run id: the field, else metadata["run_id"].
func (e *Event) Run() string {
	if e.RunID != "" {
		return e.RunID
	}
	return e.Meta("run_id")
}

// SpanKind returns the kind of span e belongs to. This is the one place
// kinds are derived: metadata["span_kind"] wins when the emitter set it,
// otherwise the event type decides (events of the run itself, such as
// user_message and final_answer, are agent.run).
func SpanKind(e *Event) string {
	if k := e.Meta("span_kind"); k != "" {
		return k
	}
	t := e.EventType
	switch {
	case strings.HasPrefix(t, "serve_request_"):
		return SpanKindServe
	case strings.HasPrefix(t, "model_"):
		return SpanKindModelCall
	case strings.HasPrefix(t, "mcp_tool_"):
		return SpanKindMCPToolCall
	case strings.HasPrefix(t, "mcp_"):
		return SpanKindRuntime // connects and reconnects of MCP servers
	case strings.HasPrefix(t, "tool_batch_"):
		return SpanKindToolBatch
	case strings.HasPrefix(t, "tool_"):
		if e.Actor.Type == "mcp_server" {
			return SpanKindMCPToolCall
		}
		return SpanKindToolCall
	case t == "agent_step":
		return SpanKindAgentStep
	case strings.HasPrefix(t, "memory_read"):
		return "memory.read"
	case strings.HasPrefix(t, "memory_"):
		return "memory.write"
	case t == "workspace_offload":
		return "tool.offload"
	case strings.HasPrefix(t, "workspace_"):
		return "workspace." + strings.TrimPrefix(t, "workspace_")
	case t == "context_assembly":
		return "context.assembly"
	case t == "context_compression":
		return "context.compression"
	case strings.HasPrefix(t, "observation_pipeline_"):
		return "observation.pipeline"
	case strings.HasPrefix(t, "guardrail_"):
		return "guardrail.check"
	case strings.HasPrefix(t, "subagent_"):
		return "subagent.run"
	case strings.HasPrefix(t, "workflow_"):
		return "workflow.route"
	case strings.HasPrefix(t, "background_"):
		return SpanKindBackground
	}
	return SpanKindAgentRun
}

// TerminalStatus reports whether e ends its trace and with which status:
// final_answer and serve_request_end complete it; runtime_error ends it
// cancelled or timed out when its error type says so, else failed;
// serve_request_error ends it with its error type.
func TerminalStatus(e *Event) (string, bool) {
	switch e.EventType {
	case EventFinalAnswer, EventServeRequestEnd:
		return StatusCompleted, true
	case EventAgentEnd:
		if e.Error != nil {
			return errorStatus(e.Error), true
		}
		return StatusCompleted, true
	case EventRuntimeError, EventServeRequestError:
		return errorStatus(e.Error), true
	}
	return "", false
}

// errorStatus maps an error's type to a trace status, failed unless the
// type is itself a status other than running or completed.
func errorStatus(err *EventError) string {
	if err != nil && err.Type != StatusRunning && err.Type != StatusCompleted && ValidTraceStatus(err.Type) {
		return err.Type
	}
	return StatusFailed
}

// spanEnd reports whether e closes its span and with which status.
func spanEnd(e *Event) (string, bool) {
	if status, ok := TerminalStatus(e); ok {
		return status, true
	}
	switch e.EventType {
	case EventModelResponse, EventToolResult, "mcp_tool_result", "tool_batch_end":
		return StatusCompleted, true
	case EventModelError, EventToolError, "mcp_tool_error", "tool_batch_error":
		return StatusFailed, true
	}
	return "", false
}

// TraceFacts are the fields of a trace that queries select on, folded in
// one event at a time with [TraceFacts.Add], so a backend can keep them up
// to date on append instead of rebuilding traces to filter them.
type TraceFacts struct {
	TraceID   string
	SessionID string
	RunID     string
	TaskID    string
	SuiteID   string
	AgentID   string
	// WorkflowID, AgentName, ModelProvider and Model come from the first
	// event that names them.
	WorkflowID    string
	AgentName     string
	ModelProvider string
	Model         string
	// RootSpanID is the span of the first event; RootKind its kind.
	RootSpanID string
	RootKind   string
	// Surface is the execution surface, "interactive" unless an event's
	// metadata names another.
	Surface string
	// Status is running until a terminal event arrives.
	Status     string
	StartedAt  time.Time
	EndedAt    time.Time
	EventCount int
}

// Add folds e, the trace's next event, into f.
func (f *TraceFacts) Add(e *Event) {
	if f.EventCount == 0 {
		f.TraceID = e.TraceID
		f.SessionID = e.SessionID
		f.RootSpanID = e.SpanID
		f.RootKind = SpanKind(e)
		f.StartedAt = e.Timestamp
		f.Status = StatusRunning
		f.Surface = "interactive"
	}
	f.EventCount++
	if f.RootSpanID == "" {
		f.RootSpanID = e.SpanID
	}
	fill(&f.RunID, e.Run())
	fill(&f.TaskID, e.Meta("task_id"))
	fill(&f.SuiteID, e.Meta("suite_id"))
	fill(&f.AgentID, e.Meta("agent_id"))
	fill(&f.WorkflowID, e.Meta("workflow_id"))
	fill(&f.AgentName, e.Meta("agent_name"))
	if e.Actor.Type == ActorAgent {
		fill(&f.AgentName, e.Actor.Name)
	}
	fill(&f.ModelProvider, e.Meta("model_provider"))
	fill(&f.Model, e.Meta("model"))
	if e.Actor.Type == ActorModel {
		fill(&f.ModelProvider, e.Actor.ID)
		fill(&f.Model, e.Actor.Name)
	}
	if s := e.Meta("execution_surface"); s != "" {
		f.Surface = s
	} else if strings.HasPrefix(e.EventType, "background_") {
		f.Surface = "background"
	}
	if status, ok := TerminalStatus(e); ok {
		f.Status = status
		f.EndedAt = e.Timestamp
	}
}

// Serve reports whether the trace is a serve trace, the bracket the HTTP
// layer records around an agent run, rather than the agent's own trace.
func (f *TraceFacts) Serve() bool { return f.RootKind == SpanKindServe }

// Matches reports whether the trace passes every filter set in p.
func (f *TraceFacts) Matches(p TraceQueryParams) bool {
	return match(p.TraceID, f.TraceID) && match(p.RunID, f.RunID) && match(p.SessionID, f.SessionID) &&
		match(p.TaskID, f.TaskID) && match(p.AgentID, f.AgentID) && match(p.WorkflowID, f.WorkflowID) &&
		match(p.Model, f.Model) && match(p.Status, f.Status)
}

// EventMatches reports whether e passes every filter set in p (the cursor
// and limit aside).
func EventMatches(e *Event, p EventQueryParams) bool {
	return match(p.TraceID, e.TraceID) && match(p.RunID, e.Run()) && match(p.SessionID, e.SessionID) &&
		match(p.TaskID, e.Meta("task_id")) && (len(p.EventTypes) == 0 || slices.Contains(p.EventTypes, e.EventType))
}

func match(want, got string) bool { return want == "" || want == got }

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

// BuildTrace assembles the trace whose events are evs, in append order.
// Spans group events by span id (events without one join the root span,
// the span of the first event); every span but the root has the root as
// parent. A span ends at its closing event (model_response, tool_result,
// final_answer, …); spans still open when the trace ended take the
// trace's status. An empty evs yields a zero Trace.
func BuildTrace(evs []Event) Trace {
	if len(evs) == 0 {
		return Trace{}
	}
	var f TraceFacts
	for i := range evs {
		f.Add(&evs[i])
	}
	t := Trace{
		TraceID:          f.TraceID,
		RootSpanID:       f.RootSpanID,
		Incomplete:       f.Status == StatusRunning,
		Status:           f.Status,
		StartedAt:        f.StartedAt,
		RunID:            f.RunID,
		SessionID:        f.SessionID,
		TaskID:           optional(f.TaskID),
		SuiteID:          optional(f.SuiteID),
		AgentID:          optional(f.AgentID),
		WorkflowID:       optional(f.WorkflowID),
		Metadata:         TraceMeta{AgentName: optional(f.AgentName), ModelProvider: optional(f.ModelProvider), Model: optional(f.Model), Tags: []string{}},
		Events:           make([]Event, 0, len(evs)),
		SchemaVersion:    SchemaVersion,
		ExecutionSurface: f.Surface,
		EvidenceStatus:   EvidenceComplete,
	}
	if f.Serve() {
		t.Metadata.Tags = append(t.Metadata.Tags, "serve")
	}
	if t.Incomplete {
		t.EvidenceStatus = EvidencePartial
	} else {
		ended := f.EndedAt
		t.EndedAt = &ended
	}

	index := map[string]int{}
	for i := range evs {
		e := &evs[i]
		kind := SpanKind(e)
		t.Events = append(t.Events, withSpanKind(*e, kind))
		spanID := cmp.Or(e.SpanID, f.RootSpanID)
		n, ok := index[spanID]
		if !ok {
			n = len(t.Spans)
			index[spanID] = n
			t.Spans = append(t.Spans, Span{
				SpanID: spanID, Kind: kind, Name: spanName(e, kind),
				Status: StatusRunning, StartedAt: e.Timestamp, EventIDs: []string{},
			})
		}
		s := &t.Spans[n]
		s.EventIDs = append(s.EventIDs, e.EventID)
		if status, ok := spanEnd(e); ok {
			s.Status = status
			ended := e.Timestamp
			s.EndedAt = &ended
			s.DurationMS = e.DurationMS
			if s.DurationMS == nil {
				s.DurationMS = Duration(ended.Sub(s.StartedAt))
			}
		}
	}
	root := optional(f.RootSpanID)
	for i := range t.Spans {
		s := &t.Spans[i]
		if s.SpanID != f.RootSpanID {
			s.ParentSpanID = root
		}
		if s.Kind == SpanKindAgentRun && f.AgentName != "" {
			s.Name = f.AgentName
		}
		if s.Status == StatusRunning && !t.Incomplete {
			s.Status = t.Status
		}
	}
	return t
}

// withSpanKind returns e with metadata["span_kind"] set, copying the
// metadata map: stored events are shared and never mutated.
func withSpanKind(e Event, kind string) Event {
	if e.Meta("span_kind") == kind {
		return e
	}
	md := make(map[string]any, len(e.Metadata)+1)
	maps.Copy(md, e.Metadata)
	md["span_kind"] = kind
	e.Metadata = md
	return e
}

// spanName names a span after what it is about: the model or tool of its
// first event, or the serve request's method and path. Agent spans are
// renamed after the agent once the whole trace is known.
func spanName(e *Event, kind string) string {
	if kind == SpanKindServe {
		var in struct {
			Method string `json:"method"`
			Path   string `json:"path"`
		}
		if json.Unmarshal(e.Input, &in) == nil && in.Method != "" && in.Path != "" {
			return in.Method + " " + in.Path
		}
	}
	return cmp.Or(e.Actor.Name, kind)
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
