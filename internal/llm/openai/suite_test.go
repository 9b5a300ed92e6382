package openai

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
)

const (
	// suiteModel is the model the suite's adapter is built for.
	suiteModel = "gpt-4o-mini"
	// suiteCallID is the tool call ID in suite_completion_tool_call.json,
	// which the second call of the tool round trip must send back.
	suiteCallID = "call_Ns4Kd9Wq2Xr7Lb1Tz6Hv3Pm0"
)

func TestProviderSuite(t *testing.T) {
	t.Parallel()
	file := func(name string) string { return string(readTestdata(t, name)) }
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	sseHeader := http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}}

	llmtest.RunProviderSuite(t, llmtest.ProviderSuite{
		Provider: DefaultProvider,
		New: func(t *testing.T, baseURL string) llm.Model {
			m, err := New(Config{
				Provider: DefaultProvider,
				Model:    suiteModel,
				BaseURL:  baseURL + "/v1",
				APIKey:   llmtest.APIKey,
				Retry: llm.RetryPolicy{
					BaseDelay: time.Millisecond,
					MaxDelay:  time.Millisecond,
				},
			})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return m
		},
		Replies: map[llmtest.Scenario][]llmtest.Reply{
			llmtest.ScenarioPlain:  {{Header: jsonHeader, Body: file("suite_completion_text.json")}},
			llmtest.ScenarioStream: {{Header: sseHeader, Body: file("suite_stream_text.sse")}},
			llmtest.ScenarioToolRoundTrip: {
				{Header: jsonHeader, Body: file("suite_completion_tool_call.json")},
				{Header: jsonHeader, Body: file("suite_completion_tool_answer.json")},
			},
			llmtest.ScenarioStreamToolCall: {{Header: sseHeader, Body: file("suite_stream_tool_call.sse")}},
			llmtest.ScenarioUnauthorized: {
				{Status: http.StatusUnauthorized, Header: jsonHeader, Body: file("suite_error_401.json")},
			},
			llmtest.ScenarioRateLimited: {
				{
					Status: http.StatusTooManyRequests,
					Header: http.Header{"Content-Type": jsonHeader["Content-Type"], "Retry-After": {"0"}},
					Body:   file("suite_error_429.json"),
				},
				{Header: jsonHeader, Body: file("suite_completion_text.json")},
			},
			llmtest.ScenarioStreamCut: {{Header: sseHeader, Body: file("suite_stream_cut.sse"), Cut: true}},
		},
		CheckRequest: checkSuiteRequest,
	})
}

// checkSuiteRequest asserts the Chat Completions shape of every request
// the suite makes. The body is compared whole, so a field the adapter
// should not send fails as surely as a missing one.
func checkSuiteRequest(t *testing.T, s llmtest.Scenario, call int, r llmtest.Recorded) {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != "/v1/chat/completions" {
		t.Errorf("call %d: got %s %s, want POST /v1/chat/completions", call, r.Method, r.Path)
	}
	if got, want := r.Header.Get("Authorization"), "Bearer "+llmtest.APIKey; got != want {
		t.Errorf("call %d: got Authorization %q, want %q", call, got, want)
	}
	var got map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil {
		t.Fatalf("call %d: request body is not JSON: %v", call, err)
	}
	if diff := cmp.Diff(suiteRequestBody(t, s, call), got); diff != "" {
		t.Errorf("call %d: request body mismatch (-want +got):\n%s", call, diff)
	}
}

// suiteRequestBody is the body the adapter must send for call of s.
func suiteRequestBody(t *testing.T, s llmtest.Scenario, call int) map[string]any {
	t.Helper()
	user := func(text string) any { return map[string]any{"role": "user", "content": text} }
	want := map[string]any{
		"model":    suiteModel,
		"messages": []any{user(llmtest.PlainPrompt)},
	}
	switch s {
	case llmtest.ScenarioPlain:
		want["messages"] = []any{
			map[string]any{"role": "system", "content": "Be brief."},
			user(llmtest.PlainPrompt),
		}
	case llmtest.ScenarioToolRoundTrip, llmtest.ScenarioStreamToolCall:
		var schema any
		if err := json.Unmarshal(llmtest.WeatherTool.InputSchema, &schema); err != nil {
			t.Fatalf("decode the tool schema: %v", err)
		}
		want["tools"] = []any{map[string]any{
			"type": "function",
			"function": map[string]any{
				"name":        llmtest.ToolName,
				"description": llmtest.WeatherTool.Description,
				"parameters":  schema,
			},
		}}
		want["messages"] = []any{user(llmtest.ToolPrompt)}
		if s == llmtest.ScenarioToolRoundTrip && call == 1 {
			want["messages"] = []any{
				user(llmtest.ToolPrompt),
				map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{
					"id":       suiteCallID,
					"type":     "function",
					"function": map[string]any{"name": llmtest.ToolName, "arguments": llmtest.ToolArgs},
				}}},
				map[string]any{"role": "tool", "tool_call_id": suiteCallID, "content": llmtest.ToolResult},
			}
		}
	}
	switch s {
	case llmtest.ScenarioStream, llmtest.ScenarioStreamToolCall, llmtest.ScenarioStreamCut:
		want["stream"] = true
		want["stream_options"] = map[string]any{"include_usage": true}
	}
	return want
}
