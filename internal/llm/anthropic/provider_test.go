package anthropic

import (
	"context"
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

	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	sseHeader := http.Header{"Content-Type": {"text/event-stream; charset=utf-8"}, "Cache-Control": {"no-cache"}}
	body := func(name string) string { return string(readTestdata(t, name)) }

	llmtest.RunProviderSuite(t, llmtest.ProviderSuite{
		Provider: ProviderName,
		New: func(t *testing.T, baseURL string) llm.Model {
			m, err := New(Config{
				Model:   testModel,
				BaseURL: baseURL,
				APIKey:  llmtest.APIKey,
				Retry: llm.RetryPolicy{
					BaseDelay: time.Nanosecond,
					SleepFunc: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
				},
			})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			return m
		},
		Replies: map[llmtest.Scenario][]llmtest.Reply{
			llmtest.ScenarioPlain: {
				{Header: jsonHeader, Body: body("message_text.json")},
			},
			llmtest.ScenarioStream: {
				{Header: sseHeader, Body: body("stream_text.sse")},
			},
			llmtest.ScenarioToolRoundTrip: {
				{Header: jsonHeader, Body: body("message_tool_use.json")},
				{Header: jsonHeader, Body: body("message_tool_answer.json")},
			},
			llmtest.ScenarioStreamToolCall: {
				{Header: sseHeader, Body: body("stream_tool_use.sse")},
			},
			llmtest.ScenarioUnauthorized: {
				{Status: http.StatusUnauthorized, Header: jsonHeader, Body: body("error_401.json")},
			},
			llmtest.ScenarioRateLimited: {
				{
					Status: http.StatusTooManyRequests,
					Header: http.Header{"Content-Type": {"application/json"}, "Retry-After": {"0"}},
					Body:   body("error_429.json"),
				},
				{Header: jsonHeader, Body: body("message_text.json")},
			},
			llmtest.ScenarioStreamCut: {
				{Header: sseHeader, Body: body("stream_cut.sse"), Cut: true},
			},
		},
		CheckRequest: checkSuiteRequest,
	})
}

// checkSuiteRequest asserts the wire shape of every request the suite
// makes.
func checkSuiteRequest(t *testing.T, s llmtest.Scenario, call int, r llmtest.Recorded) {
	t.Helper()
	if r.Method != http.MethodPost || r.Path != "/v1/messages" {
		t.Errorf("call %d: got %s %s, want POST /v1/messages", call, r.Method, r.Path)
	}
	if got := r.Header.Get("X-Api-Key"); got != llmtest.APIKey {
		t.Errorf("call %d: got x-api-key %q, want the configured key", call, got)
	}
	if got := r.Header.Get("Anthropic-Version"); got != APIVersion {
		t.Errorf("call %d: got anthropic-version %q, want %q", call, got, APIVersion)
	}
	if got := r.Header.Get("Authorization"); got != "" {
		t.Errorf("call %d: got Authorization %q, want none", call, got)
	}

	var body struct {
		Model     string            `json:"model"`
		MaxTokens *int              `json:"max_tokens"`
		Stream    bool              `json:"stream"`
		System    json.RawMessage   `json:"system"`
		Messages  []wireMessage     `json:"messages"`
		Tools     []json.RawMessage `json:"tools"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("call %d: request body: %v", call, err)
	}
	if body.Model != testModel {
		t.Errorf("call %d: got model %q, want %q", call, body.Model, testModel)
	}
	if body.MaxTokens == nil || *body.MaxTokens != DefaultMaxTokens {
		t.Errorf("call %d: got max_tokens %v, want %d", call, body.MaxTokens, DefaultMaxTokens)
	}
	wantStream := s == llmtest.ScenarioStream || s == llmtest.ScenarioStreamToolCall || s == llmtest.ScenarioStreamCut
	if body.Stream != wantStream {
		t.Errorf("call %d: got stream %v, want %v", call, body.Stream, wantStream)
	}
	if s == llmtest.ScenarioPlain {
		var system []map[string]any
		if err := json.Unmarshal(body.System, &system); err != nil {
			t.Fatalf("call %d: system: %v", call, err)
		}
		want := []map[string]any{{"type": "text", "text": "Be brief."}}
		if diff := cmp.Diff(want, system); diff != "" {
			t.Errorf("call %d: top-level system mismatch (-want +got):\n%s", call, diff)
		}
	} else if body.System != nil {
		t.Errorf("call %d: got system %s, want none", call, body.System)
	}
	for i, msg := range body.Messages {
		if msg.Role != "user" && msg.Role != "assistant" {
			t.Errorf("call %d: message %d has role %q", call, i, msg.Role)
		}
		if i > 0 && msg.Role == body.Messages[i-1].Role {
			t.Errorf("call %d: messages %d and %d share role %q; roles must alternate", call, i-1, i, msg.Role)
		}
	}
	if s == llmtest.ScenarioToolRoundTrip || s == llmtest.ScenarioStreamToolCall {
		if len(body.Tools) != 1 {
			t.Fatalf("call %d: got %d tools, want 1", call, len(body.Tools))
		}
		var tool map[string]any
		_ = json.Unmarshal(body.Tools[0], &tool)
		want := map[string]any{
			"name":         llmtest.ToolName,
			"description":  llmtest.WeatherTool.Description,
			"input_schema": decodeAny(t, string(llmtest.WeatherTool.InputSchema)),
		}
		if diff := cmp.Diff(want, tool); diff != "" {
			t.Errorf("call %d: tool mismatch (-want +got):\n%s", call, diff)
		}
	}
	if s == llmtest.ScenarioToolRoundTrip && call == 1 {
		checkToolTurns(t, body.Messages)
	}
}

// wireMessage is a Messages API message as the server receives it.
type wireMessage struct {
	Role    string           `json:"role"`
	Content []map[string]any `json:"content"`
}

// checkToolTurns asserts that the second call of the tool round trip sends
// the assistant's tool_use block followed by a user turn answering it.
func checkToolTurns(t *testing.T, msgs []wireMessage) {
	t.Helper()
	if len(msgs) != 3 {
		t.Fatalf("got %d messages, want user, assistant, user", len(msgs))
	}
	var use map[string]any
	for _, b := range msgs[1].Content {
		if b["type"] == "tool_use" {
			use = b
		}
	}
	if use == nil {
		t.Fatalf("assistant turn %v has no tool_use block", msgs[1].Content)
	}
	id, _ := use["id"].(string)
	wantUse := map[string]any{
		"type":  "tool_use",
		"id":    "toolu_01A09q90qw90lq917835lq9",
		"name":  llmtest.ToolName,
		"input": decodeAny(t, llmtest.ToolArgs),
	}
	if diff := cmp.Diff(wantUse, use); diff != "" {
		t.Errorf("tool_use block mismatch (-want +got):\n%s", diff)
	}
	if msgs[2].Role != "user" || len(msgs[2].Content) != 1 {
		t.Fatalf("got turn %+v after the tool_use, want a user turn with one block", msgs[2])
	}
	wantResult := map[string]any{
		"type":        "tool_result",
		"tool_use_id": id,
		"content":     []any{map[string]any{"type": "text", "text": llmtest.ToolResult}},
	}
	if diff := cmp.Diff(wantResult, msgs[2].Content[0]); diff != "" {
		t.Errorf("tool_result block mismatch (-want +got):\n%s", diff)
	}
}

func decodeAny(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}
