package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
)

// richRequest exercises every part of the request mapping.
func richRequest() *llm.Request {
	temp := 0.25
	return &llm.Request{
		System: "You are terse.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "Weather and time in Paris?"},
			{Role: llm.RoleAssistant, Content: "Checking both.", ToolCalls: []llm.ToolCall{
				{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
				{ID: "call_2", Name: "get_time"},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: `{"temp_c":18}`},
			// No Name: found through the call ID.
			{Role: llm.RoleTool, ToolCallID: "call_2", Content: "clock unavailable", IsError: true},
			{Role: llm.RoleSystem, Content: "Answer in French."},
			{Role: llm.RoleAssistant, Content: "18°C; the time is unknown."},
			{Role: llm.RoleUser, Content: "Thanks"},
		},
		Tools: []llm.ToolSpec{
			{
				Name:        "get_weather",
				Description: "Current weather for a city.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","enum":["Paris","Lyon"]}},"required":["city"],"additionalProperties":false}`),
			},
			{Name: "get_time"},
		},
		Temperature: &temp,
		MaxTokens:   256,
	}
}

const richRequestBody = `{
	"systemInstruction": {"role": "user", "parts": [{"text": "You are terse.\n\nAnswer in French."}]},
	"contents": [
		{"role": "user", "parts": [{"text": "Weather and time in Paris?"}]},
		{"role": "model", "parts": [
			{"text": "Checking both."},
			{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I="},
			{"functionCall": {"name": "get_time"}}
		]},
		{"role": "user", "parts": [
			{"functionResponse": {"name": "get_weather", "response": {"result": "{\"temp_c\":18}"}}},
			{"functionResponse": {"name": "get_time", "response": {"error": "clock unavailable"}}}
		]},
		{"role": "model", "parts": [{"text": "18°C; the time is unknown."}]},
		{"role": "user", "parts": [{"text": "Thanks"}]}
	],
	"tools": [{"functionDeclarations": [
		{
			"name": "get_weather",
			"description": "Current weather for a city.",
			"parametersJsonSchema": {"type": "object", "properties": {"city": {"type": "string", "enum": ["Paris", "Lyon"]}}, "required": ["city"], "additionalProperties": false}
		},
		{"name": "get_time"}
	]}],
	"generationConfig": {"temperature": 0.25, "maxOutputTokens": 256}
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
			file, wantPath, wantQuery := "generate_text.json", "/v1beta/models/"+testModel+":generateContent", ""
			if stream {
				file, wantPath, wantQuery = "stream_text.sse", "/v1beta/models/"+testModel+":streamGenerateContent", "alt=sse"
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
			if got.Method != http.MethodPost || got.Path != wantPath || got.RawQuery != wantQuery {
				t.Errorf("got %s %s?%s, want POST %s?%s", got.Method, got.Path, got.RawQuery, wantPath, wantQuery)
			}
			if key := got.Header.Get("X-Goog-Api-Key"); key != testKey {
				t.Errorf("got x-goog-api-key %q, want the configured key", key)
			}
			if diff := cmp.Diff(decodeJSON(t, richRequestBody), got.Body); diff != "" {
				t.Errorf("request body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestOmitsUnsetOptions(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "generate_text.json"})
	m, _ := newTestModel(t, f, nil)
	if _, err := m.Generate(t.Context(), userText("Hi")); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	// The SDK always sends a generation config, empty here.
	want := decodeJSON(t, `{"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], "generationConfig": {}}`)
	if diff := cmp.Diff(want, f.Requests()[0].Body); diff != "" {
		t.Errorf("request body mismatch (-want +got):\n%s", diff)
	}
}

func TestConsecutiveToolResultsMerge(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "generate_tool_answer.json"})
	m, _ := newTestModel(t, f, nil)
	req := &llm.Request{Messages: []llm.Message{
		{Role: llm.RoleUser, Content: "Weather in Paris and Lyon, and the time?"},
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
			{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
			{ID: "call_2", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Lyon"}`)},
			{ID: "call_3", Name: "get_time", Arguments: json.RawMessage(`{}`)},
		}},
		{Role: llm.RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: "18 degrees"},
		{Role: llm.RoleTool, ToolCallID: "call_2", Name: "get_weather", Content: "21 degrees"},
		{Role: llm.RoleTool, ToolCallID: "call_3", Name: "get_time", Content: "14:05"},
		{Role: llm.RoleUser, Content: "Be quick."},
	}}
	if _, err := m.Generate(t.Context(), req); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := decodeJSON(t, `{"contents": [
		{"role": "user", "parts": [{"text": "Weather in Paris and Lyon, and the time?"}]},
		{"role": "model", "parts": [
			{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2tpcF90aG91Z2h0X3NpZ25hdHVyZV92YWxpZGF0b3I="},
			{"functionCall": {"name": "get_weather", "args": {"city": "Lyon"}}},
			{"functionCall": {"name": "get_time"}}
		]},
		{"role": "user", "parts": [
			{"functionResponse": {"name": "get_weather", "response": {"result": "18 degrees"}}},
			{"functionResponse": {"name": "get_weather", "response": {"result": "21 degrees"}}},
			{"functionResponse": {"name": "get_time", "response": {"result": "14:05"}}}
		]},
		{"role": "user", "parts": [{"text": "Be quick."}]}
	], "generationConfig": {}}`)
	if diff := cmp.Diff(want, f.Requests()[0].Body); diff != "" {
		t.Errorf("request body mismatch (-want +got):\n%s", diff)
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
			"tool message naming no tool",
			&llm.Request{Messages: []llm.Message{{Role: llm.RoleTool, ToolCallID: "call_9", Content: "x"}}},
			"invalid request: message 0: tool message names no tool and answers no known call",
		},
		{
			"arguments not an object",
			&llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
				{ID: "call_1", Name: "t", Arguments: json.RawMessage(`"Paris"`)},
			}}}},
			"invalid request: message 0: tool call 0: arguments are not a JSON object",
		},
		{
			"tool call without name",
			&llm.Request{Messages: []llm.Message{{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1"}}}}},
			"invalid request: message 0: tool call 0 has no name",
		},
		{
			"schema not an object",
			&llm.Request{Tools: []llm.ToolSpec{{Name: "t", InputSchema: json.RawMessage(`[1]`)}}},
			`invalid request: tool "t": input schema is not a JSON object`,
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
			f := newFakeAPI(t, reply{file: "generate_text.json"})
			m, _ := newTestModel(t, f, nil)

			_, err := m.Generate(t.Context(), tt.req)
			checkInvalid(t, err, tt.wantMsg)
			_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), tt.req))
			checkInvalid(t, err, tt.wantMsg)
			if n := len(f.Requests()); n != 0 {
				t.Errorf("server got %d requests, want 0", n)
			}
		})
	}
}

func checkInvalid(t *testing.T, err error, wantMsg string) {
	t.Helper()
	e, ok := errors.AsType[*llm.Error](err)
	if !ok {
		t.Fatalf("got error %v, want *llm.Error", err)
	}
	if e.Message != wantMsg || e.Retryable || e.Provider != Provider {
		t.Errorf("got %+v, want final gemini error %q", e, wantMsg)
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		file string
		want *llm.Response
	}{
		{
			file: "generate_text.json",
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How can I help you today?"},
				Usage:        llm.Usage{PromptTokens: 7, CompletionTokens: 9, TotalTokens: 16},
				FinishReason: "stop",
				Model:        "gemini-2.5-flash",
			},
		},
		{
			// Thought summaries are left out of the answer.
			file: "generate_thoughts.json",
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How can I help you today?"},
				Usage:        llm.Usage{PromptTokens: 7, CompletionTokens: 9, TotalTokens: 16},
				FinishReason: "stop",
				Model:        "gemini-2.5-pro",
			},
		},
		{
			// IDs are minted by position unless the API sent one.
			file: "generate_parallel_calls.json",
			want: &llm.Response{
				Message: llm.Message{Role: llm.RoleAssistant, Content: "Let me check both.", ToolCalls: []llm.ToolCall{
					{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
					{ID: "call_2", Name: "get_time", Arguments: json.RawMessage(`{}`)},
					{ID: "fc-7c1d2e", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Lyon","days":2,"units":"metric"}`)},
				}},
				Usage:        llm.Usage{PromptTokens: 74, CompletionTokens: 38, TotalTokens: 112},
				FinishReason: "tool_calls",
				Model:        "gemini-2.5-flash",
			},
		},
		{
			file: "generate_safety.json",
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant},
				Usage:        llm.Usage{PromptTokens: 12, TotalTokens: 12},
				FinishReason: "content_filter",
				Model:        "gemini-2.0-flash",
			},
		},
		{
			file: "generate_prompt_blocked.json",
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant},
				Usage:        llm.Usage{PromptTokens: 15, TotalTokens: 15},
				FinishReason: "content_filter",
				Model:        "gemini-2.5-flash",
			},
		},
		{
			file: "generate_max_tokens.json",
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "Hello! How"},
				Usage:        llm.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10},
				FinishReason: "length",
				Model:        "gemini-2.0-flash",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, reply{file: tt.file})
			m, _ := newTestModel(t, f, nil)
			got, err := m.Generate(t.Context(), userText("Hi"))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if diff := cmp.Diff(tt.want, got, rawJSON); diff != "" {
				t.Errorf("response mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// rawJSON compares tool-call arguments as JSON text.
var rawJSON = cmp.Comparer(func(a, b json.RawMessage) bool { return bytes.Equal(a, b) })

func TestGenerateNoCandidates(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{body: `{"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 3}, "modelVersion": "gemini-2.5-flash"}`})
	m, _ := newTestModel(t, f, nil)
	_, err := m.Generate(t.Context(), userText("Hi"))
	e, ok := errors.AsType[*llm.Error](err)
	if !ok || e.Message != "response has no candidates" || e.Retryable {
		t.Errorf("got error %v, want a final \"response has no candidates\"", err)
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
				Usage:        llm.Usage{PromptTokens: 4, CompletionTokens: 9, TotalTokens: 13},
				FinishReason: "stop",
				Model:        "gemini-2.5-flash",
			},
		},
		{
			file: "stream_tool_call.sse",
			want: &llm.Response{
				Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
					{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
				}},
				Usage:        llm.Usage{PromptTokens: 56, CompletionTokens: 15, TotalTokens: 71},
				FinishReason: "tool_calls",
				Model:        "gemini-2.5-flash",
			},
		},
		{
			file:       "stream_safety.sse",
			wantDeltas: []string{"Here is how"},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "Here is how"},
				Usage:        llm.Usage{PromptTokens: 12, CompletionTokens: 3, TotalTokens: 15},
				FinishReason: "content_filter",
				Model:        "gemini-2.0-flash",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, reply{file: tt.file})
			m, _ := newTestModel(t, f, nil)
			deltas, final, err := llmtest.Collect(m.GenerateStream(t.Context(), userText("Hi")))
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if diff := cmp.Diff(tt.wantDeltas, deltas); diff != "" {
				t.Errorf("deltas mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, final, rawJSON); diff != "" {
				t.Errorf("final response mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name        string
		replies     []reply
		stream      bool
		maxAttempts int
		wantCalls   int
		wantStatus  int // 0: success expected
		wantDelays  []time.Duration
	}{
		{
			name:       "503 three times gives up after three attempts",
			replies:    []reply{{status: 503, file: "error_503.json"}},
			wantCalls:  3,
			wantStatus: 503,
			// Full jitter at its ceiling: 1ms, then 2ms.
			wantDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond},
		},
		{
			name:       "stream 503 three times gives up after three attempts",
			replies:    []reply{{status: 503, file: "error_503.json"}},
			stream:     true,
			wantCalls:  3,
			wantStatus: 503,
			wantDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond},
		},
		{
			name:       "429 waits for the RetryInfo delay",
			replies:    []reply{{status: 429, file: "error_429.json"}, {file: "generate_text.json"}},
			wantCalls:  2,
			wantDelays: []time.Duration{37 * time.Second},
		},
		{
			name: "Retry-After wins over RetryInfo",
			replies: []reply{
				{status: 429, header: map[string]string{"Retry-After": "3"}, file: "error_429.json"},
				{file: "generate_text.json"},
			},
			wantCalls:  2,
			wantDelays: []time.Duration{3 * time.Second},
		},
		{
			name:       "500 then success",
			replies:    []reply{{status: 500, file: "error_500.json"}, {file: "generate_text.json"}},
			wantCalls:  2,
			wantDelays: []time.Duration{time.Millisecond},
		},
		{
			name:       "stream 502 from a proxy then success",
			replies:    []reply{{status: 502, file: "error_502.html"}, {file: "stream_text.sse"}},
			stream:     true,
			wantCalls:  2,
			wantDelays: []time.Duration{time.Millisecond},
		},
		{
			name: "stream cut before any text is retried",
			replies: []reply{
				{body: "data: {\"candidates\": [{\"content\": {\"parts\": [{\"te", cut: true},
				{file: "stream_text.sse"},
			},
			stream:     true,
			wantCalls:  2,
			wantDelays: []time.Duration{time.Millisecond},
		},
		{
			name:       "400 is final",
			replies:    []reply{{status: 400, file: "error_400_key.json"}},
			wantCalls:  1,
			wantStatus: 400,
		},
		{
			name:        "MaxAttempts 1 disables retries",
			replies:     []reply{{status: 503, file: "error_503.json"}},
			maxAttempts: 1,
			wantCalls:   1,
			wantStatus:  503,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, tt.replies...)
			m, sleeps := newTestModel(t, f, func(c *Config) { c.Retry.MaxAttempts = tt.maxAttempts })

			var err error
			if tt.stream {
				var final *llm.Response
				_, final, err = llmtest.Collect(m.GenerateStream(t.Context(), userText("Hi")))
				if err == nil && final == nil {
					t.Error("stream ended without a Done chunk")
				}
			} else {
				_, err = m.Generate(t.Context(), userText("Hi"))
			}

			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
			} else {
				e, ok := errors.AsType[*llm.Error](err)
				if !ok {
					t.Fatalf("got error %v, want *llm.Error", err)
				}
				if e.StatusCode != tt.wantStatus || e.Retryable != retryableStatus(tt.wantStatus) {
					t.Errorf("got status %d retryable %v, want %d %v", e.StatusCode, e.Retryable, tt.wantStatus, retryableStatus(tt.wantStatus))
				}
			}
			if n := len(f.Requests()); n != tt.wantCalls {
				t.Errorf("server got %d requests, want %d", n, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantDelays, sleeps.Delays()); diff != "" {
				t.Errorf("delays mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()

	echoed := `{"error": {"code": 403, "message": "Permission denied for key ` + testKey +
		` on https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=` + testKey + `&alt=sse", "status": "PERMISSION_DENIED"}}`

	tests := []struct {
		name          string
		reply         reply
		wantStatus    int
		wantRetryable bool
		wantAfter     time.Duration
		wantMsg       string
	}{
		{
			name:       "401",
			reply:      reply{status: 401, file: "error_401.json"},
			wantStatus: 401,
			wantMsg:    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
		},
		{
			name:       "invalid key",
			reply:      reply{status: 400, file: "error_400_key.json"},
			wantStatus: 400,
			wantMsg:    "API key not valid. Please pass a valid API key.",
		},
		{
			name:          "quota",
			reply:         reply{status: 429, file: "error_429.json"},
			wantStatus:    429,
			wantRetryable: true,
			wantAfter:     37 * time.Second,
			wantMsg:       "You exceeded your current quota",
		},
		{
			name:          "overloaded",
			reply:         reply{status: 503, file: "error_503.json"},
			wantStatus:    503,
			wantRetryable: true,
			wantMsg:       "The model is overloaded. Please try again later.",
		},
		{
			name:          "HTML from a proxy",
			reply:         reply{status: 502, file: "error_502.html"},
			wantStatus:    502,
			wantRetryable: true,
			wantMsg:       "Bad Gateway",
		},
		{
			name:       "key echoed back",
			reply:      reply{status: 403, body: echoed},
			wantStatus: 403,
			wantMsg:    "Permission denied for key [redacted] on https://generativelanguage.googleapis.com/v1beta/models/x:generateContent?key=[redacted]&alt=sse",
		},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			name := tt.name
			if stream {
				name += " stream"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f := newFakeAPI(t, tt.reply)
				m, _ := newTestModel(t, f, func(c *Config) { c.Retry.MaxAttempts = 1 })
				var err error
				if stream {
					_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), userText("Hi")))
				} else {
					_, err = m.Generate(t.Context(), userText("Hi"))
				}
				e, ok := errors.AsType[*llm.Error](err)
				if !ok {
					t.Fatalf("got error %v, want *llm.Error", err)
				}
				if e.Provider != Provider || e.StatusCode != tt.wantStatus || e.Retryable != tt.wantRetryable || e.RetryAfter != tt.wantAfter {
					t.Errorf("got provider %q status %d retryable %v retry after %s, want %q %d %v %s",
						e.Provider, e.StatusCode, e.Retryable, e.RetryAfter, Provider, tt.wantStatus, tt.wantRetryable, tt.wantAfter)
				}
				if !strings.HasPrefix(e.Message, tt.wantMsg) {
					t.Errorf("got message %q, want prefix %q", e.Message, tt.wantMsg)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Error("the API key leaked into the error")
				}
			})
		}
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	// A dialer that always fails, rather than a closed server whose port
	// another test could reuse.
	refuse := &http.Client{Transport: &http.Transport{
		DialContext: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		},
	}}
	f := newFakeAPI(t, reply{file: "generate_text.json"})
	m, sleeps := newTestModel(t, f, func(c *Config) { c.HTTPClient = refuse })

	for _, stream := range []bool{false, true} {
		var err error
		if stream {
			_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), userText("Hi")))
		} else {
			_, err = m.Generate(t.Context(), userText("Hi"))
		}
		e, ok := errors.AsType[*llm.Error](err)
		if !ok {
			t.Fatalf("stream %v: got error %v, want *llm.Error", stream, err)
		}
		if !e.Retryable || e.StatusCode != 0 || !strings.HasPrefix(e.Message, "connection error: dial tcp") {
			t.Errorf("stream %v: got %+v, want a retryable connection error", stream, e)
		}
		if strings.Contains(e.Message, "http://") {
			t.Errorf("stream %v: message %q repeats the URL", stream, e.Message)
		}
	}
	if n := len(sleeps.Delays()); n != 4 {
		t.Errorf("got %d retry waits, want 2 per call", n)
	}
}

func TestStreamTruncated(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name          string
		reply         reply
		wantDeltas    []string
		wantTruncated bool
		wantStatus    int
		wantMsg       string
	}{
		{
			name:          "ends without a finish reason",
			reply:         reply{file: "stream_no_finish.sse"},
			wantDeltas:    []string{"Hello!", " How can I help"},
			wantTruncated: true,
			wantMsg:       "stream ended before completion",
		},
		{
			name:          "connection dropped between frames",
			reply:         reply{file: "stream_no_finish.sse", cut: true},
			wantDeltas:    []string{"Hello!", " How can I help"},
			wantTruncated: true,
			wantMsg:       "stream ended before completion: unexpected EOF",
		},
		{
			// The SDK hands over the half frame before the read error.
			name:          "connection dropped mid-frame",
			reply:         reply{file: "stream_cut.sse", cut: true},
			wantDeltas:    []string{"Hello!", " How can I help"},
			wantTruncated: true,
			wantMsg:       "stream ended before completion: incomplete event",
		},
		{
			name:          "half a frame then a clean end",
			reply:         reply{file: "stream_cut.sse"},
			wantDeltas:    []string{"Hello!", " How can I help"},
			wantTruncated: true,
			wantMsg:       "stream ended before completion: incomplete event",
		},
		{
			name:       "error event",
			reply:      reply{file: "stream_error_event.sse"},
			wantDeltas: []string{"Hello!"},
			wantStatus: 503,
			wantMsg:    "The model is overloaded. Please try again later.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, tt.reply)
			m, _ := newTestModel(t, f, nil)
			deltas, final, err := llmtest.Collect(m.GenerateStream(t.Context(), userText("Hi")))
			if final != nil {
				t.Error("a broken stream reported Done")
			}
			if diff := cmp.Diff(tt.wantDeltas, deltas); diff != "" {
				t.Errorf("deltas mismatch (-want +got):\n%s", diff)
			}
			e, ok := errors.AsType[*llm.Error](err)
			if !ok {
				t.Fatalf("got error %v, want *llm.Error", err)
			}
			if errors.Is(err, llm.ErrStreamTruncated) != tt.wantTruncated || e.StatusCode != tt.wantStatus || !e.Retryable {
				t.Errorf("got %+v, want truncated %v, status %d, retryable", e, tt.wantTruncated, tt.wantStatus)
			}
			if e.Message != tt.wantMsg {
				t.Errorf("got message %q, want %q", e.Message, tt.wantMsg)
			}
			// Text reached the consumer, so the call is not repeated.
			if n := len(f.Requests()); n != 1 {
				t.Errorf("server got %d requests, want 1", n)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()

	t.Run("generate", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{status: 200, body: "", block: true})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			<-f.arrived
			cancel()
		}()
		_, err := m.Generate(ctx, userText("Hi"))
		checkCanceled(t, err)
		<-f.done
		if n := len(f.Requests()); n != 1 {
			t.Errorf("server got %d requests, want 1", n)
		}
	})

	t.Run("stream mid-answer", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "stream_no_finish.sse", block: true})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var (
			deltas []string
			err    error
		)
		for c, e := range m.GenerateStream(ctx, userText("Hi")) {
			if e != nil {
				err = e
				break
			}
			deltas = append(deltas, c.TextDelta)
			cancel()
		}
		checkCanceled(t, err)
		<-f.done
		if len(deltas) == 0 {
			t.Error("got no text before the cancellation")
		}
	})

	t.Run("consumer stops early", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "stream_no_finish.sse", block: true})
		m, _ := newTestModel(t, f, nil)
		for c, err := range m.GenerateStream(t.Context(), userText("Hi")) {
			if err != nil || c.TextDelta != "Hello!" {
				t.Fatalf("got chunk %+v error %v, want the first text", c, err)
			}
			break
		}
		// The server sees its request end: the connection was released.
		<-f.done
	})

	t.Run("before the call", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "generate_text.json"})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := m.Generate(ctx, userText("Hi"))
		if !errors.Is(err, context.Canceled) || llm.IsRetryable(err) {
			t.Errorf("got error %v, want a final context.Canceled", err)
		}
		_, _, err = llmtest.Collect(m.GenerateStream(ctx, userText("Hi")))
		if !errors.Is(err, context.Canceled) || llm.IsRetryable(err) {
			t.Errorf("stream: got error %v, want a final context.Canceled", err)
		}
		if n := len(f.Requests()); n != 0 {
			t.Errorf("server got %d requests, want 0", n)
		}
	})
}

func checkCanceled(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want context.Canceled", err)
	}
	e, ok := errors.AsType[*llm.Error](err)
	if !ok || e.Retryable || e.Provider != Provider {
		t.Errorf("got %v, want a final gemini *llm.Error", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "generate", true: "stream"}[stream], func(t *testing.T) {
			t.Parallel()
			file := "generate_text.json"
			if stream {
				file = "stream_no_finish.sse"
			}
			f := newFakeAPI(t, reply{file: file, block: true})
			m, _ := newTestModel(t, f, func(c *Config) {
				c.Timeout = 20 * time.Millisecond
				c.Retry.MaxAttempts = 1
			})
			var err error
			if stream {
				_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), userText("Hi")))
			} else {
				// The body is complete but the response never ends.
				_, err = m.Generate(t.Context(), userText("Hi"))
			}
			e, ok := errors.AsType[*llm.Error](err)
			if !ok || !e.Retryable || e.Message != "call timed out after 20ms" || !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got error %v, want a retryable timeout", err)
			}
		})
	}
}

func TestNew(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"valid", Config{Model: testModel, APIKey: testKey}, ""},
		{"no model", Config{APIKey: testKey}, "gemini config: Model is required"},
		{"no key", Config{Model: testModel}, "gemini config: APIKey is required"},
		{"model with a query", Config{Model: "gemini?alt=json", APIKey: testKey}, `gemini config: Model "gemini?alt=json" is not a model name`},
		{"model climbing the path", Config{Model: "../files", APIKey: testKey}, `gemini config: Model "../files" is not a model name`},
		{"negative timeout", Config{Model: testModel, APIKey: testKey, Timeout: -time.Second}, "gemini config: Timeout must not be negative, got -1s"},
		{"relative base URL", Config{Model: testModel, APIKey: testKey, BaseURL: "localhost:8080"}, "gemini config: BaseURL must be an absolute http or https URL"},
		{"bad base URL", Config{Model: testModel, APIKey: testKey, BaseURL: "http://user:" + testKey + "@[::1"}, "gemini config: BaseURL is not a valid URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("got error %v, want nil", err)
				}
				if m.Provider() != "gemini" || m.Name() != testModel {
					t.Errorf("got provider %q name %q", m.Provider(), m.Name())
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("got error %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestHTTPClientNotModified(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "generate_text.json"})
	hc := &http.Client{}
	m, _ := newTestModel(t, f, func(c *Config) { c.HTTPClient = hc })
	if _, err := m.Generate(t.Context(), userText("Hi")); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if hc.Transport != nil {
		t.Errorf("the caller's client got transport %T", hc.Transport)
	}
}

func TestLogging(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	body := `{"error": {"code": 503, "message": "overloaded, key=` + testKey + `", "status": "UNAVAILABLE"}}`
	f := newFakeAPI(t, reply{status: 503, body: body}, reply{file: "generate_text.json"})
	m, _ := newTestModel(t, f, func(c *Config) { c.Logger = logger })
	if _, err := m.Generate(t.Context(), userText("Hi")); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}

	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("want one JSON log line, got %q: %v", buf.String(), err)
	}
	want := map[string]any{
		"level":     "WARN",
		"msg":       "model call failed",
		"component": "llm.gemini",
		"provider":  "gemini",
		"model":     testModel,
		"op":        "generate",
		"attempt":   1.0,
		"retryable": true,
		"status":    503.0,
		"error":     "gemini: status 503: overloaded, key=[redacted]",
	}
	delete(rec, "time")
	if diff := cmp.Diff(want, rec); diff != "" {
		t.Errorf("log record mismatch (-want +got):\n%s", diff)
	}
}
