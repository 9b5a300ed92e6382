package otelexport

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/tool"
)

// TestRealAgentRunSpanTree runs the real agent loop, so a change in the
// events the agent emits that breaks the span model fails here.
func TestRealAgentRunSpanTree(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		b := setup(t, 0)
		type addArgs struct {
			A int `json:"a"`
			B int `json:"b"`
		}
		add, err := tool.Func("add", "Adds two numbers.", func(_ context.Context, in addArgs) (int, error) { return in.A + in.B, nil })
		if err != nil {
			t.Fatal(err)
		}
		tools := tool.NewRegistry()
		if err := tools.Add(add); err != nil {
			t.Fatal(err)
		}
		store := memstore.New()
		model := llmtest.NewScripted(
			llmtest.Step{
				ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "add", Arguments: json.RawMessage(`{"a":1,"b":2}`)}},
				Usage:     llm.Usage{PromptTokens: 11, CompletionTokens: 7, TotalTokens: 18},
			},
			llmtest.Step{Text: "It is 3.", Usage: llm.Usage{PromptTokens: 20, CompletionTokens: 4, TotalTokens: 24}},
		)
		a, err := agent.New(agent.Config{Name: "adder", Model: model, Tools: tools, Memory: store, Events: b.x.Wrap(store)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Run(t.Context(), agent.RunParams{Query: "1+2?", SessionID: "s", RunID: "run_real", Stream: stream}); err != nil {
			t.Fatalf("Run: %v", err)
		}

		spans := b.ended()
		want := []string{" > agent.run", "agent.run > model.call", "agent.run > model.call", "agent.run > tool.call"}
		if diff := cmp.Diff(want, tree(spans)); diff != "" {
			t.Errorf("stream=%v: span tree (-want +got):\n%s", stream, diff)
		}
		models := named(spans, SpanModelCall)
		checks := []struct {
			span gotSpan
			want map[string]any
		}{
			{one(t, spans, SpanAgentRun), map[string]any{
				"gen_ai.agent.name": "adder", "omniserve.run_id": "run_real",
				"gen_ai.usage.input_tokens": int64(31), "gen_ai.usage.output_tokens": int64(11),
			}},
			{models[0], map[string]any{
				"gen_ai.system": llmtest.Provider, "gen_ai.request.model": llmtest.ModelName, "omniserve.streaming": stream,
				"gen_ai.usage.input_tokens": int64(11), "omniserve.model.tool_calls": int64(1), "omniserve.model.step": int64(1),
			}},
			{one(t, spans, SpanToolCall), map[string]any{"gen_ai.tool.name": "add", "gen_ai.tool.call.id": "call_1"}},
		}
		for _, c := range checks {
			if diff := cmp.Diff(c.want, pick(c.span, c.want)); diff != "" {
				t.Errorf("stream=%v: %s attributes (-want +got):\n%s", stream, c.span.Name, diff)
			}
		}
	}
}
