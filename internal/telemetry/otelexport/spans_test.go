package otelexport

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/telemetry/telemetrytest"
)

type testBundle struct {
	x     *Exporter
	tp    *sdktrace.TracerProvider
	rec   *tracetest.SpanRecorder
	inner *memstore.Store
	store telemetry.Store
}

// setup records spans synchronously through an injected tracer provider.
func setup(t *testing.T, maxOpen int) *testBundle {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	x, err := New(t.Context(), Config{TracerProvider: tp, MaxOpenSpans: maxOpen})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := x.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		_ = tp.Shutdown(context.Background())
	})
	inner := memstore.New()
	return &testBundle{x: x, tp: tp, rec: rec, inner: inner, store: x.Wrap(inner)}
}

// ended returns the spans ended so far.
func (b *testBundle) ended() []gotSpan {
	var out []gotSpan
	for _, s := range b.rec.Ended() {
		out = append(out, fromSDK(s))
	}
	return out
}

func fromSDK(s sdktrace.ReadOnlySpan) gotSpan {
	g := gotSpan{
		Name:          s.Name(),
		TraceID:       s.SpanContext().TraceID().String(),
		SpanID:        s.SpanContext().SpanID().String(),
		Kind:          s.SpanKind().String(),
		Start:         s.StartTime(),
		End:           s.EndTime(),
		Attrs:         map[string]any{},
		Error:         s.Status().Code == codes.Error,
		StatusMessage: s.Status().Description,
	}
	if s.Parent().IsValid() {
		g.ParentID = s.Parent().SpanID().String()
	}
	for _, kv := range s.Attributes() {
		g.Attrs[string(kv.Key)] = kv.Value.AsInterface()
	}
	return g
}

func TestServedRunSpanTree(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	sc := newScenario("tree")
	events := sc.toolRun(false)
	appendAll(t, b.store, events)
	spans := b.ended()

	want := []string{
		" > serve.request",
		"agent.run > model.call",
		"agent.run > model.call",
		"agent.run > tool.call",
		"serve.request > agent.run",
	}
	if diff := cmp.Diff(want, tree(spans)); diff != "" {
		t.Errorf("span tree (-want +got):\n%s", diff)
	}
	if n := len(traces(spans)); n != 1 {
		t.Errorf("got %d traces, want 1", n)
	}
	if n := b.x.openCount(); n != 0 {
		t.Errorf("%d spans still open, want 0", n)
	}

	// Spans start and end at their events' timestamps.
	byType := map[string][]time.Time{}
	for _, e := range events {
		byType[e.EventType] = append(byType[e.EventType], e.Timestamp)
	}
	models := named(spans, SpanModelCall)
	type times struct{ Start, End time.Time }
	gotTimes := map[string]times{
		SpanServeRequest: {one(t, spans, SpanServeRequest).Start, one(t, spans, SpanServeRequest).End},
		SpanAgentRun:     {one(t, spans, SpanAgentRun).Start, one(t, spans, SpanAgentRun).End},
		SpanToolCall:     {one(t, spans, SpanToolCall).Start, one(t, spans, SpanToolCall).End},
		"model.call#1":   {models[0].Start, models[0].End},
		"model.call#2":   {models[1].Start, models[1].End},
	}
	wantTimes := map[string]times{
		SpanServeRequest: {byType[telemetry.EventServeRequestStart][0], byType[telemetry.EventServeRequestEnd][0]},
		SpanAgentRun:     {byType[telemetry.EventUserMessage][0], byType[telemetry.EventFinalAnswer][0]},
		SpanToolCall:     {byType[telemetry.EventToolCall][0], byType[telemetry.EventToolResult][0]},
		"model.call#1":   {byType[telemetry.EventModelCall][0], byType[telemetry.EventModelResponse][0]},
		"model.call#2":   {byType[telemetry.EventModelCall][1], byType[telemetry.EventModelResponse][1]},
	}
	if diff := cmp.Diff(wantTimes, gotTimes); diff != "" {
		t.Errorf("span times (-want +got):\n%s", diff)
	}

	gotKinds := map[string]string{}
	for _, s := range spans {
		gotKinds[s.Name] = s.Kind
	}
	wantKinds := map[string]string{SpanServeRequest: "server", SpanAgentRun: "internal", SpanModelCall: "client", SpanToolCall: "internal"}
	if diff := cmp.Diff(wantKinds, gotKinds); diff != "" {
		t.Errorf("span kinds (-want +got):\n%s", diff)
	}
}

// checkAttributes asserts the attributes of the spans of
// [scenario.toolRun]; the SDK and OTLP tests share it.
func checkAttributes(t *testing.T, sc *scenario, spans []gotSpan) {
	t.Helper()
	common := func(trace, span string) map[string]any {
		return map[string]any{
			"omniserve.session_id":     sc.sessionID,
			"gen_ai.conversation.id":   sc.sessionID,
			"omniserve.run_id":         sc.runID,
			"omniserve.event_trace_id": trace,
			"omniserve.event_span_id":  span,
		}
	}
	with := func(m map[string]any, more map[string]any) map[string]any {
		for k, v := range more {
			m[k] = v
		}
		return m
	}
	models := named(spans, SpanModelCall)
	if len(models) != 2 {
		t.Fatalf("got %d model.call spans, want 2", len(models))
	}
	cases := []struct {
		name string
		span gotSpan
		want map[string]any
	}{
		{"serve.request", one(t, spans, SpanServeRequest), with(common(sc.serveTrace, sc.serveSpan), map[string]any{
			"http.request.method":  "POST",
			"http.route":           "/run",
			"omniserve.streaming":  true,
			"omniserve.run.status": "completed",
			"gen_ai.agent.name":    "<absent>",
		})},
		{"agent.run", one(t, spans, SpanAgentRun), with(common(sc.agentTrace, sc.runSpan), map[string]any{
			"gen_ai.operation.name":      "invoke_agent",
			"gen_ai.agent.name":          "calculator",
			"gen_ai.usage.input_tokens":  int64(30),
			"gen_ai.usage.output_tokens": int64(13),
		})},
		{"model.call 1", models[0], with(common(sc.agentTrace, "span_model1_"+sc.runID), map[string]any{
			"gen_ai.operation.name":          "chat",
			"gen_ai.system":                  "openai",
			"gen_ai.provider.name":           "openai",
			"gen_ai.request.model":           "gpt-4o-mini",
			"gen_ai.agent.name":              "calculator",
			"gen_ai.response.finish_reasons": []string{"tool_calls"},
			"gen_ai.usage.input_tokens":      int64(10),
			"gen_ai.usage.output_tokens":     int64(8),
			"omniserve.model.step":           int64(1),
			"omniserve.model.tool_calls":     int64(1),
			"omniserve.streaming":            true,
		})},
		{"model.call 2", models[1], map[string]any{
			"gen_ai.response.finish_reasons": []string{"stop"},
			"gen_ai.usage.input_tokens":      int64(20),
			"gen_ai.usage.output_tokens":     int64(5),
			"omniserve.model.step":           int64(2),
			"omniserve.model.tool_calls":     int64(0),
		}},
		{"tool.call", one(t, spans, SpanToolCall), with(common(sc.agentTrace, "span_tool1_"+sc.runID), map[string]any{
			"gen_ai.operation.name": "execute_tool",
			"gen_ai.tool.name":      "calculate",
			"gen_ai.tool.call.id":   "call_1",
			"gen_ai.tool.type":      "function",
			"gen_ai.agent.name":     "calculator",
			"omniserve.incomplete":  "<absent>",
		})},
	}
	for _, c := range cases {
		if diff := cmp.Diff(c.want, pick(c.span, c.want)); diff != "" {
			t.Errorf("%s attributes (-want +got):\n%s", c.name, diff)
		}
	}
	for _, marker := range []string{"SECRET", "4111"} {
		if got := leaks(spans, marker); len(got) > 0 {
			t.Errorf("prompt, output, arguments or results reached spans: %q", got)
		}
	}
}

func TestServedRunAttributes(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	sc := newScenario("attrs")
	appendAll(t, b.store, sc.toolRun(false))
	spans := b.ended()
	checkAttributes(t, sc, spans)
	for _, s := range spans {
		if s.Error || s.StatusMessage != "" {
			t.Errorf("%s: status error=%v %q, want unset", s.Name, s.Error, s.StatusMessage)
		}
	}
}

func TestErrorStatus(t *testing.T) {
	t.Parallel()
	type status struct {
		Error     bool
		Message   string
		ErrorType any
	}
	unset := status{ErrorType: "<absent>"}
	cases := []struct {
		name   string
		events func(sc *scenario) []*telemetry.Event
		want   map[string]status
	}{
		{
			name:   "tool error",
			events: func(sc *scenario) []*telemetry.Event { return sc.toolRun(true) },
			want: map[string]status{
				SpanServeRequest: unset,
				SpanAgentRun:     unset,
				SpanModelCall:    unset,
				SpanToolCall:     {true, "division by zero", "tool_error"},
			},
		},
		{
			name: "model error",
			events: func(sc *scenario) []*telemetry.Event {
				return []*telemetry.Event{
					sc.serveStart(), sc.userMessage(),
					sc.modelCall("span_m", 1), sc.modelError("span_m"),
					sc.runtimeError(), sc.serveError(),
				}
			},
			want: map[string]status{
				SpanServeRequest: {true, "Model error: upstream unavailable", "failed"},
				SpanAgentRun:     {true, "call model (step 1): upstream unavailable", "model_error"},
				SpanModelCall:    {true, "upstream unavailable", "model_error"},
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, 0)
			appendAll(t, b.store, c.events(newScenario("err")))
			got := map[string]status{}
			for _, s := range b.ended() {
				errType, ok := s.Attrs["error.type"]
				if !ok {
					errType = "<absent>"
				}
				got[s.Name] = status{s.Error, s.StatusMessage, errType}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("statuses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStatusMessageIsCapped(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	sc := newScenario("cap")
	long := make([]byte, 0, 3*maxStatusBytes)
	for len(long) < 3*maxStatusBytes {
		long = append(long, "é"...)
	}
	end := sc.toolError("span_t", "calculate", "call_1")
	end.Error.Message = string(long)
	appendAll(t, b.store, []*telemetry.Event{sc.toolCall("span_t", "calculate", "call_1"), end})
	msg := one(t, b.ended(), SpanToolCall).StatusMessage
	if len(msg) > maxStatusBytes || len(msg) < maxStatusBytes-1 || msg != string(long[:len(msg)]) {
		t.Errorf("status message of %d bytes, want the first %d bytes on a rune boundary", len(msg), maxStatusBytes)
	}
}

func TestMCPToolSpans(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		edit     func(e *telemetry.Event)
		wantName string
		want     map[string]any
	}{
		{"local tool", func(*telemetry.Event) {}, SpanToolCall,
			map[string]any{"gen_ai.tool.type": "function", "omniserve.mcp.server": "<absent>"}},
		{"tool_kind metadata", func(e *telemetry.Event) { e.Metadata["tool_kind"] = "mcp" }, SpanMCPToolCall,
			map[string]any{"gen_ai.tool.type": "extension", "omniserve.mcp.server": "<absent>"}},
		{"mcp_server metadata", func(e *telemetry.Event) { e.Metadata["mcp_server"] = "files" }, SpanMCPToolCall,
			map[string]any{"gen_ai.tool.type": "extension", "omniserve.mcp.server": "files"}},
		{"actor id mcp", func(e *telemetry.Event) { e.Actor.ID = "mcp" }, SpanMCPToolCall,
			map[string]any{"gen_ai.tool.type": "extension", "omniserve.mcp.server": "<absent>"}},
		{"actor id mcp:server", func(e *telemetry.Event) { e.Actor.ID = "mcp:files" }, SpanMCPToolCall,
			map[string]any{"gen_ai.tool.type": "extension", "omniserve.mcp.server": "files"}},
		{"actor type mcp_server", func(e *telemetry.Event) { e.Actor.Type = "mcp_server" }, SpanMCPToolCall,
			map[string]any{"gen_ai.tool.type": "extension"}},
		{"span_kind metadata", func(e *telemetry.Event) { e.Metadata["span_kind"] = "mcp.tool.call" }, SpanMCPToolCall,
			map[string]any{"gen_ai.tool.type": "extension"}},
		{"original event type", func(e *telemetry.Event) { e.EventType = "mcp_tool_call" }, SpanMCPToolCall,
			map[string]any{"gen_ai.tool.type": "extension"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, 0)
			sc := newScenario("mcp")
			call := sc.toolCall("span_t", "read_file", "call_9")
			c.edit(call)
			result := sc.toolResult("span_t", "read_file", "call_9")
			if call.EventType == "mcp_tool_call" {
				result.EventType = "mcp_tool_result"
			}
			appendAll(t, b.store, []*telemetry.Event{sc.userMessage(), call, result, sc.finalAnswer(1, 1)})
			spans := b.ended()
			if diff := cmp.Diff([]string{" > agent.run", "agent.run > " + c.wantName}, tree(spans)); diff != "" {
				t.Errorf("span tree (-want +got):\n%s", diff)
			}
			c.want["gen_ai.tool.name"] = "read_file"
			c.want["gen_ai.tool.call.id"] = "call_9"
			if diff := cmp.Diff(c.want, pick(one(t, spans, c.wantName), c.want)); diff != "" {
				t.Errorf("attributes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunWithoutServeSpanIsARoot(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	sc := newScenario("bg")
	events := sc.toolRun(false)
	// Drop the serve events: a background run has none.
	appendAll(t, b.store, events[1:len(events)-1])
	want := []string{" > agent.run", "agent.run > model.call", "agent.run > model.call", "agent.run > tool.call"}
	if diff := cmp.Diff(want, tree(b.ended())); diff != "" {
		t.Errorf("span tree (-want +got):\n%s", diff)
	}
}

func TestConcurrentRunsStayApart(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	a, c := newScenario("a"), newScenario("c")
	ea, ec := a.toolRun(false), c.toolRun(true)
	// Interleave the two runs' events.
	var events []*telemetry.Event
	for i := range ea {
		events = append(events, ea[i], ec[i])
	}
	appendAll(t, b.store, events)
	spans := b.ended()
	if n := len(traces(spans)); n != 2 {
		t.Fatalf("got %d traces, want 2", n)
	}
	for _, tr := range traces(spans) {
		var mine []gotSpan
		for _, s := range spans {
			if s.TraceID == tr {
				mine = append(mine, s)
			}
		}
		want := []string{" > serve.request", "agent.run > model.call", "agent.run > model.call", "agent.run > tool.call", "serve.request > agent.run"}
		if diff := cmp.Diff(want, tree(mine)); diff != "" {
			t.Errorf("trace %s (-want +got):\n%s", tr, diff)
		}
		runID := mine[0].Attrs["omniserve.run_id"]
		for _, s := range mine {
			if s.Attrs["omniserve.run_id"] != runID {
				t.Errorf("trace %s mixes runs %v and %v", tr, runID, s.Attrs["omniserve.run_id"])
			}
		}
	}
}

func TestServeSpanJoinsTheContextTrace(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	ctx, incoming := b.tp.Tracer("test").Start(t.Context(), "incoming")
	sc := newScenario("ctx")
	if err := b.store.EventAppend(ctx, sc.serveStart()); err != nil {
		t.Fatal(err)
	}
	appendAll(t, b.store, []*telemetry.Event{sc.serveEnd()})
	incoming.End()
	want := []string{" > incoming", "incoming > serve.request"}
	if diff := cmp.Diff(want, tree(b.ended())); diff != "" {
		t.Errorf("span tree (-want +got):\n%s", diff)
	}
}

func TestOpenSpansAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, 3)
	sc := newScenario("bound")
	var calls []*telemetry.Event
	for i := range 5 {
		calls = append(calls, sc.toolCall(fmt.Sprint("span_t", i), "calculate", fmt.Sprint("call_", i)))
	}
	appendAll(t, b.store, calls)
	if n := b.x.openCount(); n != 3 {
		t.Errorf("open spans: got %d, want 3", n)
	}
	// The two oldest were ended early, at the time of the event that
	// pushed them out, and marked incomplete.
	ended := b.ended()
	var got []string
	for _, s := range ended {
		got = append(got, fmt.Sprint(s.Attrs["gen_ai.tool.call.id"], " incomplete=", s.Attrs["omniserve.incomplete"]))
	}
	if diff := cmp.Diff([]string{"call_0 incomplete=true", "call_1 incomplete=true"}, got); diff != "" {
		t.Errorf("evicted spans (-want +got):\n%s", diff)
	}
	if !ended[0].End.Equal(calls[3].Timestamp) {
		t.Errorf("evicted span ended at %v, want %v", ended[0].End, calls[3].Timestamp)
	}

	// A late end event for an evicted span is dropped; one for an open span
	// ends it normally.
	appendAll(t, b.store, []*telemetry.Event{
		sc.toolResult("span_t0", "calculate", "call_0"),
		sc.toolResult("span_t4", "calculate", "call_4"),
	})
	ended = b.ended()
	if len(ended) != 3 {
		t.Fatalf("got %d ended spans, want 3", len(ended))
	}
	if last := ended[2]; last.Attrs["gen_ai.tool.call.id"] != "call_4" || last.Attrs["omniserve.incomplete"] != nil {
		t.Errorf("last ended span: %v", last.Attrs)
	}
}

func TestIndexesAreBounded(t *testing.T) {
	t.Parallel()
	b := setup(t, 10)
	for i := range 100 {
		sc := newScenario(fmt.Sprint(i))
		// Runs whose end events never arrive.
		appendAll(t, b.store, []*telemetry.Event{sc.serveStart(), sc.userMessage(), sc.modelCall(fmt.Sprint("span_m", i), 1)})
	}
	b.x.mu.Lock()
	got := []int{b.x.spans.len(), len(b.x.spans.byID), len(b.x.spans.serveByRun), len(b.x.spans.runByTrace)}
	b.x.mu.Unlock()
	if got[0] != 10 || got[1] != 10 || got[2] > 10 || got[3] > 10 {
		t.Errorf("open %d, by id %d, serve index %d, run index %d; want 10, 10, <= 10, <= 10", got[0], got[1], got[2], got[3])
	}
	if n := len(b.ended()); n != 290 {
		t.Errorf("got %d spans ended early, want 290", n)
	}
}

func TestModelDeltasAreNotExported(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	sc := newScenario("delta")
	events := []*telemetry.Event{sc.userMessage(), sc.modelCall("span_m", 1)}
	for range 50 {
		events = append(events, sc.modelDelta("span_m"))
	}
	events = append(events, sc.modelResponse("span_m", "", 3, 50), sc.finalAnswer(3, 50))
	appendAll(t, b.store, events)
	if diff := cmp.Diff([]string{" > agent.run", "agent.run > model.call"}, tree(b.ended())); diff != "" {
		t.Errorf("span tree (-want +got):\n%s", diff)
	}
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	sc := newScenario("stop")
	appendAll(t, b.store, []*telemetry.Event{sc.serveStart(), sc.userMessage(), sc.modelCall("span_m", 1)})
	if err := b.x.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	spans := b.ended()
	if diff := cmp.Diff([]string{" > serve.request", "agent.run > model.call", "serve.request > agent.run"}, tree(spans)); diff != "" {
		t.Errorf("spans ended by Shutdown (-want +got):\n%s", diff)
	}
	for _, s := range spans {
		if s.Attrs["omniserve.incomplete"] != true {
			t.Errorf("%s: omniserve.incomplete = %v, want true", s.Name, s.Attrs["omniserve.incomplete"])
		}
	}

	// After Shutdown events are still stored, but not exported.
	late := sc.modelResponse("span_m", "", 1, 1)
	appendAll(t, b.store, []*telemetry.Event{late, sc.userMessage()})
	if n := len(b.ended()); n != len(spans) {
		t.Errorf("got %d spans after Shutdown, want %d", n, len(spans))
	}
	if last, err := b.store.EventLastSequence(t.Context(), sc.sessionID); err != nil || last != 5 {
		t.Errorf("EventLastSequence = %d, %v; want 5", last, err)
	}
	if err := b.x.Shutdown(t.Context()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestNilExporter(t *testing.T) {
	t.Parallel()
	var x *Exporter
	s := memstore.New()
	if got := x.Wrap(s); got != telemetry.Store(s) {
		t.Errorf("nil Exporter's Wrap returned %T, want the store itself", got)
	}
	if err := x.Shutdown(t.Context()); err != nil {
		t.Errorf("nil Exporter's Shutdown: %v", err)
	}
}

func TestWrappedStoreReceivesEveryEventUnchanged(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	sc := newScenario("same")
	events := sc.toolRun(false)
	appendAll(t, b.store, events)
	got, err := b.inner.EventList(t.Context(), telemetry.ListParams{SessionID: sc.sessionID})
	if err != nil {
		t.Fatal(err)
	}
	want := make([]telemetry.Event, len(events))
	for i, e := range events {
		want[i] = *e
		if e.SequenceNumber != int64(i+1) {
			t.Errorf("event %d: sequence %d, want %d", i, e.SequenceNumber, i+1)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}
	// Reads go to the wrapped store too.
	viaWrap, err := b.store.EventList(t.Context(), telemetry.ListParams{SessionID: sc.sessionID})
	if err != nil || len(viaWrap) != len(events) {
		t.Errorf("EventList through the wrapper: %d events, %v", len(viaWrap), err)
	}
}

// failingStore is a partial fake whose appends fail.
type failingStore struct {
	telemetry.Store
	eventAppendFunc func(context.Context, *telemetry.Event) error
}

func (f *failingStore) EventAppend(ctx context.Context, e *telemetry.Event) error {
	return f.eventAppendFunc(ctx, e)
}

func TestFailedAppendIsReturnedAndStillExported(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	errDown := errors.New("log down")
	s := b.x.Wrap(&failingStore{Store: memstore.New(), eventAppendFunc: func(context.Context, *telemetry.Event) error { return errDown }})
	sc := newScenario("fail")
	for _, e := range []*telemetry.Event{sc.userMessage(), sc.finalAnswer(1, 1)} {
		if err := s.EventAppend(t.Context(), e); !errors.Is(err, errDown) {
			t.Errorf("EventAppend: got %v, want %v", err, errDown)
		}
	}
	if diff := cmp.Diff([]string{" > agent.run"}, tree(b.ended())); diff != "" {
		t.Errorf("span tree (-want +got):\n%s", diff)
	}
}

func TestWrappedStorePassesTheEventLogSuite(t *testing.T) {
	t.Parallel()
	b := setup(t, 0)
	telemetrytest.Run(t, func(*testing.T) telemetry.Store { return b.x.Wrap(memstore.New()) })
}

// openCount returns how many spans wait for their end event.
func (x *Exporter) openCount() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.spans.len()
}

// BenchmarkEventAppend compares appends to the bare in-memory log with
// appends through the decorator (spans recorded, not exported), over a
// served run with 20 streamed chunks; the difference is the export cost.
func BenchmarkEventAppend(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	x, err := New(b.Context(), Config{TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = x.Shutdown(context.Background()); _ = tp.Shutdown(context.Background()) })
	for _, c := range []struct {
		name  string
		store func() telemetry.Store
	}{
		{"memstore", func() telemetry.Store { return memstore.New() }},
		{"wrapped", func() telemetry.Store { return x.Wrap(memstore.New()) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			store := c.store()
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				sc := newScenario(fmt.Sprint(n))
				events := sc.toolRun(false)
				for range 20 {
					events = slices.Insert(events, 8, sc.modelDelta("span_model2_"+sc.runID))
				}
				for _, e := range events {
					_ = store.EventAppend(b.Context(), e)
				}
				n++
			}
		})
	}
}
