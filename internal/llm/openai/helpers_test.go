package openai

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	oai "github.com/openai/openai-go/v3"

	"github.com/omniserve/omniserve/internal/llm"
)

func TestArguments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"", "{}"},
		{"  ", "{}"},
		{"{}", "{}"},
		{`{"city":"Paris"}`, `{"city":"Paris"}`},
		{` {"a":1} `, `{"a":1}`},
		{`{"city":"Par`, `"{\"city\":\"Par"`},
	}
	for _, tt := range tests {
		got := arguments(tt.in)
		if string(got) != tt.want {
			t.Errorf("arguments(%q) = %s, want %s", tt.in, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("arguments(%q) = %s, want valid JSON", tt.in, got)
		}
	}
}

func TestArgumentsString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   json.RawMessage
		want string
	}{
		{nil, "{}"},
		{json.RawMessage(" "), "{}"},
		{json.RawMessage(`{"a":1}`), `{"a":1}`},
	}
	for _, tt := range tests {
		if got := argumentsString(tt.in); got != tt.want {
			t.Errorf("argumentsString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFinishReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reason    string
		toolCalls bool
		want      string
	}{
		{"stop", false, "stop"},
		{"stop", true, "tool_calls"},
		{"tool_calls", true, "tool_calls"},
		{"function_call", true, "tool_calls"},
		{"length", false, "length"},
		{"content_filter", false, "content_filter"},
		{"", false, ""},
	}
	for _, tt := range tests {
		if got := finishReason(tt.reason, tt.toolCalls); got != tt.want {
			t.Errorf("finishReason(%q, %t) = %q, want %q", tt.reason, tt.toolCalls, got, tt.want)
		}
	}
}

func TestBodyMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body, want string
	}{
		{"openai object", `{"error":{"message":"bad","type":"x"}}`, "bad"},
		{"string error", `{"error":"model not found"}`, "model not found"},
		{"top-level message", `{"object":"error","message":"no such model"}`, "no such model"},
		{"detail", `{"detail":"Not Found"}`, "Not Found"},
		{"html", `<html>502</html>`, ""},
		{"empty", ``, ""},
		{"empty error object", `{"error":{}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := bodyMessage(strings.NewReader(tt.body)); got != tt.want {
				t.Errorf("bodyMessage(%q) = %q, want %q", tt.body, got, tt.want)
			}
		})
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header http.Header
		want   time.Duration
	}{
		{"none", http.Header{}, 0},
		{"seconds", http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{"date", http.Header{"Retry-After": {"Mon, 02 Mar 2026 10:00:10 GMT"}}, 10 * time.Second},
		{"milliseconds win", http.Header{"Retry-After": {"3"}, "Retry-After-Ms": {"250"}}, 250 * time.Millisecond},
		{"bad milliseconds fall back", http.Header{"Retry-After": {"3"}, "Retry-After-Ms": {"soon"}}, 3 * time.Second},
		{"garbage", http.Header{"Retry-After": {"later"}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := retryAfter(tt.header, now); got != tt.want {
				t.Errorf("retryAfter(%v) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, key, in, want string
	}{
		{"key removed", testKey, "bad key " + testKey + "!", "bad key [redacted]!"},
		{"placeholder key kept", "ollama", "ollama is not running", "ollama is not running"},
		{"no key", "", "plain", "plain"},
		{"long text capped", "", strings.Repeat("é", maxMessageLen), strings.Repeat("é", maxMessageLen/2) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := &Model{apiKey: tt.key}
			if got := m.scrub(tt.in); got != tt.want {
				t.Errorf("scrub(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestAccumulatorToolCalls(t *testing.T) {
	t.Parallel()

	frag := func(index int64, id, name, args string) oai.ChatCompletionChunk {
		var c oai.ChatCompletionChunk
		c.Choices = []oai.ChatCompletionChunkChoice{{Delta: oai.ChatCompletionChunkChoiceDelta{
			ToolCalls: []oai.ChatCompletionChunkChoiceDeltaToolCall{{
				Index:    index,
				ID:       id,
				Function: oai.ChatCompletionChunkChoiceDeltaToolCallFunction{Name: name, Arguments: args},
			}},
		}}}
		return c
	}
	tests := []struct {
		name   string
		chunks []oai.ChatCompletionChunk
		want   []llm.ToolCall
	}{
		{
			name: "fragments by index",
			chunks: []oai.ChatCompletionChunk{
				frag(0, "a", "f", ""), frag(0, "", "", `{"x"`), frag(1, "b", "g", `{}`), frag(0, "", "", `:1}`),
			},
			want: []llm.ToolCall{
				{ID: "a", Name: "f", Arguments: json.RawMessage(`{"x":1}`)},
				{ID: "b", Name: "g", Arguments: json.RawMessage(`{}`)},
			},
		},
		{
			name:   "whole calls all at index 0",
			chunks: []oai.ChatCompletionChunk{frag(0, "a", "f", `{"x":1}`), frag(0, "b", "g", "")},
			want: []llm.ToolCall{
				{ID: "a", Name: "f", Arguments: json.RawMessage(`{"x":1}`)},
				{ID: "b", Name: "g", Arguments: json.RawMessage(`{}`)},
			},
		},
		{
			name:   "repeated id continues the call",
			chunks: []oai.ChatCompletionChunk{frag(0, "a", "f", `{"x"`), frag(0, "a", "f", `:1}`)},
			want:   []llm.ToolCall{{ID: "a", Name: "f", Arguments: json.RawMessage(`{"x":1}`)}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a accumulator
			for _, c := range tt.chunks {
				a.add(c)
			}
			got := (&Model{}).streamResponse(&a).Message.ToolCalls
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tool calls mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogsOmitKey(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	f := newFakeAPI(t, reply{status: 500, file: "error_500.json"})
	m, _ := newTestModel(t, f, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, nil))
	})

	if _, err := m.Generate(t.Context(), &llm.Request{}); err == nil {
		t.Fatal("got nil error, want one")
	}
	logs := buf.String()
	if got := strings.Count(logs, "model call failed"); got != 3 {
		t.Errorf("got %d failure logs, want 3:\n%s", got, logs)
	}
	if !strings.Contains(logs, "status=500") || !strings.Contains(logs, "component=llm.openai") {
		t.Errorf("got logs %q, want status and component attributes", logs)
	}
	if strings.Contains(logs, testKey) {
		t.Errorf("got logs containing the API key:\n%s", logs)
	}
}
