package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/tool"
)

// testTool is a tool.Tool whose behaviour each test supplies.
type testTool struct {
	name     string
	callFunc func(ctx context.Context, args json.RawMessage) (string, error)
}

var _ tool.Tool = (*testTool)(nil)

func (t *testTool) Name() string                 { return t.name }
func (t *testTool) Description() string          { return "test tool " + t.name }
func (t *testTool) InputSchema() json.RawMessage { return json.RawMessage(`{"type":"object"}`) }
func (t *testTool) Kind() string                 { return tool.KindLocal }
func (t *testTool) Call(ctx context.Context, args json.RawMessage) (string, error) {
	return t.callFunc(ctx, args)
}

type testBundle struct {
	store *memstore.Store
	model *llmtest.Scripted
	tools *tool.Registry
	agent *Agent
}

// setup builds an agent over a fresh memstore and a model scripted with
// steps. edit, when set, adjusts the config first.
func setup(t *testing.T, edit func(*Config), steps ...llmtest.Step) *testBundle {
	t.Helper()
	b := &testBundle{store: memstore.New(), model: llmtest.NewScripted(steps...), tools: tool.NewRegistry()}
	cfg := Config{
		Name:              "tester",
		SystemInstruction: "be brief",
		Model:             b.model,
		Tools:             b.tools,
		Memory:            b.store,
		Events:            b.store,
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	b.agent = a
	return b
}

func (b *testBundle) addTool(t *testing.T, name string, f func(ctx context.Context, args json.RawMessage) (string, error)) {
	t.Helper()
	if err := b.tools.Add(&testTool{name: name, callFunc: f}); err != nil {
		t.Fatalf("add tool %s: %v", name, err)
	}
}

func (b *testBundle) events(t *testing.T, sessionID string) []telemetry.Event {
	t.Helper()
	evs, err := b.store.EventList(t.Context(), telemetry.ListParams{SessionID: sessionID})
	if err != nil {
		t.Fatalf("EventList: %v", err)
	}
	return evs
}

func (b *testBundle) memory(t *testing.T, sessionID string) []llm.Message {
	t.Helper()
	msgs, err := b.agent.History(t.Context(), sessionID)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	return msgs
}

func eventTypes(evs []telemetry.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.EventType
	}
	return out
}

func ofType(evs []telemetry.Event, typ string) []telemetry.Event {
	var out []telemetry.Event
	for _, e := range evs {
		if e.EventType == typ {
			out = append(out, e)
		}
	}
	return out
}

// decode unmarshals an event's input or output into a generic map.
func decode(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return m
}

func call(id, name, args string) llm.ToolCall {
	return llm.ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
}

func usage(p, c int) llm.Usage {
	return llm.Usage{PromptTokens: p, CompletionTokens: c, TotalTokens: p + c}
}

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("Required", func(t *testing.T) {
		t.Parallel()
		_, err := New(Config{MaxSteps: -1})
		if err == nil {
			t.Fatal("got nil error, want one")
		}
		for _, field := range []string{"Name", "Model", "Memory", "Events", "MaxSteps"} {
			if !strings.Contains(err.Error(), field) {
				t.Errorf("error %q does not name %s", err, field)
			}
		}
	})

	t.Run("Defaults", func(t *testing.T) {
		t.Parallel()
		st := memstore.New()
		a, err := New(Config{Name: "n", Model: llmtest.NewScripted(), Memory: st, Events: st})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if a.cfg.MaxSteps != DefaultMaxSteps {
			t.Errorf("MaxSteps: got %d, want %d", a.cfg.MaxSteps, DefaultMaxSteps)
		}
		if a.Tools() == nil || a.Tools().Len() != 0 {
			t.Errorf("Tools: got %v, want an empty registry", a.Tools())
		}
		if a.Name() != "n" {
			t.Errorf("Name: got %q, want %q", a.Name(), "n")
		}
	})
}

func TestRunParamsValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, llmtest.Step{Text: "unused"})
	for _, p := range []RunParams{{SessionID: "s"}, {Query: "q"}} {
		if _, err := b.agent.Run(t.Context(), p); err == nil {
			t.Errorf("Run(%+v): got nil error, want one", p)
		}
	}
	if n := len(b.model.Requests()); n != 0 {
		t.Errorf("got %d model calls, want 0", n)
	}
	if got := b.agent.Metrics().TotalRequests; got != 0 {
		t.Errorf("TotalRequests: got %d, want 0", got)
	}
}

func TestRunPlainAnswer(t *testing.T) {
	t.Parallel()
	temp := 0.2
	b := setup(t, func(c *Config) { c.Temperature = &temp; c.MaxTokens = 64 },
		llmtest.Step{Text: "hello there", Usage: usage(7, 3)})
	b.addTool(t, "noop", func(context.Context, json.RawMessage) (string, error) { return "", nil })

	res, err := b.agent.Run(t.Context(), RunParams{Query: "hi", SessionID: "s1", RunID: "run_given"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.HasPrefix(res.TraceID, "trace_") {
		t.Errorf("TraceID: got %q, want prefix trace_", res.TraceID)
	}
	want := &Result{
		Response:  "hello there",
		AgentName: "tester",
		SessionID: "s1",
		RunID:     "run_given",
		TraceID:   res.TraceID,
		Usage:     usage(7, 3),
		Steps:     1,
		Duration:  res.Duration,
	}
	if diff := cmp.Diff(want, res); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	// The request carries the configuration, the tools and the user message.
	reqs := b.model.Requests()
	wantReq := llm.Request{
		System:      "be brief",
		Messages:    []llm.Message{{Role: llm.RoleUser, Content: "hi"}},
		Tools:       b.tools.Specs(),
		Temperature: &temp,
		MaxTokens:   64,
	}
	if diff := cmp.Diff([]llm.Request{wantReq}, reqs); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	evs := b.events(t, "s1")
	wantTypes := []string{
		telemetry.EventUserMessage, telemetry.EventModelCall,
		telemetry.EventModelResponse, telemetry.EventFinalAnswer,
	}
	if diff := cmp.Diff(wantTypes, eventTypes(evs)); diff != "" {
		t.Fatalf("event types (-want +got):\n%s", diff)
	}
	wantMeta := map[string]any{"session_id": "s1", "run_id": "run_given", "agent_name": "tester"}
	for i, e := range evs {
		if e.SequenceNumber != int64(i+1) {
			t.Errorf("event %d: sequence %d, want %d", i, e.SequenceNumber, i+1)
		}
		if e.TraceID != res.TraceID || e.RunID != "run_given" || e.SessionID != "s1" {
			t.Errorf("event %d: trace/run/session %q/%q/%q, want %q/run_given/s1", i, e.TraceID, e.RunID, e.SessionID, res.TraceID)
		}
		if !strings.HasPrefix(e.EventID, "event_") || !strings.HasPrefix(e.SpanID, "span_") || e.Timestamp.IsZero() {
			t.Errorf("event %d: id %q, span %q, timestamp %v not filled", i, e.EventID, e.SpanID, e.Timestamp)
		}
		if diff := cmp.Diff(wantMeta, e.Metadata); diff != "" {
			t.Errorf("event %d metadata (-want +got):\n%s", i, diff)
		}
	}
	user, mcall, mresp, final := evs[0], evs[1], evs[2], evs[3]

	// The run has one span, the model call another.
	if user.SpanID != final.SpanID || mcall.SpanID != mresp.SpanID || user.SpanID == mcall.SpanID {
		t.Errorf("spans: user %s, final %s, model_call %s, model_response %s; want run span shared by user/final, model span by call/response",
			user.SpanID, final.SpanID, mcall.SpanID, mresp.SpanID)
	}
	if mresp.ParentEventID != mcall.EventID {
		t.Errorf("model_response parent: got %q, want %q", mresp.ParentEventID, mcall.EventID)
	}

	if diff := cmp.Diff(telemetry.Actor{Type: telemetry.ActorUser}, user.Actor); diff != "" {
		t.Errorf("user actor (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"query": "hi"}, decode(t, user.Input)); diff != "" {
		t.Errorf("user_message input (-want +got):\n%s", diff)
	}
	wantModel := telemetry.Actor{Type: telemetry.ActorModel, ID: llmtest.Provider, Name: llmtest.ModelName}
	if diff := cmp.Diff(wantModel, mcall.Actor); diff != "" {
		t.Errorf("model actor (-want +got):\n%s", diff)
	}
	wantCallIn := map[string]any{"step": 1.0, "messages": 1.0, "tools": 1.0, "streaming": false}
	if diff := cmp.Diff(wantCallIn, decode(t, mcall.Input)); diff != "" {
		t.Errorf("model_call input (-want +got):\n%s", diff)
	}
	wantRespOut := map[string]any{"content": "hello there", "tool_calls": []any{}, "finish_reason": "stop"}
	if diff := cmp.Diff(wantRespOut, decode(t, mresp.Output)); diff != "" {
		t.Errorf("model_response output (-want +got):\n%s", diff)
	}
	wantUsage := &telemetry.TokenUsage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10}
	if diff := cmp.Diff(wantUsage, mresp.TokenUsage); diff != "" {
		t.Errorf("model_response usage (-want +got):\n%s", diff)
	}
	if mresp.DurationMS == nil {
		t.Error("model_response has no duration")
	}
	if diff := cmp.Diff(telemetry.Actor{Type: telemetry.ActorAgent, Name: "tester"}, final.Actor); diff != "" {
		t.Errorf("final actor (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"response": "hello there"}, decode(t, final.Output)); diff != "" {
		t.Errorf("final_answer output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantUsage, final.TokenUsage); diff != "" {
		t.Errorf("final_answer usage (-want +got):\n%s", diff)
	}
	if final.DurationMS == nil {
		t.Error("final_answer has no duration")
	}

	wantMem := []llm.Message{
		{Role: llm.RoleUser, Content: "hi"},
		{Role: llm.RoleAssistant, Content: "hello there"},
	}
	if diff := cmp.Diff(wantMem, b.memory(t, "s1")); diff != "" {
		t.Errorf("memory (-want +got):\n%s", diff)
	}
}

func TestRunMintsRunID(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, llmtest.Step{Text: "ok"})
	res, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: "s"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !regexp.MustCompile(`^run_[0-9a-f]{32}$`).MatchString(res.RunID) {
		t.Errorf("RunID: got %q, want run_ and 32 hex", res.RunID)
	}
	for _, e := range b.events(t, "s") {
		if e.RunID != res.RunID {
			t.Errorf("%s: run id %q, want %q", e.EventType, e.RunID, res.RunID)
		}
	}
}

func TestRunToolRoundTrip(t *testing.T) {
	t.Parallel()
	b := setup(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("c1", "add", `{"a":1,"b":2}`)}, Usage: usage(10, 5)},
		llmtest.Step{Text: "it is 3", Usage: usage(20, 4)},
	)
	b.addTool(t, "add", func(_ context.Context, args json.RawMessage) (string, error) {
		var in struct{ A, B int }
		if err := json.Unmarshal(args, &in); err != nil {
			return "", err
		}
		return fmt.Sprint(in.A + in.B), nil
	})

	res, err := b.agent.Run(t.Context(), RunParams{Query: "1+2?", SessionID: "s"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Response != "it is 3" || res.Steps != 2 {
		t.Errorf("got response %q in %d steps, want %q in 2", res.Response, res.Steps, "it is 3")
	}
	if diff := cmp.Diff(usage(30, 9), res.Usage); diff != "" {
		t.Errorf("usage (-want +got):\n%s", diff)
	}

	turn := []llm.Message{
		{Role: llm.RoleUser, Content: "1+2?"},
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call("c1", "add", `{"a":1,"b":2}`)}},
		{Role: llm.RoleTool, Content: "3", ToolCallID: "c1", Name: "add"},
	}
	reqs := b.model.Requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d model calls, want 2", len(reqs))
	}
	if diff := cmp.Diff(turn, reqs[1].Messages); diff != "" {
		t.Errorf("second request messages (-want +got):\n%s", diff)
	}
	wantMem := append(slices.Clone(turn), llm.Message{Role: llm.RoleAssistant, Content: "it is 3"})
	if diff := cmp.Diff(wantMem, b.memory(t, "s")); diff != "" {
		t.Errorf("memory (-want +got):\n%s", diff)
	}

	evs := b.events(t, "s")
	wantTypes := []string{
		telemetry.EventUserMessage,
		telemetry.EventModelCall, telemetry.EventModelResponse,
		telemetry.EventToolCall, telemetry.EventToolResult,
		telemetry.EventModelCall, telemetry.EventModelResponse,
		telemetry.EventFinalAnswer,
	}
	if diff := cmp.Diff(wantTypes, eventTypes(evs)); diff != "" {
		t.Fatalf("event types (-want +got):\n%s", diff)
	}
	resp1, tcall, tres, final := evs[2], evs[3], evs[4], evs[7]
	wantOut := map[string]any{
		"content":       "",
		"tool_calls":    []any{map[string]any{"id": "c1", "name": "add", "arguments": map[string]any{"a": 1.0, "b": 2.0}}},
		"finish_reason": "tool_calls",
	}
	if diff := cmp.Diff(wantOut, decode(t, resp1.Output)); diff != "" {
		t.Errorf("model_response output (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(telemetry.Actor{Type: telemetry.ActorTool, Name: "add"}, tcall.Actor); diff != "" {
		t.Errorf("tool actor (-want +got):\n%s", diff)
	}
	wantIn := map[string]any{"tool_call_id": "c1", "name": "add", "arguments": map[string]any{"a": 1.0, "b": 2.0}}
	if diff := cmp.Diff(wantIn, decode(t, tcall.Input)); diff != "" {
		t.Errorf("tool_call input (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"tool_call_id": "c1", "result": "3"}, decode(t, tres.Output)); diff != "" {
		t.Errorf("tool_result output (-want +got):\n%s", diff)
	}
	if tres.ParentEventID != tcall.EventID || tres.SpanID != tcall.SpanID || tres.DurationMS == nil {
		t.Errorf("tool_result: parent %q span %q duration %v; want parent %q, span %q, a duration",
			tres.ParentEventID, tres.SpanID, tres.DurationMS, tcall.EventID, tcall.SpanID)
	}
	if tcall.ParentEventID != resp1.EventID {
		t.Errorf("tool_call parent: got %q, want the model_response %q", tcall.ParentEventID, resp1.EventID)
	}
	spans := map[string]bool{evs[0].SpanID: true, evs[1].SpanID: true, tcall.SpanID: true, evs[5].SpanID: true}
	if len(spans) != 4 {
		t.Errorf("got %d distinct spans for run, model calls and tool call, want 4", len(spans))
	}
	if diff := cmp.Diff(&telemetry.TokenUsage{PromptTokens: 30, CompletionTokens: 9, TotalTokens: 39}, final.TokenUsage); diff != "" {
		t.Errorf("final_answer usage (-want +got):\n%s", diff)
	}
}

func TestRunMintsToolCallIDs(t *testing.T) {
	t.Parallel()
	b := setup(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("", "ping", `{}`)}},
		llmtest.Step{Text: "pong"},
	)
	b.addTool(t, "ping", func(context.Context, json.RawMessage) (string, error) { return "pong", nil })
	if _, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: "s"}); err != nil {
		t.Fatalf("Run: %v", err)
	}
	msgs := b.model.Requests()[1].Messages
	id := msgs[1].ToolCalls[0].ID
	if id == "" || msgs[2].ToolCallID != id {
		t.Errorf("assistant call id %q, tool message id %q; want the same minted id", id, msgs[2].ToolCallID)
	}
}

func TestRunToolsConcurrently(t *testing.T) {
	t.Parallel()
	// In a bubble, tools run one after the other would block each other
	// forever, which synctest reports as a deadlock instead of hanging.
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, nil,
			llmtest.Step{ToolCalls: []llm.ToolCall{call("ca", "a", `{}`), call("cb", "b", `{}`)}},
			llmtest.Step{Text: "both done"},
		)
		aStarted, bStarted, bDone := make(chan struct{}), make(chan struct{}), make(chan struct{})
		// a finishes last, so results arrive out of the model's order.
		b.addTool(t, "a", func(context.Context, json.RawMessage) (string, error) {
			close(aStarted)
			<-bStarted
			<-bDone
			return "A", nil
		})
		b.addTool(t, "b", func(context.Context, json.RawMessage) (string, error) {
			defer close(bDone)
			close(bStarted)
			<-aStarted
			return "B", nil
		})

		if _, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: "s"}); err != nil {
			t.Fatalf("Run: %v", err)
		}
		msgs := b.model.Requests()[1].Messages
		want := []llm.Message{
			{Role: llm.RoleTool, Content: "A", ToolCallID: "ca", Name: "a"},
			{Role: llm.RoleTool, Content: "B", ToolCallID: "cb", Name: "b"},
		}
		if diff := cmp.Diff(want, msgs[2:]); diff != "" {
			t.Errorf("tool messages (-want +got):\n%s", diff)
		}
		evs := b.events(t, "s")
		// tool_call events keep the model's order; results come as they finish.
		var calls []string
		for _, e := range ofType(evs, telemetry.EventToolCall) {
			calls = append(calls, decode(t, e.Input)["tool_call_id"].(string))
		}
		if diff := cmp.Diff([]string{"ca", "cb"}, calls); diff != "" {
			t.Errorf("tool_call order (-want +got):\n%s", diff)
		}
		if n := len(ofType(evs, telemetry.EventToolResult)); n != 2 {
			t.Errorf("got %d tool_result events, want 2", n)
		}
	})
}

func TestRunToolFailures(t *testing.T) {
	t.Parallel()
	b := setup(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{
			call("c1", "missing", `{}`),
			call("c2", "fails", `{}`),
			call("c3", "panics", `{}`),
			call("c4", "fails", `{"broken`),
			call("c5", "fails", `[1]`),
		}},
		llmtest.Step{Text: "recovered"},
	)
	b.addTool(t, "fails", func(context.Context, json.RawMessage) (string, error) {
		return "", errors.New("disk on fire")
	})
	b.addTool(t, "panics", func(context.Context, json.RawMessage) (string, error) {
		panic("tool bug")
	})

	res, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: "s"})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Response != "recovered" {
		t.Errorf("response: got %q, want %q", res.Response, "recovered")
	}

	type result struct {
		Content string
		IsError bool
	}
	gotMsgs := map[string]result{}
	for _, m := range b.model.Requests()[1].Messages[2:] {
		gotMsgs[m.ToolCallID] = result{m.Content, m.IsError}
	}
	wantContains := map[string]string{
		"c1": "missing",
		"c2": "disk on fire",
		"c3": "tool bug",
		"c4": "invalid arguments",
		"c5": "invalid arguments",
	}
	for id, frag := range wantContains {
		got := gotMsgs[id]
		if !got.IsError || !strings.Contains(got.Content, frag) {
			t.Errorf("tool message %s: got %+v, want an error containing %q", id, got, frag)
		}
	}

	gotKinds := map[string]string{}
	for _, e := range ofType(b.events(t, "s"), telemetry.EventToolError) {
		gotKinds[decode(t, e.Output)["tool_call_id"].(string)] = e.Error.Type
	}
	wantKinds := map[string]string{
		"c1": "unknown_tool",
		"c2": "tool_error",
		"c3": "tool_error",
		"c4": "invalid_arguments",
		"c5": "invalid_arguments",
	}
	if diff := cmp.Diff(wantKinds, gotKinds); diff != "" {
		t.Errorf("tool_error types by call (-want +got):\n%s", diff)
	}
	// The invalid arguments were recorded, as a string, not lost.
	for _, e := range ofType(b.events(t, "s"), telemetry.EventToolCall) {
		if in := decode(t, e.Input); in["tool_call_id"] == "c4" && in["arguments"] != `{"broken` {
			t.Errorf("c4 arguments: got %v, want the raw text", in["arguments"])
		}
	}
	if last := b.events(t, "s"); last[len(last)-1].EventType != telemetry.EventFinalAnswer {
		t.Errorf("last event: got %s, want final_answer", last[len(last)-1].EventType)
	}
}

func TestRunMaxSteps(t *testing.T) {
	t.Parallel()
	loop := llmtest.Step{ToolCalls: []llm.ToolCall{call("c", "again", `{}`)}, Usage: usage(1, 1)}
	b := setup(t, func(c *Config) { c.MaxSteps = 2 }, loop, loop, llmtest.Step{Text: "never reached"})
	b.addTool(t, "again", func(context.Context, json.RawMessage) (string, error) { return "more", nil })

	_, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: "s"})
	if !errors.Is(err, ErrMaxSteps) {
		t.Fatalf("got %v, want %v", err, ErrMaxSteps)
	}
	if n := len(b.model.Requests()); n != 2 {
		t.Errorf("got %d model calls, want 2", n)
	}
	evs := b.events(t, "s")
	last := evs[len(evs)-1]
	if last.EventType != telemetry.EventRuntimeError || last.Error == nil || last.Error.Type != "max_steps_exceeded" {
		t.Errorf("last event: got %s %+v, want runtime_error max_steps_exceeded", last.EventType, last.Error)
	}
	if got := b.memory(t, "s"); len(got) != 0 {
		t.Errorf("memory: got %d messages, want none", len(got))
	}
}

func TestRunModelError(t *testing.T) {
	t.Parallel()
	modelErr := &llm.Error{Provider: "llmtest", StatusCode: 503, Retryable: true, Message: "overloaded"}
	b := setup(t, nil,
		llmtest.Step{ToolCalls: []llm.ToolCall{call("c", "ok", `{}`)}, Usage: usage(2, 1)},
		llmtest.Step{Err: modelErr},
	)
	b.addTool(t, "ok", func(context.Context, json.RawMessage) (string, error) { return "fine", nil })

	_, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: "s"})
	var got *llm.Error
	if !errors.As(err, &got) || got != modelErr {
		t.Fatalf("got %v, want the model's *llm.Error", err)
	}

	evs := b.events(t, "s")
	wantTypes := []string{
		telemetry.EventUserMessage,
		telemetry.EventModelCall, telemetry.EventModelResponse,
		telemetry.EventToolCall, telemetry.EventToolResult,
		telemetry.EventModelCall, telemetry.EventModelError,
		telemetry.EventRuntimeError,
	}
	if diff := cmp.Diff(wantTypes, eventTypes(evs)); diff != "" {
		t.Fatalf("event types (-want +got):\n%s", diff)
	}
	mcall, merr, rerr := evs[5], evs[6], evs[7]
	wantErr := &telemetry.EventError{Type: "model_error", Message: modelErr.Error(), Retryable: true}
	if diff := cmp.Diff(wantErr, merr.Error); diff != "" {
		t.Errorf("model_error error (-want +got):\n%s", diff)
	}
	if merr.ParentEventID != mcall.EventID || merr.DurationMS == nil {
		t.Errorf("model_error: parent %q duration %v, want parent %q and a duration", merr.ParentEventID, merr.DurationMS, mcall.EventID)
	}
	if rerr.Error == nil || rerr.Error.Type != "model_error" || rerr.Actor.Type != telemetry.ActorAgent {
		t.Errorf("runtime_error: got actor %+v error %+v, want agent and model_error", rerr.Actor, rerr.Error)
	}
	if got := b.memory(t, "s"); len(got) != 0 {
		t.Errorf("memory: got %d messages, want none", len(got))
	}
	if m := b.agent.Metrics(); m.TotalRequests != 1 || m.TotalTokens != 3 {
		t.Errorf("metrics: got %+v, want 1 request and 3 tokens", m)
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()

	// wantCancelled checks the outcome every cancelled run shares.
	wantCancelled := func(t *testing.T, b *testBundle, err error, wantTypes []string) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want %v", err, context.Canceled)
		}
		evs := b.events(t, "s")
		if diff := cmp.Diff(wantTypes, eventTypes(evs)); diff != "" {
			t.Errorf("event types (-want +got):\n%s", diff)
		}
		last := evs[len(evs)-1]
		if last.Error == nil || last.Error.Type != "cancelled" {
			t.Errorf("runtime_error: got %+v, want type cancelled", last.Error)
		}
		if got := b.memory(t, "s"); len(got) != 0 {
			t.Errorf("memory: got %d messages, want none", len(got))
		}
	}

	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("ModelCall/stream=%v", stream), func(t *testing.T) {
			t.Parallel()
			started := make(chan struct{})
			b := setup(t, nil, llmtest.Step{Text: "never", Started: started, Block: make(chan struct{})})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() {
				_, err := b.agent.Run(ctx, RunParams{Query: "q", SessionID: "s", Stream: stream})
				done <- err
			}()
			<-started
			cancel()
			wantCancelled(t, b, <-done, []string{
				telemetry.EventUserMessage, telemetry.EventModelCall,
				telemetry.EventModelError, telemetry.EventRuntimeError,
			})
		})
	}

	t.Run("Tool", func(t *testing.T) {
		t.Parallel()
		b := setup(t, nil,
			llmtest.Step{ToolCalls: []llm.ToolCall{call("c", "wait", `{}`)}},
			llmtest.Step{Text: "never reached"},
		)
		started := make(chan struct{})
		b.addTool(t, "wait", func(ctx context.Context, _ json.RawMessage) (string, error) {
			close(started)
			<-ctx.Done()
			return "", ctx.Err()
		})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := b.agent.Run(ctx, RunParams{Query: "q", SessionID: "s"})
			done <- err
		}()
		<-started
		cancel()
		wantCancelled(t, b, <-done, []string{
			telemetry.EventUserMessage,
			telemetry.EventModelCall, telemetry.EventModelResponse,
			telemetry.EventToolCall, telemetry.EventToolError,
			telemetry.EventRuntimeError,
		})
		if n := len(b.model.Requests()); n != 1 {
			t.Errorf("got %d model calls, want 1", n)
		}
	})
}

func TestRunStream(t *testing.T) {
	t.Parallel()
	b := setup(t, nil,
		llmtest.Step{Text: "checking", ToolCalls: []llm.ToolCall{call("c", "ok", `{}`)}},
		llmtest.Step{Text: "a streamed answer"},
	)
	b.addTool(t, "ok", func(context.Context, json.RawMessage) (string, error) { return "fine", nil })

	res, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: "s", Stream: true})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	evs := b.events(t, "s")
	calls := ofType(evs, telemetry.EventModelCall)
	if len(calls) != 2 || decode(t, calls[0].Input)["streaming"] != true {
		t.Errorf("model_call events: got %d, first input %s; want 2 with streaming true", len(calls), calls[0].Input)
	}

	// The deltas of the last model call spell the answer.
	lastCall := calls[len(calls)-1]
	var deltas []string
	for _, e := range ofType(evs, telemetry.EventModelDelta) {
		if e.Metadata["experimental"] != true {
			t.Errorf("model_delta metadata: got %v, want experimental true", e.Metadata)
		}
		if e.ParentEventID == lastCall.EventID {
			deltas = append(deltas, decode(t, e.Output)["delta"].(string))
		}
	}
	if len(deltas) < 2 {
		t.Errorf("got %d deltas for the answer, want several", len(deltas))
	}
	if got := strings.Join(deltas, ""); got != res.Response || got != "a streamed answer" {
		t.Errorf("joined deltas %q, response %q; want both %q", got, res.Response, "a streamed answer")
	}

	// Deltas sit between their model_call and model_response.
	types := eventTypes(evs)
	i := slices.Index(types, telemetry.EventModelDelta)
	if i < 0 || types[i-1] != telemetry.EventModelCall {
		t.Errorf("event types %v: want model_delta right after model_call", types)
	}
	if types[len(types)-2] != telemetry.EventModelResponse || types[len(types)-1] != telemetry.EventFinalAnswer {
		t.Errorf("event types %v: want model_response then final_answer last", types)
	}
}

func TestRunHistory(t *testing.T) {
	t.Parallel()
	b := setup(t, nil, llmtest.Step{Text: "first answer"}, llmtest.Step{Text: "second answer"}, llmtest.Step{Text: "fresh"})

	if _, err := b.agent.Run(t.Context(), RunParams{Query: "one", SessionID: "s"}); err != nil {
		t.Fatalf("Run 1: %v", err)
	}
	if _, err := b.agent.Run(t.Context(), RunParams{Query: "two", SessionID: "s"}); err != nil {
		t.Fatalf("Run 2: %v", err)
	}
	want := []llm.Message{
		{Role: llm.RoleUser, Content: "one"},
		{Role: llm.RoleAssistant, Content: "first answer"},
		{Role: llm.RoleUser, Content: "two"},
	}
	reqs := b.model.Requests()
	if diff := cmp.Diff(want, reqs[1].Messages); diff != "" {
		t.Errorf("second request messages (-want +got):\n%s", diff)
	}
	if n := len(b.memory(t, "s")); n != 4 {
		t.Errorf("memory: got %d messages, want 4", n)
	}
	// Sequence numbers continue across runs of one session.
	evs := b.events(t, "s")
	for i, e := range evs {
		if e.SequenceNumber != int64(i+1) {
			t.Errorf("event %d: sequence %d, want %d", i, e.SequenceNumber, i+1)
		}
	}

	if err := b.agent.ClearSession(t.Context(), "s"); err != nil {
		t.Fatalf("ClearSession: %v", err)
	}
	if n := len(b.memory(t, "s")); n != 0 {
		t.Errorf("memory after clear: got %d messages, want 0", n)
	}
	if _, err := b.agent.Run(t.Context(), RunParams{Query: "three", SessionID: "s"}); err != nil {
		t.Fatalf("Run 3: %v", err)
	}
	if diff := cmp.Diff([]llm.Message{{Role: llm.RoleUser, Content: "three"}}, b.model.Requests()[2].Messages); diff != "" {
		t.Errorf("request after clear (-want +got):\n%s", diff)
	}
	if _, err := b.agent.History(t.Context(), ""); err == nil {
		t.Error("History with no session id: got nil error, want one")
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	ok := llmtest.Step{Text: "ok", Usage: usage(3, 2)}
	b := setup(t, nil, ok, ok, ok, llmtest.Step{Err: errors.New("down")})

	var wg sync.WaitGroup
	durations := make([]int64, 3)
	for i := range 3 {
		wg.Go(func() {
			res, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: fmt.Sprint("s", i)})
			if err != nil {
				t.Errorf("Run %d: %v", i, err)
				return
			}
			durations[i] = int64(res.Duration)
		})
	}
	wg.Wait()
	if _, err := b.agent.Run(t.Context(), RunParams{Query: "q", SessionID: "s3"}); err == nil {
		t.Error("Run 4: got nil error, want the model's")
	}

	got := b.agent.Metrics()
	want := Metrics{TotalRequests: 4, TotalRequestTokens: 9, TotalResponseTokens: 6, TotalTokens: 15, TotalTime: got.TotalTime}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metrics (-want +got):\n%s", diff)
	}
	var sum int64
	for _, d := range durations {
		sum += d
	}
	if int64(got.TotalTime) < sum {
		t.Errorf("TotalTime %v is less than the successful runs' %v", got.TotalTime, sum)
	}
}

func TestNewSessionID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, want string
	}{
		{"tester", "tester"},
		{"ok-name_1", "ok-name_1"},
		{"my agent!!", "my_agent_"},
		{"a.b/c", "a_b_c"},
		{"héllo wörld", "h_llo_w_rld"},
	}
	for _, tt := range tests {
		b := setup(t, func(c *Config) { c.Name = tt.name })
		id := b.agent.NewSessionID()
		re := regexp.MustCompile(`^omni_core_agent_` + regexp.QuoteMeta(tt.want) + `_[0-9a-f]{8}$`)
		if !re.MatchString(id) {
			t.Errorf("name %q: got %q, want match for %s", tt.name, id, re)
		}
		if other := b.agent.NewSessionID(); other == id {
			t.Errorf("name %q: two ids are both %q", tt.name, id)
		}
	}
}

func TestRecentHistory(t *testing.T) {
	u := func(s string) llm.Message { return llm.Message{Role: llm.RoleUser, Content: s} }
	a := func(s string) llm.Message { return llm.Message{Role: llm.RoleAssistant, Content: s} }
	call := llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "c", Name: "t"}}}
	res := llm.Message{Role: llm.RoleTool, ToolCallID: "c", Content: "r"}
	h := []llm.Message{u("1"), call, res, a("1"), u("2"), a("2")}
	tests := []struct {
		limit int
		want  []llm.Message
	}{
		{10, h},
		{6, h},
		{3, []llm.Message{u("2"), a("2")}}, // never starts at a tool result
		{2, []llm.Message{u("2"), a("2")}},
		{1, []llm.Message{}},
	}
	for _, tt := range tests {
		got := recentHistory(h, tt.limit)
		if len(got) != len(tt.want) {
			t.Errorf("limit %d: got %d messages, want %d", tt.limit, len(got), len(tt.want))
			continue
		}
		for i := range got {
			if got[i].Content != tt.want[i].Content || got[i].Role != tt.want[i].Role {
				t.Errorf("limit %d: message %d = %+v, want %+v", tt.limit, i, got[i], tt.want[i])
			}
		}
	}
}
