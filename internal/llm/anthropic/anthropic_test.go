package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
)

// richRequest exercises every part of the request mapping.
func richRequest() *llm.Request {
	temp := 0.2
	return &llm.Request{
		System: "You are terse.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "Weather and time in Paris?"},
			{Role: llm.RoleAssistant, Content: "Let me check.", ToolCalls: []llm.ToolCall{
				{ID: "toolu_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
				{ID: "toolu_2", Name: "get_time"},
			}},
			{Role: llm.RoleTool, ToolCallID: "toolu_1", Name: "get_weather", Content: `{"temp_c":18}`},
			{Role: llm.RoleTool, ToolCallID: "toolu_2", Name: "get_time", Content: "clock unavailable", IsError: true},
			{Role: llm.RoleAssistant, Content: "18°C; the time is unknown."},
			{Role: llm.RoleSystem, Content: "Answer in English."},
			{Role: llm.RoleUser, Content: "Thanks"},
		},
		Tools: []llm.ToolSpec{
			{
				Name:        "get_weather",
				Description: "Current weather for a city.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","maxLength":9007199254740993}},"required":["city"]}`),
			},
			{Name: "get_time"},
			{Name: "get_date", InputSchema: json.RawMessage(`{"properties":{}}`)},
		},
		Temperature: &temp,
		MaxTokens:   256,
	}
}

const richRequestBody = `{
	"model": "claude-sonnet-4-5",
	"max_tokens": 256,
	"temperature": 0.2,
	"system": [
		{"type": "text", "text": "You are terse."},
		{"type": "text", "text": "Answer in English."}
	],
	"messages": [
		{"role": "user", "content": [{"type": "text", "text": "Weather and time in Paris?"}]},
		{"role": "assistant", "content": [
			{"type": "text", "text": "Let me check."},
			{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
			{"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}
		]},
		{"role": "user", "content": [
			{"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "{\"temp_c\":18}"}]},
			{"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "clock unavailable"}], "is_error": true}
		]},
		{"role": "assistant", "content": [{"type": "text", "text": "18°C; the time is unknown."}]},
		{"role": "user", "content": [{"type": "text", "text": "Thanks"}]}
	],
	"tools": [
		{
			"name": "get_weather",
			"description": "Current weather for a city.",
			"input_schema": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 9007199254740993}}, "required": ["city"]}
		},
		{"name": "get_time", "input_schema": {"type": "object"}},
		{"name": "get_date", "input_schema": {"type": "object", "properties": {}}}
	]
}`

func TestRequestMapping(t *testing.T) {
	t.Parallel()

	for _, stream := range []bool{false, true} {
		name := "generate"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			file := "message_text.json"
			if stream {
				file = "stream_text.sse"
			}
			f := newFakeAPI(t, reply{file: file})
			m, _ := newTestModel(t, f, nil)

			var err error
			if stream {
				_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), richRequest()))
			} else {
				_, err = m.Generate(t.Context(), richRequest())
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}

			reqs := f.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.Method != http.MethodPost || got.Path != "/v1/messages" {
				t.Errorf("got %s %s, want POST /v1/messages", got.Method, got.Path)
			}
			want := decodeJSON(t, richRequestBody)
			if stream {
				want["stream"] = true
			}
			if diff := cmp.Diff(want, got.Body); diff != "" {
				t.Errorf("request body mismatch (-want +got):\n%s", diff)
			}
			// Decoding into float64 above would hide a rounded bound.
			if !bytes.Contains(got.Raw, []byte("9007199254740993")) {
				t.Errorf("schema numbers were not sent as written: %s", got.Raw)
			}
		})
	}
}

func TestHeaders(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		apiKey  string
		wantKey string
	}{
		{name: "key in x-api-key", apiKey: testKey, wantKey: testKey},
		{name: "no key, no header", apiKey: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, reply{file: "message_text.json"}, reply{file: "stream_text.sse"})
			m, _ := newTestModel(t, f, func(c *Config) { c.APIKey = tt.apiKey })
			req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}
			if _, err := m.Generate(t.Context(), req); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if _, _, err := llmtest.Collect(m.GenerateStream(t.Context(), req)); err != nil {
				t.Fatalf("got stream error %v, want nil", err)
			}
			for i, r := range f.Requests() {
				if got := r.Header.Values("X-Api-Key"); tt.wantKey == "" && len(got) != 0 || tt.wantKey != "" && !cmp.Equal(got, []string{tt.wantKey}) {
					t.Errorf("request %d: got x-api-key %q, want %q", i, got, tt.wantKey)
				}
				if got := r.Header.Values("Anthropic-Version"); !cmp.Equal(got, []string{APIVersion}) {
					t.Errorf("request %d: got anthropic-version %q, want %q", i, got, APIVersion)
				}
				if got := r.Header.Get("Authorization"); got != "" {
					t.Errorf("request %d: got Authorization %q, want none", i, got)
				}
				if got := r.Header.Get("Content-Type"); got != "application/json" {
					t.Errorf("request %d: got Content-Type %q, want application/json", i, got)
				}
			}
		})
	}
}

func TestMaxTokens(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		config int
		req    int
		want   float64
	}{
		{name: "default", want: DefaultMaxTokens},
		{name: "config", config: 1000, want: 1000},
		{name: "request overrides config", config: 1000, req: 256, want: 256},
		// The SDK refuses blocking calls this large unless a timeout is set.
		{name: "large blocking call", req: 64000, want: 64000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, reply{file: "message_text.json"})
			m, _ := newTestModel(t, f, func(c *Config) { c.MaxTokens = tt.config })
			req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}, MaxTokens: tt.req}
			if _, err := m.Generate(t.Context(), req); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got := f.Requests()[0].Body["max_tokens"]; got != tt.want {
				t.Errorf("got max_tokens %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRequestOmitsUnsetOptions(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "message_text.json"})
	m, _ := newTestModel(t, f, nil)
	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}
	if _, err := m.Generate(t.Context(), req); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := decodeJSON(t, `{
		"model": "claude-sonnet-4-5",
		"max_tokens": 4096,
		"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}]
	}`)
	if diff := cmp.Diff(want, f.Requests()[0].Body); diff != "" {
		t.Errorf("request body mismatch (-want +got):\n%s", diff)
	}
}

// TestTurns covers how messages become alternating user and assistant
// turns, without a server.
func TestTurns(t *testing.T) {
	t.Parallel()

	call := func(id string) llm.ToolCall {
		return llm.ToolCall{ID: id, Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}
	}
	useBlock := func(id string) string {
		return `{"type": "tool_use", "id": "` + id + `", "name": "get_weather", "input": {"city": "Paris"}}`
	}
	tests := []struct {
		name string
		msgs []llm.Message
		want string // the messages array
	}{
		{
			name: "consecutive tool results merge into one user turn",
			msgs: []llm.Message{
				{Role: llm.RoleUser, Content: "Compare Paris and Rome."},
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call("toolu_a"), call("toolu_b"), call("toolu_c")}},
				{Role: llm.RoleTool, ToolCallID: "toolu_a", Content: "18"},
				{Role: llm.RoleTool, ToolCallID: "toolu_b", Content: "24"},
				{Role: llm.RoleTool, ToolCallID: "toolu_c", Content: "timeout", IsError: true},
			},
			want: `[
				{"role": "user", "content": [{"type": "text", "text": "Compare Paris and Rome."}]},
				{"role": "assistant", "content": [` + useBlock("toolu_a") + `, ` + useBlock("toolu_b") + `, ` + useBlock("toolu_c") + `]},
				{"role": "user", "content": [
					{"type": "tool_result", "tool_use_id": "toolu_a", "content": [{"type": "text", "text": "18"}]},
					{"type": "tool_result", "tool_use_id": "toolu_b", "content": [{"type": "text", "text": "24"}]},
					{"type": "tool_result", "tool_use_id": "toolu_c", "content": [{"type": "text", "text": "timeout"}], "is_error": true}
				]}
			]`,
		},
		{
			name: "user text after tool results joins their turn",
			msgs: []llm.Message{
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call("toolu_a")}},
				{Role: llm.RoleTool, ToolCallID: "toolu_a", Content: "18"},
				{Role: llm.RoleUser, Content: "And tomorrow?"},
			},
			want: `[
				{"role": "assistant", "content": [` + useBlock("toolu_a") + `]},
				{"role": "user", "content": [
					{"type": "tool_result", "tool_use_id": "toolu_a", "content": [{"type": "text", "text": "18"}]},
					{"type": "text", "text": "And tomorrow?"}
				]}
			]`,
		},
		{
			name: "empty tool result sends no content",
			msgs: []llm.Message{
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call("toolu_a")}},
				{Role: llm.RoleTool, ToolCallID: "toolu_a", IsError: true},
			},
			want: `[
				{"role": "assistant", "content": [` + useBlock("toolu_a") + `]},
				{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "is_error": true}]}
			]`,
		},
		{
			name: "empty messages are dropped and neighbours merge",
			msgs: []llm.Message{
				{Role: llm.RoleUser, Content: "One."},
				{Role: llm.RoleAssistant},
				{Role: llm.RoleUser, Content: "Two."},
			},
			want: `[
				{"role": "user", "content": [{"type": "text", "text": "One."}, {"type": "text", "text": "Two."}]}
			]`,
		},
		{
			name: "arguments that are not an object are sent as an empty object",
			msgs: []llm.Message{
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
					{ID: "toolu_a", Name: "get_weather", Arguments: json.RawMessage(`"{\"city\": \"Par"`)},
				}},
				{Role: llm.RoleTool, ToolCallID: "toolu_a", Content: "invalid arguments", IsError: true},
			},
			want: `[
				{"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {}}]},
				{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_a", "content": [{"type": "text", "text": "invalid arguments"}], "is_error": true}]}
			]`,
		},
	}
	m, err := New(Config{Model: testModel})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := m.newParams(&llm.Request{Messages: tt.msgs})
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			data, err := json.Marshal(p)
			if err != nil {
				t.Fatalf("marshal params: %v", err)
			}
			var got struct {
				Messages []any `json:"messages"`
			}
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("decode params: %v", err)
			}
			var want []any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatalf("decode want: %v", err)
			}
			if diff := cmp.Diff(want, got.Messages); diff != "" {
				t.Errorf("messages mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInvalidRequest(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		req     *llm.Request
		wantMsg string
	}{
		{"nil request", nil, "invalid request: request is nil"},
		{
			"unknown role",
			&llm.Request{Messages: []llm.Message{{Role: "narrator", Content: "x"}}},
			`invalid request: message 0: unknown role "narrator"`,
		},
		{
			"tool message without call ID",
			&llm.Request{Messages: []llm.Message{{Role: llm.RoleTool, Content: "x"}}},
			"invalid request: message 0: tool message has no tool call ID",
		},
		{
			"tool call without ID",
			&llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{Name: "t"}}}}},
			"invalid request: message 0: tool call has no ID or name",
		},
		{
			"schema not an object",
			&llm.Request{Tools: []llm.ToolSpec{{Name: "t", InputSchema: json.RawMessage(`[1]`)}}},
			`invalid request: tool "t": input schema is not a JSON object`,
		},
		{
			"schema of another type",
			&llm.Request{Tools: []llm.ToolSpec{{Name: "t", InputSchema: json.RawMessage(`{"type":"string"}`)}}},
			`invalid request: tool "t": input schema type is string, want "object"`,
		},
		{
			"tool without name",
			&llm.Request{Tools: []llm.ToolSpec{{Description: "d"}}},
			`invalid request: tool "": tool has no name`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, reply{file: "message_text.json"})
			m, _ := newTestModel(t, f, nil)

			_, err := m.Generate(t.Context(), tt.req)
			checkInvalid(t, err, tt.wantMsg)
			_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), tt.req))
			checkInvalid(t, err, tt.wantMsg)
			if n := len(f.Requests()); n != 0 {
				t.Errorf("got %d requests, want none", n)
			}
		})
	}
}

func checkInvalid(t *testing.T, err error, wantMsg string) {
	t.Helper()
	lerr, ok := errors.AsType[*llm.Error](err)
	if !ok {
		t.Fatalf("got error %v, want *llm.Error", err)
	}
	if lerr.Message != wantMsg || lerr.Retryable || lerr.Provider != ProviderName {
		t.Errorf("got %+v, want final anthropic error %q", lerr, wantMsg)
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		file string
		want *llm.Response
	}{
		{
			file: "message_text.json",
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How can I help you today?"},
				Usage:        llm.Usage{PromptTokens: 14, CompletionTokens: 12, TotalTokens: 26},
				FinishReason: "stop",
				Model:        "claude-sonnet-4-5-20250929",
			},
		},
		{
			file: "message_tool_use.json",
			want: &llm.Response{
				Message: llm.Message{
					Role:    llm.RoleAssistant,
					Content: "I'll look up the current weather in Paris.",
					ToolCalls: []llm.ToolCall{{
						ID:        "toolu_01A09q90qw90lq917835lq9",
						Name:      "get_weather",
						Arguments: json.RawMessage(`{"city":"Paris"}`),
					}},
				},
				Usage:        llm.Usage{PromptTokens: 412, CompletionTokens: 66, TotalTokens: 478},
				FinishReason: "tool_calls",
				Model:        "claude-sonnet-4-5-20250929",
			},
		},
		{
			file: "message_max_tokens.json",
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How"},
				Usage:        llm.Usage{PromptTokens: 14, CompletionTokens: 3, TotalTokens: 17},
				FinishReason: "length",
				Model:        "claude-sonnet-4-5-20250929",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, reply{file: tt.file})
			m, _ := newTestModel(t, f, nil)
			got, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}})
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if diff := cmp.Diff(tt.want, got, cmpArgs); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// cmpArgs compares tool-call arguments as JSON values, not bytes.
var cmpArgs = cmp.Transformer("json", func(r json.RawMessage) any {
	var v any
	if err := json.Unmarshal(r, &v); err != nil {
		return string(r)
	}
	return v
})

func TestFinishReason(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"end_turn":                      "stop",
		"stop_sequence":                 "stop",
		"tool_use":                      "tool_calls",
		"max_tokens":                    "length",
		"model_context_window_exceeded": "length",
		"refusal":                       "content_filter",
		"pause_turn":                    "pause_turn",
		"":                              "",
	}
	for in, want := range tests {
		if got := finishReason(sdk.StopReason(in)); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestArguments(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		``:                   `{}`,
		`null`:               `{}`,
		` {"city":"Paris"} `: `{"city":"Paris"}`,
		`{"city": "Par`:      `"{\"city\": \"Par"`,
	}
	for in, want := range tests {
		if got := string(arguments([]byte(in))); got != want {
			t.Errorf("arguments(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestGenerateStream(t *testing.T) {
	t.Parallel()

	tests := []struct {
		file       string
		wantDeltas []string
		want       *llm.Response
	}{
		{
			file:       "stream_text.sse",
			wantDeltas: []string{"Hello!", " How can I help", " you today?"},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How can I help you today?"},
				Usage:        llm.Usage{PromptTokens: 14, CompletionTokens: 12, TotalTokens: 26},
				FinishReason: "stop",
				Model:        "claude-sonnet-4-5-20250929",
			},
		},
		{
			file:       "stream_tool_use.sse",
			wantDeltas: []string{"I'll look up", " the current weather in Paris."},
			want: &llm.Response{
				Message: llm.Message{
					Role:    llm.RoleAssistant,
					Content: "I'll look up the current weather in Paris.",
					ToolCalls: []llm.ToolCall{{
						ID:        "toolu_01T1x1fJ34qAmk2tNTrN7Up6",
						Name:      "get_weather",
						Arguments: json.RawMessage(`{"city": "Paris"}`),
					}},
				},
				Usage:        llm.Usage{PromptTokens: 412, CompletionTokens: 66, TotalTokens: 478},
				FinishReason: "tool_calls",
				Model:        "claude-sonnet-4-5-20250929",
			},
		},
		{
			// Two calls, the second without arguments; the prompt count
			// includes the cache read.
			file: "stream_parallel_tools.sse",
			want: &llm.Response{
				Message: llm.Message{
					Role: llm.RoleAssistant,
					ToolCalls: []llm.ToolCall{
						{ID: "toolu_01Wz4nM2kP8qR5tY7vB3cX9a", Name: "get_weather", Arguments: json.RawMessage(`{"city": "Paris"}`)},
						{ID: "toolu_01Hq6sD9fG2jK4lZ8xC1vN5b", Name: "get_time", Arguments: json.RawMessage(`{}`)},
					},
				},
				Usage:        llm.Usage{PromptTokens: 600, CompletionTokens: 91, TotalTokens: 691},
				FinishReason: "tool_calls",
				Model:        "claude-sonnet-4-5-20250929",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, reply{file: tt.file})
			m, _ := newTestModel(t, f, nil)
			deltas, final, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if diff := cmp.Diff(tt.wantDeltas, deltas); diff != "" {
				t.Errorf("deltas mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, final, cmpArgs); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		replies    []reply
		wantCalls  int
		wantDelays []time.Duration
		// wantErr is the expected error; nil means success.
		wantErr *llm.Error
	}{
		{
			name:       "500 three times gives up retryable",
			replies:    []reply{{status: 500, file: "error_500.json"}},
			wantCalls:  3,
			wantDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond},
			wantErr:    &llm.Error{Provider: ProviderName, StatusCode: 500, Retryable: true, Message: "api_error: Internal server error"},
		},
		{
			name:       "529 overloaded is retried",
			replies:    []reply{{status: 529, file: "error_529.json"}, {file: "message_text.json"}},
			wantCalls:  2,
			wantDelays: []time.Duration{time.Millisecond},
		},
		{
			name:       "529 overloaded three times",
			replies:    []reply{{status: 529, file: "error_529.json"}},
			wantCalls:  3,
			wantDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond},
			wantErr:    &llm.Error{Provider: ProviderName, StatusCode: 529, Retryable: true, Message: "overloaded_error: Overloaded"},
		},
		{
			name: "429 waits for Retry-After",
			replies: []reply{
				{status: 429, header: map[string]string{"Retry-After": "7"}, file: "error_429.json"},
				{file: "message_text.json"},
			},
			wantCalls:  2,
			wantDelays: []time.Duration{7 * time.Second},
		},
		{
			name:      "400 is final",
			replies:   []reply{{status: 400, file: "error_400.json"}},
			wantCalls: 1,
			wantErr: &llm.Error{
				Provider: ProviderName, StatusCode: 400,
				Message: `invalid_request_error: messages: roles must alternate between "user" and "assistant", but found multiple "user" roles in a row`,
			},
		},
		{
			name:      "x-should-retry false overrides a 500",
			replies:   []reply{{status: 500, header: map[string]string{"X-Should-Retry": "false"}, file: "error_500.json"}},
			wantCalls: 1,
			wantErr:   &llm.Error{Provider: ProviderName, StatusCode: 500, Message: "api_error: Internal server error"},
		},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += " (stream)"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				replies := tt.replies
				if stream {
					replies = streamReplies(replies)
				}
				f := newFakeAPI(t, replies...)
				m, sleeps := newTestModel(t, f, nil)
				req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}

				var err error
				if stream {
					_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), req))
				} else {
					_, err = m.Generate(t.Context(), req)
				}
				checkError(t, err, tt.wantErr)
				if n := len(f.Requests()); n != tt.wantCalls {
					t.Errorf("got %d requests, want %d", n, tt.wantCalls)
				}
				if diff := cmp.Diff(tt.wantDelays, sleeps.Delays()); diff != "" {
					t.Errorf("delays mismatch (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// streamReplies swaps the successful blocking answers for a stream.
func streamReplies(rs []reply) []reply {
	out := make([]reply, len(rs))
	for i, r := range rs {
		if r.file == "message_text.json" {
			r.file = "stream_text.sse"
		}
		out[i] = r
	}
	return out
}

// checkError asserts that err is want, or nil when want is.
func checkError(t *testing.T, err error, want *llm.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		return
	}
	got, ok := errors.AsType[*llm.Error](err)
	if !ok {
		t.Fatalf("got error %v, want *llm.Error", err)
	}
	if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Err" }, cmp.Ignore())); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name  string
		reply reply
		want  *llm.Error
	}{
		{
			name:  "401",
			reply: reply{status: 401, file: "error_401.json"},
			want:  &llm.Error{Provider: ProviderName, StatusCode: 401, Message: "authentication_error: invalid x-api-key"},
		},
		{
			name:  "429 with Retry-After",
			reply: reply{status: 429, header: map[string]string{"Retry-After": "7"}, file: "error_429.json"},
			want: &llm.Error{
				Provider: ProviderName, StatusCode: 429, Retryable: true, RetryAfter: 7 * time.Second,
				Message: "rate_limit_error: This request would exceed the rate limit for your organization of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
			},
		},
		{
			name:  "502 page from a proxy",
			reply: reply{status: 502, file: "error_502.html"},
			want:  &llm.Error{Provider: ProviderName, StatusCode: 502, Retryable: true, Message: "Bad Gateway"},
		},
		{
			name:  "529 with an empty body",
			reply: reply{status: 529, body: " "},
			want:  &llm.Error{Provider: ProviderName, StatusCode: 529, Retryable: true, Message: "Overloaded"},
		},
		{
			name:  "key echoed in a message is scrubbed",
			reply: reply{status: 401, body: `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + testKey + `"}}`},
			want:  &llm.Error{Provider: ProviderName, StatusCode: 401, Message: "authentication_error: invalid x-api-key [redacted]"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, tt.reply)
			var logs bytes.Buffer
			m, _ := newTestModel(t, f, func(c *Config) {
				c.Retry.MaxAttempts = 1
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}})
			checkError(t, err, tt.want)
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("the API key leaked into the error %q", err)
			}
			if !strings.Contains(logs.String(), "model call failed") {
				t.Errorf("got logs %q, want a failure warning", logs.String())
			}
			if strings.Contains(logs.String(), testKey) {
				t.Errorf("the API key leaked into the logs %q", logs.String())
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()

	sleeps := &llmtest.SleepRecorder{}
	m, err := New(Config{
		Model:   testModel,
		BaseURL: url,
		APIKey:  testKey,
		Retry:   llm.RetryPolicy{MaxAttempts: 2, SleepFunc: sleeps.Sleep},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}})
	lerr, ok := errors.AsType[*llm.Error](err)
	if !ok {
		t.Fatalf("got error %v, want *llm.Error", err)
	}
	if !lerr.Retryable || lerr.StatusCode != 0 || !strings.HasPrefix(lerr.Message, "connection error: ") {
		t.Errorf("got %+v, want a retryable connection error", lerr)
	}
	if strings.Contains(err.Error(), url) {
		t.Errorf("error %q repeats the request URL", err)
	}
	if n := len(sleeps.Delays()); n != 1 {
		t.Errorf("got %d waits, want 1 (two attempts)", n)
	}
}

func TestStreamErrorEvent(t *testing.T) {
	t.Parallel()

	t.Run("after text", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "stream_error.sse"})
		m, _ := newTestModel(t, f, nil)
		deltas, final, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}))
		checkError(t, err, &llm.Error{Provider: ProviderName, Retryable: true, Message: "error event in stream: overloaded_error: Overloaded"})
		if diff := cmp.Diff([]string{"Hello!"}, deltas); diff != "" {
			t.Errorf("deltas mismatch (-want +got):\n%s", diff)
		}
		if final != nil {
			t.Errorf("got a Done chunk %+v from a failed stream", final)
		}
		// Text was yielded, so retrying would repeat it.
		if n := len(f.Requests()); n != 1 {
			t.Errorf("got %d requests, want 1", n)
		}
	})

	t.Run("before text is retried", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "stream_error_early.sse"}, reply{file: "stream_text.sse"})
		m, _ := newTestModel(t, f, nil)
		_, final, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}))
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		if final == nil || final.Message.Content != "Hello! How can I help you today?" {
			t.Errorf("got final %+v, want the second attempt's answer", final)
		}
		if n := len(f.Requests()); n != 2 {
			t.Errorf("got %d requests, want 2", n)
		}
	})

	t.Run("not an error object", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{body: "event: error\ndata: upstream went away\n\n"})
		m, _ := newTestModel(t, f, nil)
		_, _, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}))
		lerr, ok := errors.AsType[*llm.Error](err)
		if !ok || lerr.Retryable || !strings.Contains(lerr.Message, "upstream went away") {
			t.Errorf("got %v, want a final *llm.Error naming the event's data", err)
		}
	})
}

func TestStreamTruncated(t *testing.T) {
	t.Parallel()

	t.Run("after text", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "stream_cut.sse"})
		m, _ := newTestModel(t, f, nil)
		deltas, final, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}))
		if !errors.Is(err, llm.ErrStreamTruncated) || !llm.IsRetryable(err) {
			t.Fatalf("got error %v, want a retryable llm.ErrStreamTruncated", err)
		}
		if _, ok := errors.AsType[*llm.Error](err); !ok {
			t.Errorf("got %T, want *llm.Error", err)
		}
		if diff := cmp.Diff([]string{"Hello!", " How can I help"}, deltas); diff != "" {
			t.Errorf("deltas mismatch (-want +got):\n%s", diff)
		}
		if final != nil {
			t.Errorf("got a Done chunk %+v from a truncated stream", final)
		}
		if n := len(f.Requests()); n != 1 {
			t.Errorf("got %d requests, want 1", n)
		}
	})

	t.Run("before text is retried", func(t *testing.T) {
		t.Parallel()
		first, _, _ := strings.Cut(string(readTestdata(t, "stream_cut.sse")), "\n\n")
		f := newFakeAPI(t, reply{body: first + "\n\n"})
		m, _ := newTestModel(t, f, nil)
		_, _, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}))
		if !errors.Is(err, llm.ErrStreamTruncated) {
			t.Fatalf("got error %v, want llm.ErrStreamTruncated", err)
		}
		if n := len(f.Requests()); n != llm.DefaultMaxAttempts {
			t.Errorf("got %d requests, want %d", n, llm.DefaultMaxAttempts)
		}
	})

	t.Run("JSON body instead of events", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "message_text.json"})
		m, _ := newTestModel(t, f, func(c *Config) { c.Retry.MaxAttempts = 1 })
		_, _, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}))
		if !errors.Is(err, llm.ErrStreamTruncated) {
			t.Fatalf("got error %v, want llm.ErrStreamTruncated", err)
		}
	})
}

func TestStreamStopsEarly(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "stream_cut.sse", hold: true})
	m, _ := newTestModel(t, f, nil)

	var n int
	for c, err := range m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}) {
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		if c.TextDelta != "Hello!" {
			t.Errorf("got chunk %+v, want the first delta", c)
		}
		n++
		break
	}
	if n != 1 {
		t.Fatalf("got %d chunks, want 1", n)
	}
	// The server sees the request end once the body is closed.
	<-f.gone
}

func TestCancel(t *testing.T) {
	t.Parallel()

	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}

	t.Run("generate waiting for the response", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{stall: true})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			select {
			case <-f.arrived:
				cancel()
			case <-ctx.Done():
			}
		}()
		_, err := m.Generate(ctx, req)
		checkCanceled(t, err)
		if n := len(f.Requests()); n != 1 {
			t.Errorf("got %d requests, want 1", n)
		}
		<-f.gone
	})

	t.Run("stream between chunks", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "stream_cut.sse", hold: true})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var streamErr error
		for c, err := range m.GenerateStream(ctx, req) {
			if err != nil {
				streamErr = err
				break
			}
			if c.Done {
				t.Fatal("a canceled stream reported Done")
			}
			cancel()
		}
		checkCanceled(t, streamErr)
		if n := len(f.Requests()); n != 1 {
			t.Errorf("got %d requests, want 1", n)
		}
		<-f.gone
	})

	t.Run("already canceled", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "message_text.json"})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := m.Generate(ctx, req)
		if !errors.Is(err, context.Canceled) || llm.IsRetryable(err) {
			t.Errorf("got error %v, want a final context.Canceled", err)
		}
		if n := len(f.Requests()); n != 0 {
			t.Errorf("got %d requests, want none", n)
		}
	})
}

func checkCanceled(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want context.Canceled", err)
	}
	if llm.IsRetryable(err) {
		t.Errorf("a canceled call is retryable: %v", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{stall: true})
	m, _ := newTestModel(t, f, func(c *Config) {
		c.Timeout = 10 * time.Millisecond
		c.Retry.MaxAttempts = 1
	})
	_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}})
	lerr, ok := errors.AsType[*llm.Error](err)
	if !ok {
		t.Fatalf("got error %v, want *llm.Error", err)
	}
	if !lerr.Retryable || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(lerr.Message, "timed out") {
		t.Errorf("got %+v, want a retryable timeout", lerr)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("defaults", func(t *testing.T) {
		t.Parallel()
		m, err := New(Config{Model: testModel})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		if m.Provider() != "anthropic" || m.Name() != testModel {
			t.Errorf("got provider %q name %q", m.Provider(), m.Name())
		}
		if m.timeout != DefaultTimeout || m.maxTokens != DefaultMaxTokens {
			t.Errorf("got timeout %s max tokens %d, want the defaults", m.timeout, m.maxTokens)
		}
	})

	t.Run("base URL with /v1", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "message_text.json"})
		m, _ := newTestModel(t, f, func(c *Config) { c.BaseURL = f.URL() + "/v1/" })
		if _, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}); err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		if got := f.Requests()[0].Path; got != "/v1/messages" {
			t.Errorf("got path %q, want /v1/messages", got)
		}
	})

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no model", Config{}, "anthropic config: Model is required"},
		{"negative timeout", Config{Model: "m", Timeout: -time.Second}, "anthropic config: Timeout must not be negative, got -1s"},
		{"negative max tokens", Config{Model: "m", MaxTokens: -1}, "anthropic config: MaxTokens must not be negative, got -1"},
		{"relative base URL", Config{Model: "m", BaseURL: "api.anthropic.com"}, "anthropic config: BaseURL must be an absolute http or https URL"},
		{"unparsable base URL", Config{Model: "m", BaseURL: "http://user:" + testKey + "@[::1"}, "anthropic config: BaseURL is not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("got error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzAccumulator feeds arbitrary stream events to the accumulator, which
// must never panic, and whose arguments must always be valid JSON.
func FuzzAccumulator(f *testing.F) {
	for _, name := range []string{"stream_text.sse", "stream_tool_use.sse", "stream_parallel_tools.sse", "stream_cut.sse", "stream_error.sse"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatalf("read testdata: %v", err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var acc accumulator
		for line := range bytes.Lines(data) {
			payload, ok := bytes.CutPrefix(line, []byte("data: "))
			if !ok {
				continue
			}
			var ev sdk.MessageStreamEventUnion
			if json.Unmarshal(payload, &ev) != nil {
				continue
			}
			acc.add(ev)
		}
		resp := acc.response()
		for _, c := range resp.Message.ToolCalls {
			if !json.Valid(c.Arguments) {
				t.Errorf("arguments %q are not valid JSON", c.Arguments)
			}
		}
		if u := resp.Usage; u.TotalTokens != u.PromptTokens+u.CompletionTokens {
			t.Errorf("usage %+v does not add up", u)
		}
	})
}
