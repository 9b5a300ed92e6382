package otelexport

import (
	"cmp"
	"container/list"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.36.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// Span names. This package is the only place spans are named.
const (
	SpanServeRequest = "serve.request"
	SpanAgentRun     = "agent.run"
	SpanModelCall    = "model.call"
	SpanToolCall     = "tool.call"
	SpanMCPToolCall  = "mcp.tool.call"
)

// Attribute keys of our own, beside the semantic conventions'.
const (
	AttrSessionID    = attribute.Key("omniserve.session_id")
	AttrRunID        = attribute.Key("omniserve.run_id")
	AttrEventTraceID = attribute.Key("omniserve.event_trace_id")
	AttrEventSpanID  = attribute.Key("omniserve.event_span_id")
	AttrStreaming    = attribute.Key("omniserve.streaming")
	AttrRunStatus    = attribute.Key("omniserve.run.status")
	AttrModelStep    = attribute.Key("omniserve.model.step")
	AttrToolCalls    = attribute.Key("omniserve.model.tool_calls")
	AttrMCPServer    = attribute.Key("omniserve.mcp.server")
	// AttrIncomplete marks a span ended without its end event: evicted
	// from a full table, or still open at Shutdown.
	AttrIncomplete = attribute.Key("omniserve.incomplete")
	// AttrGenAIProviderName is gen_ai.system's name from semconv 1.37 on;
	// model.call carries both.
	AttrGenAIProviderName = attribute.Key("gen_ai.provider.name")
)

// Values of gen_ai.tool.type.
const (
	toolTypeFunction  = "function"
	toolTypeExtension = "extension"
)

// maxStatusBytes caps the error message copied into a span status.
const maxStatusBytes = 1024

// role is what an open span stands for; it decides where children attach.
type role int

const (
	roleServe role = iota + 1
	roleRun
	roleModel
	roleTool
)

// openSpan is a span waiting for its end event.
type openSpan struct {
	id      string // our span id
	role    role
	runID   string
	traceID string // our trace id
	span    trace.Span
}

// openSpans is the bounded table of open spans, oldest first, with the
// indexes children are attached through. Guarded by Exporter.mu.
type openSpans struct {
	max   int
	byID  map[string]*list.Element
	order *list.List
	// serveByRun finds a run's serve.request span; runByTrace finds the
	// agent.run span of one of our event traces.
	serveByRun map[string]*openSpan
	runByTrace map[string]*openSpan
}

func newOpenSpans(maxOpen int) *openSpans {
	return &openSpans{
		max:        maxOpen,
		byID:       make(map[string]*list.Element),
		order:      list.New(),
		serveByRun: make(map[string]*openSpan),
		runByTrace: make(map[string]*openSpan),
	}
}

// len returns how many spans are open.
func (t *openSpans) len() int { return t.order.Len() }

// has reports whether our span id is open.
func (t *openSpans) has(id string) bool {
	_, ok := t.byID[id]
	return ok
}

// add records o, first ending the oldest open span early (at at) when the
// table is full.
func (t *openSpans) add(o *openSpan, at time.Time) {
	for t.order.Len() >= t.max {
		oldest := t.remove(t.order.Front().Value.(*openSpan).id)
		endIncomplete(oldest, at)
	}
	t.byID[o.id] = t.order.PushBack(o)
	switch {
	case o.role == roleServe && o.runID != "":
		t.serveByRun[o.runID] = o
	case o.role == roleRun && o.traceID != "":
		t.runByTrace[o.traceID] = o
	}
}

// remove takes our span id out of the table and returns it, or nil when it
// is not open.
func (t *openSpans) remove(id string) *openSpan {
	el, ok := t.byID[id]
	if !ok {
		return nil
	}
	o := t.order.Remove(el).(*openSpan)
	delete(t.byID, id)
	if o.role == roleServe && t.serveByRun[o.runID] == o {
		delete(t.serveByRun, o.runID)
	}
	if o.role == roleRun && t.runByTrace[o.traceID] == o {
		delete(t.runByTrace, o.traceID)
	}
	return o
}

// endAll ends every open span early, children before parents.
func (t *openSpans) endAll(at time.Time) {
	for t.order.Len() > 0 {
		endIncomplete(t.remove(t.order.Back().Value.(*openSpan).id), at)
	}
}

func endIncomplete(o *openSpan, at time.Time) {
	o.span.SetAttributes(AttrIncomplete.Bool(true))
	o.span.End(trace.WithTimestamp(at))
}

// record maps one appended event to spans: events that open a span start
// it, events that close one end it, everything else (model_delta above
// all) is ignored without taking the lock.
func (x *Exporter) record(ctx context.Context, e *telemetry.Event) {
	r, opens := startRoles[e.EventType]
	if e.SpanID == "" || (!opens && !endTypes[e.EventType]) {
		return
	}
	at := e.Timestamp
	if at.IsZero() {
		at = time.Now()
	}
	// Decode payloads before taking the lock.
	var sh shape
	var endAttrs []attribute.KeyValue
	if opens {
		sh = startShape(e, r)
	} else {
		endAttrs = endAttributes(e)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.closed {
		return
	}
	if opens {
		x.start(ctx, e, at, r, sh)
	} else {
		x.end(e, at, endAttrs)
	}
}

// shape is what a span is started with.
type shape struct {
	name  string
	kind  trace.SpanKind
	attrs []attribute.KeyValue
}

// startRoles maps the event types that open a span to its role.
var startRoles = map[string]role{
	telemetry.EventServeRequestStart: roleServe,
	telemetry.EventUserMessage:       roleRun,
	telemetry.EventModelCall:         roleModel,
	telemetry.EventToolCall:          roleTool,
	eventMCPToolCall:                 roleTool,
}

// endTypes are the event types that close a span.
var endTypes = map[string]bool{
	telemetry.EventServeRequestEnd:   true,
	telemetry.EventServeRequestError: true,
	telemetry.EventFinalAnswer:       true,
	telemetry.EventRuntimeError:      true,
	telemetry.EventModelResponse:     true,
	telemetry.EventModelError:        true,
	telemetry.EventToolResult:        true,
	telemetry.EventToolError:         true,
	eventMCPToolResult:               true,
	eventMCPToolError:                true,
}

// The original's event types for MCP tool calls; this server records MCP
// calls as tool_* events with a marker, but accepts these too.
const (
	eventMCPToolCall   = "mcp_tool_call"
	eventMCPToolResult = "mcp_tool_result"
	eventMCPToolError  = "mcp_tool_error"
)

// start opens the span e begins, under its parent when that is open.
func (x *Exporter) start(ctx context.Context, e *telemetry.Event, at time.Time, r role, sh shape) {
	if x.spans.has(e.SpanID) {
		// A repeated start event: the first one's span stays.
		return
	}
	var parent *openSpan
	switch {
	case r == roleRun && e.RunID != "":
		parent = x.spans.serveByRun[e.RunID]
	case (r == roleModel || r == roleTool) && e.TraceID != "":
		parent = x.spans.runByTrace[e.TraceID]
	}
	if parent != nil {
		ctx = trace.ContextWithSpan(ctx, parent.span)
	}
	_, span := x.tracer.Start(ctx, sh.name,
		trace.WithTimestamp(at),
		trace.WithSpanKind(sh.kind),
		trace.WithAttributes(sh.attrs...),
	)
	x.spans.add(&openSpan{id: e.SpanID, role: r, runID: e.RunID, traceID: e.TraceID, span: span}, at)
}

// end closes the span e ends, adding what e tells about the outcome.
func (x *Exporter) end(e *telemetry.Event, at time.Time, attrs []attribute.KeyValue) {
	o := x.spans.remove(e.SpanID)
	if o == nil {
		x.logger.Debug("end event without an open span", slog.String("event_type", e.EventType), slog.String("run_id", e.RunID))
		return
	}
	o.span.SetAttributes(attrs...)
	if e.Error != nil {
		o.span.SetAttributes(semconv.ErrorTypeKey.String(e.Error.Type))
		o.span.SetStatus(codes.Error, truncate(e.Error.Message, maxStatusBytes))
	}
	o.span.End(trace.WithTimestamp(at))
}

// startShape names the span e opens and gives its kind and attributes.
func startShape(e *telemetry.Event, r role) shape {
	attrs := commonAttributes(e)
	switch r {
	case roleServe:
		var in struct {
			Method    string `json:"method"`
			Path      string `json:"path"`
			Streaming *bool  `json:"streaming"`
		}
		decode(e.Input, &in)
		if in.Method != "" {
			attrs = append(attrs, semconv.HTTPRequestMethodKey.String(in.Method))
		}
		if in.Path != "" {
			attrs = append(attrs, semconv.HTTPRoute(in.Path))
		}
		if in.Streaming != nil {
			attrs = append(attrs, AttrStreaming.Bool(*in.Streaming))
		}
		return shape{SpanServeRequest, trace.SpanKindServer, attrs}
	case roleRun:
		return shape{SpanAgentRun, trace.SpanKindInternal, append(attrs, semconv.GenAIOperationNameInvokeAgent)}
	case roleModel:
		var in struct {
			Step      *int  `json:"step"`
			Streaming *bool `json:"streaming"`
		}
		decode(e.Input, &in)
		attrs = append(attrs, semconv.GenAIOperationNameChat)
		if e.Actor.ID != "" {
			attrs = append(attrs, semconv.GenAISystemKey.String(e.Actor.ID), AttrGenAIProviderName.String(e.Actor.ID))
		}
		if e.Actor.Name != "" {
			attrs = append(attrs, semconv.GenAIRequestModel(e.Actor.Name))
		}
		if in.Step != nil {
			attrs = append(attrs, AttrModelStep.Int(*in.Step))
		}
		if in.Streaming != nil {
			attrs = append(attrs, AttrStreaming.Bool(*in.Streaming))
		}
		return shape{SpanModelCall, trace.SpanKindClient, attrs}
	default: // roleTool
		var in struct {
			ToolCallID string `json:"tool_call_id"`
			Name       string `json:"name"`
		}
		decode(e.Input, &in)
		attrs = append(attrs, semconv.GenAIOperationNameExecuteTool)
		if name := cmp.Or(e.Actor.Name, in.Name); name != "" {
			attrs = append(attrs, semconv.GenAIToolName(name))
		}
		if in.ToolCallID != "" {
			attrs = append(attrs, semconv.GenAIToolCallID(in.ToolCallID))
		}
		mcp, server := mcpTool(e)
		if !mcp {
			return shape{SpanToolCall, trace.SpanKindInternal, append(attrs, semconv.GenAIToolType(toolTypeFunction))}
		}
		attrs = append(attrs, semconv.GenAIToolType(toolTypeExtension))
		if server != "" {
			attrs = append(attrs, AttrMCPServer.String(server))
		}
		return shape{SpanMCPToolCall, trace.SpanKindInternal, attrs}
	}
}

// commonAttributes are the correlation attributes every span carries.
func commonAttributes(e *telemetry.Event) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 12)
	if e.SessionID != "" {
		attrs = append(attrs, AttrSessionID.String(e.SessionID), semconv.GenAIConversationID(e.SessionID))
	}
	if e.RunID != "" {
		attrs = append(attrs, AttrRunID.String(e.RunID))
	}
	if e.TraceID != "" {
		attrs = append(attrs, AttrEventTraceID.String(e.TraceID))
	}
	attrs = append(attrs, AttrEventSpanID.String(e.SpanID))
	if name := metadataString(e, "agent_name"); name != "" {
		attrs = append(attrs, semconv.GenAIAgentName(name))
	}
	return attrs
}

// endAttributes are what an end event adds: token usage, and for model
// and serve spans the outcome their output names.
func endAttributes(e *telemetry.Event) []attribute.KeyValue {
	var attrs []attribute.KeyValue
	// All-zero usage means the provider reported none.
	if u := e.TokenUsage; u != nil && (u.PromptTokens != 0 || u.CompletionTokens != 0) {
		attrs = append(attrs, semconv.GenAIUsageInputTokens(u.PromptTokens), semconv.GenAIUsageOutputTokens(u.CompletionTokens))
	}
	switch e.EventType {
	case telemetry.EventModelResponse:
		var out struct {
			FinishReason string            `json:"finish_reason"`
			ToolCalls    []json.RawMessage `json:"tool_calls"`
		}
		decode(e.Output, &out)
		if out.FinishReason != "" {
			attrs = append(attrs, semconv.GenAIResponseFinishReasons(out.FinishReason))
		}
		attrs = append(attrs, AttrToolCalls.Int(len(out.ToolCalls)))
	case telemetry.EventServeRequestEnd, telemetry.EventServeRequestError:
		var out struct {
			Status string `json:"status"`
		}
		decode(e.Output, &out)
		if out.Status != "" {
			attrs = append(attrs, AttrRunStatus.String(out.Status))
		}
	}
	return attrs
}

// mcpTool reports whether a tool event is about an MCP tool, and the
// server's name when the event gives it.
func mcpTool(e *telemetry.Event) (mcp bool, server string) {
	server = metadataString(e, "mcp_server")
	if id, ok := strings.CutPrefix(e.Actor.ID, "mcp:"); ok {
		return true, cmp.Or(server, id)
	}
	mcp = server != "" ||
		e.EventType == eventMCPToolCall ||
		e.Actor.ID == "mcp" ||
		e.Actor.Type == "mcp_server" ||
		metadataString(e, "tool_kind") == "mcp" ||
		metadataString(e, "span_kind") == SpanMCPToolCall
	return mcp, server
}

func metadataString(e *telemetry.Event, key string) string {
	s, _ := e.Metadata[key].(string)
	return s
}

// decode reads the few fields v names from an event's input or output; a
// payload of another shape leaves v empty, which only drops attributes.
func decode(raw json.RawMessage, v any) {
	if len(raw) == 0 {
		return
	}
	_ = json.Unmarshal(raw, v)
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
