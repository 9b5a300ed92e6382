package openai

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// richRequest exercises every part of the request mapping.
func richRequest() *llm.Request {
	temp := 0.2
	return &llm.Request{
		System: "You are terse.",
		Messages: []llm.Message{
			{Role: llm.RoleUser, Content: "Weather and time in Paris?"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
				{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)},
				{ID: "call_2", Name: "get_time"},
			}},
			{Role: llm.RoleTool, ToolCallID: "call_1", Name: "get_weather", Content: `{"temp_c":18}`},
			{Role: llm.RoleTool, ToolCallID: "call_2", Name: "get_time", Content: "clock unavailable", IsError: true},
			{Role: llm.RoleAssistant, Content: "18°C; the time is unknown."},
			{Role: llm.RoleUser, Content: "Thanks"},
		},
		Tools: []llm.ToolSpec{
			{
				Name:        "get_weather",
				Description: "Current weather for a city.",
				InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string","maxLength":9007199254740993}},"required":["city"]}`),
			},
			{Name: "get_time"},
		},
		Temperature: &temp,
		MaxTokens:   256,
	}
}

const richRequestBody = `{
	"model": "gpt-4o-mini",
	"messages": [
		{"role": "system", "content": "You are terse."},
		{"role": "user", "content": "Weather and time in Paris?"},
		{"role": "assistant", "tool_calls": [
			{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
			{"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
		]},
		{"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\":18}"},
		{"role": "tool", "tool_call_id": "call_2", "content": "clock unavailable"},
		{"role": "assistant", "content": "18°C; the time is unknown."},
		{"role": "user", "content": "Thanks"}
	],
	"tools": [
		{"type": "function", "function": {
			"name": "get_weather",
			"description": "Current weather for a city.",
			"parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 9007199254740993}}, "required": ["city"]}
		}},
		{"type": "function", "function": {"name": "get_time"}}
	],
	"temperature": 0.2
}`

func TestRequestMapping(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		provider   string
		apiKey     string
		stream     bool
		wantAuth   string
		wantTokens map[string]any
	}{
		{
			name:       "openai sends max_completion_tokens",
			apiKey:     testKey,
			wantAuth:   "Bearer " + testKey,
			wantTokens: map[string]any{"max_completion_tokens": 256.0},
		},
		{
			name:       "openai stream asks for usage",
			apiKey:     testKey,
			stream:     true,
			wantAuth:   "Bearer " + testKey,
			wantTokens: map[string]any{"max_completion_tokens": 256.0},
		},
		{
			name:       "compatible server gets max_tokens and no key",
			provider:   "ollama",
			wantTokens: map[string]any{"max_tokens": 256.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := "completion_text.json"
			if tt.stream {
				file = "stream_text.sse"
			}
			f := newFakeAPI(t, reply{file: file})
			m, _ := newTestModel(t, f, func(c *Config) {
				c.Provider = tt.provider
				c.APIKey = tt.apiKey
			})

			var err error
			if tt.stream {
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
			if got.Method != http.MethodPost || got.Path != "/v1/chat/completions" {
				t.Errorf("got %s %s, want POST /v1/chat/completions", got.Method, got.Path)
			}
			if auth := got.Header.Get("Authorization"); auth != tt.wantAuth {
				t.Errorf("got Authorization %q, want %q", auth, tt.wantAuth)
			}
			want := decodeJSON(t, richRequestBody)
			for k, v := range tt.wantTokens {
				want[k] = v
			}
			if tt.stream {
				want["stream"] = true
				want["stream_options"] = map[string]any{"include_usage": true}
			}
			if diff := cmp.Diff(want, got.Body); diff != "" {
				t.Errorf("request body mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestOmitsUnsetOptions(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "completion_text.json"})
	m, _ := newTestModel(t, f, nil)
	req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Hi"}}}
	if _, err := m.Generate(t.Context(), req); err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := decodeJSON(t, `{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}`)
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
			"tool message without call ID",
			&llm.Request{Messages: []llm.Message{{Role: llm.RoleTool, Content: "x"}}},
			"invalid request: message 0: tool message has no tool call ID",
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
			f := newFakeAPI(t, reply{file: "completion_text.json"})
			m, _ := newTestModel(t, f, nil)

			_, err := m.Generate(t.Context(), tt.req)
			_, _, streamErr := llmtest.Collect(m.GenerateStream(t.Context(), tt.req))
			for _, err := range []error{err, streamErr} {
				e, ok := errors.AsType[*llm.Error](err)
				if !ok {
					t.Fatalf("got error %v, want *llm.Error", err)
				}
				if !strings.HasPrefix(e.Message, tt.wantMsg) || e.Retryable {
					t.Errorf("got %q (retryable %t), want prefix %q, not retryable", e.Message, e.Retryable, tt.wantMsg)
				}
			}
			if n := len(f.Requests()); n != 0 {
				t.Errorf("got %d requests, want 0", n)
			}
		})
	}
}

func TestGenerateText(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "completion_text.json"})
	m, _ := newTestModel(t, f, nil)

	got, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Capital of France?"}}})
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant, Content: "The capital of France is Paris."},
		Usage:        llm.Usage{PromptTokens: 24, CompletionTokens: 8, TotalTokens: 32},
		FinishReason: "stop",
		Model:        "gpt-4o-mini-2024-07-18",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("response mismatch (-want +got):\n%s", diff)
	}
}

func TestGenerateToolCalls(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "completion_tool_calls.json"})
	m, _ := newTestModel(t, f, nil)

	got, err := m.Generate(t.Context(), richRequest())
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if diff := cmp.Diff(wantToolCallResponse(), got); diff != "" {
		t.Errorf("response mismatch (-want +got):\n%s", diff)
	}
}

// wantToolCallResponse is the answer recorded in both tool-call payloads.
func wantToolCallResponse() *llm.Response {
	return &llm.Response{
		Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
			{ID: "call_7fJd2LkQmP9sXw4RtY1vBn8c", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris","unit":"celsius"}`)},
			{ID: "call_Hq3Zx6Vb0NcM5aLs8DfG2Kj1", Name: "get_time", Arguments: json.RawMessage(`{}`)},
		}},
		Usage:        llm.Usage{PromptTokens: 112, CompletionTokens: 47, TotalTokens: 159},
		FinishReason: "tool_calls",
		Model:        "gpt-4o-mini-2024-07-18",
	}
}

func TestGenerateStreamText(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "stream_text.sse"})
	m, _ := newTestModel(t, f, nil)

	deltas, final, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: "Capital of France?"}}}))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	wantDeltas := []string{"The", " capital", " of", " France", " is", " Paris", "."}
	if diff := cmp.Diff(wantDeltas, deltas); diff != "" {
		t.Errorf("deltas mismatch (-want +got):\n%s", diff)
	}
	want := &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant, Content: strings.Join(deltas, "")},
		Usage:        llm.Usage{PromptTokens: 24, CompletionTokens: 9, TotalTokens: 33},
		FinishReason: "stop",
		Model:        "gpt-4o-mini-2024-07-18",
	}
	if diff := cmp.Diff(want, final); diff != "" {
		t.Errorf("final response mismatch (-want +got):\n%s", diff)
	}
}

func TestGenerateStreamToolCalls(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "stream_tool_calls.sse"})
	m, _ := newTestModel(t, f, nil)

	deltas, final, err := llmtest.Collect(m.GenerateStream(t.Context(), richRequest()))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if len(deltas) != 0 {
		t.Errorf("got text deltas %q, want none", deltas)
	}
	if diff := cmp.Diff(wantToolCallResponse(), final); diff != "" {
		t.Errorf("final response mismatch (-want +got):\n%s", diff)
	}
}

func TestGenerateStreamMissingDone(t *testing.T) {
	t.Parallel()
	// The finish reason and usage arrived; only the [DONE] line is lost.
	f := newFakeAPI(t, reply{file: "stream_text.sse", dropDone: true})
	m, _ := newTestModel(t, f, nil)

	_, final, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{}))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	if final == nil || final.Message.Content != "The capital of France is Paris." || final.Usage.TotalTokens != 33 {
		t.Errorf("got final response %+v, want the complete answer with usage", final)
	}
}

func TestGenerateStreamCutAfterFinish(t *testing.T) {
	t.Parallel()
	// Event 8 carries the finish reason; the cut loses only the usage
	// chunk, so the complete answer is still delivered.
	f := newFakeAPI(t, reply{file: "stream_text.sse", cutAfter: 9})
	m, _ := newTestModel(t, f, nil)

	_, final, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{}))
	if err != nil {
		t.Fatalf("got error %v, want nil", err)
	}
	want := &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant, Content: "The capital of France is Paris."},
		FinishReason: "stop",
		Model:        "gpt-4o-mini-2024-07-18",
	}
	if diff := cmp.Diff(want, final); diff != "" {
		t.Errorf("final response mismatch (-want +got):\n%s", diff)
	}
}

func TestGenerateStreamEndsAtDoneChunk(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "stream_text.sse"})
	m, _ := newTestModel(t, f, nil)

	var sawDone bool
	for c, err := range m.GenerateStream(t.Context(), &llm.Request{}) {
		if sawDone {
			t.Fatalf("got chunk %+v, err %v after the done chunk, want nothing", c, err)
		}
		if err != nil {
			t.Fatalf("got error %v, want nil", err)
		}
		sawDone = c.Done
	}
	if !sawDone {
		t.Error("got no done chunk, want one")
	}
}

func TestRetry(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		replies    []reply
		stream     bool
		wantReqs   int
		wantDelays []time.Duration
	}{
		{
			name: "429 with Retry-After 0 then success",
			replies: []reply{
				{status: 429, header: map[string]string{"Retry-After": "0"}, file: "error_429.json"},
				{file: "completion_text.json"},
			},
			wantReqs:   2,
			wantDelays: []time.Duration{time.Millisecond},
		},
		{
			name: "Retry-After seconds are honoured",
			replies: []reply{
				{status: 429, header: map[string]string{"Retry-After": "7"}, file: "error_429.json"},
				{file: "completion_text.json"},
			},
			wantReqs:   2,
			wantDelays: []time.Duration{7 * time.Second},
		},
		{
			name: "retry-after-ms wins over Retry-After",
			replies: []reply{
				{status: 429, header: map[string]string{"Retry-After": "7", "Retry-After-Ms": "1250"}, file: "error_429.json"},
				{file: "completion_text.json"},
			},
			wantReqs:   2,
			wantDelays: []time.Duration{1250 * time.Millisecond},
		},
		{
			name: "500 then success",
			replies: []reply{
				{status: 500, file: "error_500.json"},
				{file: "completion_text.json"},
			},
			wantReqs:   2,
			wantDelays: []time.Duration{time.Millisecond},
		},
		{
			name: "stream retried before the first chunk",
			replies: []reply{
				{status: 503, file: "error_500.json"},
				{status: 429, file: "error_429.json"},
				{file: "stream_text.sse"},
			},
			stream:     true,
			wantReqs:   3,
			wantDelays: []time.Duration{time.Millisecond, 2 * time.Millisecond},
		},
		{
			name: "x-should-retry overrides a 400",
			replies: []reply{
				{status: 400, header: map[string]string{"X-Should-Retry": "true"}, file: "error_500.json"},
				{file: "completion_text.json"},
			},
			wantReqs:   2,
			wantDelays: []time.Duration{time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, tt.replies...)
			m, sleeps := newTestModel(t, f, nil)

			var err error
			if tt.stream {
				_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{}))
			} else {
				_, err = m.Generate(t.Context(), &llm.Request{})
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if n := len(f.Requests()); n != tt.wantReqs {
				t.Errorf("got %d requests, want %d", n, tt.wantReqs)
			}
			if diff := cmp.Diff(tt.wantDelays, sleeps.Delays()); diff != "" {
				t.Errorf("retry delays mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()

	const msg401 = "Incorrect API key provided: sk-test-***********************wxyz. You can find your API key at https://platform.openai.com/account/api-keys."
	const msg500 = "The server had an error while processing your request. Sorry about that!"

	tests := []struct {
		name     string
		provider string
		reply    reply
		wantReqs int
		want     *llm.Error
	}{
		{
			name:     "401 is final after one request",
			reply:    reply{status: 401, file: "error_401.json"},
			wantReqs: 1,
			want:     &llm.Error{Provider: "openai", StatusCode: 401, Message: msg401},
		},
		{
			name:     "500 gives up after three requests",
			reply:    reply{status: 500, file: "error_500.json"},
			wantReqs: 3,
			want:     &llm.Error{Provider: "openai", StatusCode: 500, Retryable: true, Message: msg500},
		},
		{
			name:     "429 keeps its Retry-After",
			reply:    reply{status: 429, header: map[string]string{"Retry-After": "2"}, file: "error_429.json"},
			wantReqs: 3,
			want: &llm.Error{
				Provider: "openai", StatusCode: 429, Retryable: true, RetryAfter: 2 * time.Second,
				Message: "Rate limit reached for gpt-4o-mini in organization org-Ab12Cd34Ef56Gh78Ij90Kl12 on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.",
			},
		},
		{
			name:     "HTML from a proxy uses the status text",
			reply:    reply{status: 502, header: map[string]string{"Content-Type": "text/html"}, file: "error_502.html"},
			wantReqs: 3,
			want:     &llm.Error{Provider: "openai", StatusCode: 502, Retryable: true, Message: "Bad Gateway"},
		},
		{
			name:     "compatible server error shape",
			provider: "ollama",
			reply:    reply{status: 404, file: "error_404_ollama.json"},
			wantReqs: 1,
			want:     &llm.Error{Provider: "ollama", StatusCode: 404, Message: `model "llama3.9" not found, try pulling it first`},
		},
		{
			name:     "vLLM error shape",
			provider: "vllm",
			reply:    reply{status: 404, file: "error_404_vllm.json"},
			wantReqs: 1,
			want:     &llm.Error{Provider: "vllm", StatusCode: 404, Message: "The model `llama-9b` does not exist."},
		},
		{
			name:     "x-should-retry false overrides a 500",
			reply:    reply{status: 500, header: map[string]string{"X-Should-Retry": "false"}, file: "error_500.json"},
			wantReqs: 1,
			want:     &llm.Error{Provider: "openai", StatusCode: 500, Message: msg500},
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
				f := newFakeAPI(t, tt.reply)
				m, _ := newTestModel(t, f, func(c *Config) { c.Provider = tt.provider })

				var err error
				if stream {
					_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{}))
				} else {
					_, err = m.Generate(t.Context(), &llm.Request{})
				}
				got, ok := errors.AsType[*llm.Error](err)
				if !ok {
					t.Fatalf("got error %v, want *llm.Error", err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("error mismatch (-want +got):\n%s", diff)
				}
				if n := len(f.Requests()); n != tt.wantReqs {
					t.Errorf("got %d requests, want %d", n, tt.wantReqs)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Errorf("got error %q, want it free of the API key", err)
				}
			})
		}
	}
}

func TestUnauthorizedMessage(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{status: 401, file: "error_401.json"})
	m, _ := newTestModel(t, f, nil)

	_, err := m.Generate(t.Context(), &llm.Request{})
	const wantPrefix = "openai: status 401: Incorrect API key provided"
	if err == nil || !strings.HasPrefix(err.Error(), wantPrefix) {
		t.Fatalf("got error %v, want prefix %q", err, wantPrefix)
	}
	if llm.IsRetryable(err) {
		t.Errorf("got retryable error, want final")
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	// A dialer that always fails, rather than a closed server whose port
	// another test could reuse.
	refuse := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	}
	sleeps := &llmtest.SleepRecorder{}
	m, err := New(Config{
		Model:      "gpt-4o-mini",
		BaseURL:    "http://127.0.0.1:9/v1",
		APIKey:     testKey,
		HTTPClient: &http.Client{Transport: &http.Transport{DialContext: refuse}},
		Retry:      llm.RetryPolicy{SleepFunc: sleeps.Sleep},
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	_, err = m.Generate(t.Context(), &llm.Request{})
	e, ok := errors.AsType[*llm.Error](err)
	if !ok || !e.Retryable || e.StatusCode != 0 || !strings.HasPrefix(e.Message, "connection error: ") {
		t.Fatalf("got error %#v, want a retryable connection error", err)
	}
	if n := len(sleeps.Delays()); n != 2 {
		t.Errorf("got %d retries, want 2", n)
	}
	if strings.Contains(err.Error(), testKey) {
		t.Errorf("got error %q, want it free of the API key", err)
	}
}

func TestStreamTruncated(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		reply     reply
		wantReqs  int
		wantTexts []string
	}{
		{
			name:      "connection cut after text",
			reply:     reply{file: "stream_text.sse", cutAfter: 3},
			wantReqs:  1,
			wantTexts: []string{"The", " capital"},
		},
		{
			name:      "clean end without finish reason or DONE",
			reply:     reply{file: "stream_truncated.sse"},
			wantReqs:  1,
			wantTexts: []string{"Once", " upon", " a"},
		},
		{
			name:     "cut before any text is retried",
			reply:    reply{file: "stream_text.sse", cutAfter: 1},
			wantReqs: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeAPI(t, tt.reply)
			m, _ := newTestModel(t, f, nil)

			texts, final, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{}))
			if !errors.Is(err, llm.ErrStreamTruncated) {
				t.Fatalf("got error %v, want llm.ErrStreamTruncated", err)
			}
			if _, ok := errors.AsType[*llm.Error](err); !ok {
				t.Errorf("got error %T, want *llm.Error", err)
			}
			if !llm.IsRetryable(err) {
				t.Errorf("got final error, want retryable")
			}
			if final != nil {
				t.Errorf("got final response %+v, want none", final)
			}
			if diff := cmp.Diff(tt.wantTexts, texts); diff != "" {
				t.Errorf("text chunks mismatch (-want +got):\n%s", diff)
			}
			if n := len(f.Requests()); n != tt.wantReqs {
				t.Errorf("got %d requests, want %d", n, tt.wantReqs)
			}
		})
	}
}

func TestStreamErrorEvent(t *testing.T) {
	t.Parallel()
	f := newFakeAPI(t, reply{file: "stream_error_event.sse"})
	m, _ := newTestModel(t, f, nil)

	texts, _, err := llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{}))
	want := &llm.Error{
		Provider:  "openai",
		Retryable: true,
		Message:   "error event in stream: The server had an error while processing your request. Sorry about that!",
	}
	got, ok := errors.AsType[*llm.Error](err)
	if !ok {
		t.Fatalf("got error %v, want *llm.Error", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"Hello"}, texts); diff != "" {
		t.Errorf("text chunks mismatch (-want +got):\n%s", diff)
	}
	// The text was already yielded, so the stream is not retried.
	if n := len(f.Requests()); n != 1 {
		t.Errorf("got %d requests, want 1", n)
	}
}

func TestCancel(t *testing.T) {
	t.Parallel()

	t.Run("generate", func(t *testing.T) {
		t.Parallel()
		// The handler blocks before its response is flushed, so the call
		// is in flight when the caller gives up.
		f := newFakeAPI(t, reply{file: "completion_text.json", block: true})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() {
			<-f.arrived
			cancel()
		}()

		_, err := m.Generate(ctx, &llm.Request{})
		assertCanceled(t, err)
		<-f.done // the server saw the connection go
		if n := len(f.Requests()); n != 1 {
			t.Errorf("got %d requests, want 1", n)
		}
	})

	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "stream_truncated.sse", block: true})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()

		var texts []string
		var err error
		for c, e := range m.GenerateStream(ctx, &llm.Request{}) {
			if e != nil {
				err = e
				break
			}
			texts = append(texts, c.TextDelta)
			cancel()
		}
		assertCanceled(t, err)
		// Chunks already buffered may still arrive after cancel.
		if len(texts) == 0 || texts[0] != "Once" {
			t.Errorf("got text chunks %q, want them to start with %q", texts, "Once")
		}
		<-f.done
	})

	t.Run("consumer stops early", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "stream_truncated.sse", block: true})
		m, _ := newTestModel(t, f, nil)

		for c, err := range m.GenerateStream(t.Context(), &llm.Request{}) {
			if err != nil || c.TextDelta != "Once" {
				t.Fatalf("got chunk %+v, error %v, want text %q", c, err, "Once")
			}
			break
		}
		// The connection was closed, so the blocked handler returns.
		<-f.done
	})

	t.Run("before the call", func(t *testing.T) {
		t.Parallel()
		f := newFakeAPI(t, reply{file: "completion_text.json"})
		m, _ := newTestModel(t, f, nil)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()

		_, err := m.Generate(ctx, &llm.Request{})
		if !errors.Is(err, context.Canceled) || llm.IsRetryable(err) {
			t.Errorf("got error %v, want context.Canceled, not retryable", err)
		}
		if n := len(f.Requests()); n != 0 {
			t.Errorf("got %d requests, want 0", n)
		}
	})
}

func assertCanceled(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want context.Canceled", err)
	}
	e, ok := errors.AsType[*llm.Error](err)
	if !ok || e.Retryable || e.Provider != "openai" {
		t.Errorf("got error %#v, want a final *llm.Error from openai", err)
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()

	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "generate", true: "stream"}[stream], func(t *testing.T) {
			t.Parallel()
			// The server never answers; each attempt ends at the timeout.
			f := newFakeAPI(t, reply{file: "completion_text.json", block: true})
			m, sleeps := newTestModel(t, f, func(c *Config) {
				c.Timeout = 50 * time.Millisecond
				c.Retry.MaxAttempts = 2
			})

			var err error
			if stream {
				_, _, err = llmtest.Collect(m.GenerateStream(t.Context(), &llm.Request{}))
			} else {
				_, err = m.Generate(t.Context(), &llm.Request{})
			}
			e, ok := errors.AsType[*llm.Error](err)
			if !ok || !e.Retryable || e.Message != "call timed out after 50ms" {
				t.Fatalf("got error %#v, want a retryable timeout", err)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got error %v, want context.DeadlineExceeded", err)
			}
			// Counted by the waits between attempts: a slow machine may
			// time an attempt out before its request reaches the server.
			if n := len(sleeps.Delays()); n != 1 {
				t.Errorf("got %d retries, want 1", n)
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
		{"model required", Config{}, "openai config: Model is required"},
		{"negative timeout", Config{Model: "m", Timeout: -time.Second}, "openai config: Timeout must not be negative, got -1s"},
		{"relative base URL", Config{Model: "m", BaseURL: "localhost:11434/v1"}, "openai config: BaseURL must be an absolute http or https URL"},
		{"bad base URL", Config{Model: "m", BaseURL: "http://user:sk-secret@[::1"}, "openai config: BaseURL is not a valid URL"},
		{"defaults", Config{Model: "gpt-4o-mini"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("got error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if m.Provider() != DefaultProvider || m.Name() != tt.cfg.Model || m.timeout != DefaultTimeout {
				t.Errorf("got provider %q, name %q, timeout %v, want defaults", m.Provider(), m.Name(), m.timeout)
			}
		})
	}
}
