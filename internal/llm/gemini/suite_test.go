package gemini

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
)

func TestProviderSuite(t *testing.T) {
	t.Parallel()
	file := func(name string) string { return string(readTestdata(t, name)) }
	sse := http.Header{"Content-Type": {"text/event-stream"}}
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=UTF-8"}}

	llmtest.RunProviderSuite(t, llmtest.ProviderSuite{
		Provider: Provider,
		New: func(t *testing.T, baseURL string) llm.Model {
			m, err := New(Config{
				Model:   testModel,
				BaseURL: baseURL,
				APIKey:  llmtest.APIKey,
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
			llmtest.ScenarioPlain:  {{Header: jsonHeader, Body: file("generate_text.json")}},
			llmtest.ScenarioStream: {{Header: sse, Body: file("stream_text.sse")}},
			llmtest.ScenarioToolRoundTrip: {
				{Header: jsonHeader, Body: file("generate_tool_call.json")},
				{Header: jsonHeader, Body: file("generate_tool_answer.json")},
			},
			llmtest.ScenarioStreamToolCall: {{Header: sse, Body: file("stream_tool_call.sse")}},
			llmtest.ScenarioUnauthorized:   {{Status: http.StatusUnauthorized, Header: jsonHeader, Body: file("error_401.json")}},
			llmtest.ScenarioRateLimited: {
				{
					Status: http.StatusTooManyRequests,
					Header: http.Header{"Content-Type": jsonHeader["Content-Type"], "Retry-After": {"0"}},
					Body:   file("error_429.json"),
				},
				{Header: jsonHeader, Body: file("generate_text.json")},
			},
			llmtest.ScenarioStreamCut: {{Header: sse, Body: file("stream_cut.sse"), Cut: true}},
		},
		CheckRequest: checkSuiteRequest,
	})
}

// checkSuiteRequest asserts the Gemini-specific shape of the suite's
// requests. The query string is not recorded by the suite; alt=sse is
// checked in TestRequestMapping.
func checkSuiteRequest(t *testing.T, s llmtest.Scenario, call int, r llmtest.Recorded) {
	t.Helper()
	method := "generateContent"
	if s == llmtest.ScenarioStream || s == llmtest.ScenarioStreamToolCall || s == llmtest.ScenarioStreamCut {
		method = "streamGenerateContent"
	}
	if want := "/v1beta/models/" + testModel + ":" + method; r.Method != http.MethodPost || r.Path != want {
		t.Errorf("call %d: got %s %s, want POST %s", call, r.Method, r.Path, want)
	}
	if got := r.Header.Get("X-Goog-Api-Key"); got != llmtest.APIKey {
		t.Errorf("call %d: x-goog-api-key = %q, want the configured key", call, got)
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("call %d: request body is not JSON: %v", call, err)
	}

	switch s {
	case llmtest.ScenarioPlain:
		want := map[string]any{"parts": []any{map[string]any{"text": "Be brief."}}, "role": "user"}
		if diff := cmp.Diff(want, body["systemInstruction"]); diff != "" {
			t.Errorf("systemInstruction mismatch (-want +got):\n%s", diff)
		}
	case llmtest.ScenarioToolRoundTrip, llmtest.ScenarioStreamToolCall:
		var schema any
		if err := json.Unmarshal(llmtest.WeatherTool.InputSchema, &schema); err != nil {
			t.Fatal(err)
		}
		want := []any{map[string]any{"functionDeclarations": []any{map[string]any{
			"name":                 llmtest.ToolName,
			"description":          llmtest.WeatherTool.Description,
			"parametersJsonSchema": schema,
		}}}}
		if diff := cmp.Diff(want, body["tools"]); diff != "" {
			t.Errorf("call %d: tools mismatch (-want +got):\n%s", call, diff)
		}
	}

	if s == llmtest.ScenarioToolRoundTrip && call == 1 {
		want := []any{
			map[string]any{"role": "user", "parts": []any{map[string]any{"text": llmtest.ToolPrompt}}},
			map[string]any{"role": "model", "parts": []any{map[string]any{
				"functionCall":     map[string]any{"name": llmtest.ToolName, "args": map[string]any{"city": "Paris"}},
				"thoughtSignature": "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I=",
			}}},
			map[string]any{"role": "user", "parts": []any{map[string]any{
				"functionResponse": map[string]any{"name": llmtest.ToolName, "response": map[string]any{"result": llmtest.ToolResult}},
			}}},
		}
		if diff := cmp.Diff(want, body["contents"]); diff != "" {
			t.Errorf("second call contents mismatch (-want +got):\n%s", diff)
		}
	}
}
