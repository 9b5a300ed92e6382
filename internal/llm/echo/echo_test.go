package echo

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/omniserve/omniserve/internal/llm"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func user(text string) llm.Message { return llm.Message{Role: llm.RoleUser, Content: text} }

func TestNew(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		want string
	}{
		{name: "", want: "echo"},
		{name: "echo-large", want: "echo-large"},
	}
	for _, tt := range tests {
		m := New(tt.name)
		if got := m.Name(); got != tt.want {
			t.Errorf("New(%q).Name() = %q, want %q", tt.name, got, tt.want)
		}
		if got := m.Provider(); got != "echo" {
			t.Errorf("Provider() = %q, want %q", got, "echo")
		}
	}
}

func TestGenerate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		req  *llm.Request
		want *llm.Response
	}{
		{
			name: "echoes user text verbatim",
			req:  &llm.Request{Messages: []llm.Message{user("  Hello,\n world!  ")}},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "  Hello,\n world!  "},
				Usage:        llm.Usage{PromptTokens: 2, CompletionTokens: 2, TotalTokens: 4},
				FinishReason: "stop",
				Model:        "echo",
			},
		},
		{
			name: "echoes the last user message",
			req: &llm.Request{Messages: []llm.Message{
				user("first question"),
				{Role: llm.RoleAssistant, Content: "first question"},
				user("second"),
			}},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "second"},
				Usage:        llm.Usage{PromptTokens: 5, CompletionTokens: 1, TotalTokens: 6},
				FinishReason: "stop",
				Model:        "echo",
			},
		},
		{
			name: "system prompt counts toward prompt tokens",
			req: &llm.Request{
				System:   "you are a helpful bot",
				Messages: []llm.Message{user("hi there")},
			},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "hi there"},
				Usage:        llm.Usage{PromptTokens: 7, CompletionTokens: 2, TotalTokens: 9},
				FinishReason: "stop",
				Model:        "echo",
			},
		},
		{
			name: "tool call line",
			req:  &llm.Request{Messages: []llm.Message{user(`{"tool": "calculate", "arguments": {"expression": "6 * 7"}}`)}},
			want: &llm.Response{
				Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{
					ID: "call_1", Name: "calculate", Arguments: json.RawMessage(`{"expression":"6 * 7"}`),
				}}},
				Usage:        llm.Usage{PromptTokens: 7, CompletionTokens: 3, TotalTokens: 10},
				FinishReason: "tool_calls",
				Model:        "echo",
			},
		},
		{
			name: "tool call line after a preamble and before trailing whitespace",
			req: &llm.Request{Messages: []llm.Message{user("Please work this out.\nThanks!\n" +
				`  {"tool":"calculate","arguments":{"expression":"1+1"}}` + "\n\n ")}},
			want: &llm.Response{
				Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{
					ID: "call_1", Name: "calculate", Arguments: json.RawMessage(`{"expression":"1+1"}`),
				}}},
				Usage:        llm.Usage{PromptTokens: 6, CompletionTokens: 1, TotalTokens: 7},
				FinishReason: "tool_calls",
				Model:        "echo",
			},
		},
		{
			name: "missing arguments become an empty object",
			req:  &llm.Request{Messages: []llm.Message{user(`{"tool":"get_time"}`)}},
			want: &llm.Response{
				Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{
					ID: "call_1", Name: "get_time", Arguments: json.RawMessage(`{}`),
				}}},
				Usage:        llm.Usage{PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2},
				FinishReason: "tool_calls",
				Model:        "echo",
			},
		},
		{
			name: "null arguments become an empty object",
			req:  &llm.Request{Messages: []llm.Message{user(`{"tool":"get_time","arguments":null}`)}},
			want: &llm.Response{
				Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{
					ID: "call_1", Name: "get_time", Arguments: json.RawMessage(`{}`),
				}}},
				Usage:        llm.Usage{PromptTokens: 1, CompletionTokens: 1, TotalTokens: 2},
				FinishReason: "tool_calls",
				Model:        "echo",
			},
		},
		{
			name: "call IDs continue after earlier calls",
			req: &llm.Request{Messages: []llm.Message{
				user("x"),
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "a"}, {ID: "call_2", Name: "b"}}},
				{Role: llm.RoleTool, ToolCallID: "call_1", Content: "one"},
				{Role: llm.RoleTool, ToolCallID: "call_2", Content: "two"},
				{Role: llm.RoleAssistant, Content: "two"},
				user(`{"tool":"a"}`),
			}},
			want: &llm.Response{
				Message: llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{
					ID: "call_3", Name: "a", Arguments: json.RawMessage(`{}`),
				}}},
				Usage:        llm.Usage{PromptTokens: 5, CompletionTokens: 1, TotalTokens: 6},
				FinishReason: "tool_calls",
				Model:        "echo",
			},
		},
		{
			name: "answers with the last tool result after the last user message",
			req: &llm.Request{Messages: []llm.Message{
				user(`{"tool":"calculate","arguments":{"expression":"6*7"}}`),
				{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "calculate"}}},
				{Role: llm.RoleTool, ToolCallID: "call_1", Name: "calculate", Content: "first result"},
				{Role: llm.RoleTool, ToolCallID: "call_2", Name: "calculate", Content: `{"expression":"6*7","result":42}`},
			}},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: `{"expression":"6*7","result":42}`},
				Usage:        llm.Usage{PromptTokens: 4, CompletionTokens: 1, TotalTokens: 5},
				FinishReason: "stop",
				Model:        "echo",
			},
		},
		{
			name: "tool results before the last user message are ignored",
			req: &llm.Request{Messages: []llm.Message{
				user("q"),
				{Role: llm.RoleTool, ToolCallID: "call_1", Content: "old result"},
				user("new question"),
			}},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant, Content: "new question"},
				Usage:        llm.Usage{PromptTokens: 5, CompletionTokens: 2, TotalTokens: 7},
				FinishReason: "stop",
				Model:        "echo",
			},
		},
		{
			name: "empty user text",
			req:  &llm.Request{Messages: []llm.Message{user("")}},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant},
				FinishReason: "stop",
				Model:        "echo",
			},
		},
		{
			name: "no user message",
			req:  &llm.Request{System: "be brief"},
			want: &llm.Response{
				Message:      llm.Message{Role: llm.RoleAssistant},
				Usage:        llm.Usage{PromptTokens: 2, TotalTokens: 2},
				FinishReason: "stop",
				Model:        "echo",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			got, err := New("").Generate(t.Context(), tt.req)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Generate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGenerateTreatsOtherJSONAsText(t *testing.T) {
	t.Parallel()

	texts := []string{
		`{"tool": "calculate", "arguments": {"expression": "1"}, "extra": true}`,
		`{"tool": 42}`,
		`{"tool": ""}`,
		`{"arguments": {}}`,
		`{"tool": "x", "arguments": [1, 2]}`,
		`{"tool": "x", "arguments": "a string"}`,
		`{"tool": "x"} trailing`,
		`{"tool": "x"`,
		`["tool", "x"]`,
		`{"tool": "x"} and then more text` + "\n" + "last line is prose",
		`{}`,
	}
	for _, text := range texts {
		got, err := New("").Generate(t.Context(), &llm.Request{Messages: []llm.Message{user(text)}})
		if err != nil {
			t.Fatalf("Generate(%q): %v", text, err)
		}
		if got.Message.Content != text || len(got.Message.ToolCalls) != 0 || got.FinishReason != "stop" {
			t.Errorf("Generate(%q) = content %q, %d tool calls, finish %q; want the text echoed with finish \"stop\"",
				text, got.Message.Content, len(got.Message.ToolCalls), got.FinishReason)
		}
	}
}

func TestGenerateErrors(t *testing.T) {
	t.Parallel()

	if _, err := New("").Generate(t.Context(), nil); err == nil {
		t.Error("Generate(nil request): got nil error, want an error")
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := New("").Generate(ctx, &llm.Request{Messages: []llm.Message{user("hi")}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Generate(cancelled ctx): got %v, want %v", err, context.Canceled)
	}
}

// collect drains a stream, returning its chunks and the error it ended with.
func collect(seq func(func(*llm.Chunk, error) bool)) ([]*llm.Chunk, error) {
	var chunks []*llm.Chunk
	for c, err := range seq {
		if err != nil {
			return chunks, err
		}
		chunks = append(chunks, c)
	}
	return chunks, nil
}

func TestGenerateStream(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		text   string
		deltas []string
	}{
		{name: "two words", text: "Hello world", deltas: []string{"Hello", " world"}},
		{name: "whitespace kept", text: "  Hello,\n\tworld!  ", deltas: []string{"  Hello,", "\n\tworld!  "}},
		{name: "one word", text: "solo", deltas: []string{"solo"}},
		{name: "unicode", text: "héllo wörld 世界", deltas: []string{"héllo", " wörld", " 世界"}},
		{name: "only whitespace", text: " \n ", deltas: []string{" \n "}},
		{name: "empty", text: "", deltas: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			m := New("")
			req := &llm.Request{Messages: []llm.Message{user(tt.text)}}
			chunks, err := collect(m.GenerateStream(t.Context(), req))
			if err != nil {
				t.Fatalf("stream: %v", err)
			}
			if len(chunks) == 0 {
				t.Fatal("stream yielded no chunks, want a Done chunk at least")
			}
			var deltas []string
			var joined strings.Builder
			for _, c := range chunks[:len(chunks)-1] {
				if c.Done {
					t.Fatalf("Done chunk before the end of the stream")
				}
				deltas = append(deltas, c.TextDelta)
				joined.WriteString(c.TextDelta)
			}
			if diff := cmp.Diff(tt.deltas, deltas); diff != "" {
				t.Errorf("deltas mismatch (-want +got):\n%s", diff)
			}
			if got := joined.String(); got != tt.text {
				t.Errorf("joined deltas = %q, want %q", got, tt.text)
			}

			last := chunks[len(chunks)-1]
			if !last.Done || last.Response == nil {
				t.Fatalf("last chunk = %+v, want Done with a Response", last)
			}
			want, err := m.Generate(t.Context(), req)
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if diff := cmp.Diff(want, last.Response); diff != "" {
				t.Errorf("Done response differs from Generate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGenerateStreamToolCall(t *testing.T) {
	t.Parallel()

	req := &llm.Request{Messages: []llm.Message{user("compute\n" + `{"tool":"calculate","arguments":{"expression":"2^8"}}`)}}
	chunks, err := collect(New("").GenerateStream(t.Context(), req))
	if err != nil {
		t.Fatalf("stream: %v", err)
	}
	if len(chunks) != 1 || !chunks[0].Done {
		t.Fatalf("got %d chunks (first %+v), want exactly one Done chunk", len(chunks), chunks[0])
	}
	want := []llm.ToolCall{{ID: "call_1", Name: "calculate", Arguments: json.RawMessage(`{"expression":"2^8"}`)}}
	if diff := cmp.Diff(want, chunks[0].Response.Message.ToolCalls); diff != "" {
		t.Errorf("tool calls mismatch (-want +got):\n%s", diff)
	}
	if got := chunks[0].Response.FinishReason; got != "tool_calls" {
		t.Errorf("finish reason = %q, want %q", got, "tool_calls")
	}
}

func TestGenerateStreamCancelled(t *testing.T) {
	t.Parallel()

	t.Run("before start", func(t *testing.T) {
		t.Parallel()

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		chunks, err := collect(New("").GenerateStream(ctx, &llm.Request{Messages: []llm.Message{user("a b c")}}))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want %v", err, context.Canceled)
		}
		if len(chunks) != 0 {
			t.Errorf("got %d chunks, want 0", len(chunks))
		}
	})

	t.Run("between chunks", func(t *testing.T) {
		t.Parallel()

		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var got []string
		var gotErr error
		for c, err := range New("").GenerateStream(ctx, &llm.Request{Messages: []llm.Message{user("a b c d")}}) {
			if err != nil {
				gotErr = err
				break
			}
			got = append(got, c.TextDelta)
			cancel()
		}
		if !errors.Is(gotErr, context.Canceled) {
			t.Errorf("got error %v, want %v", gotErr, context.Canceled)
		}
		if diff := cmp.Diff([]string{"a"}, got); diff != "" {
			t.Errorf("chunks before cancellation mismatch (-want +got):\n%s", diff)
		}
	})

	t.Run("consumer stops early", func(t *testing.T) {
		t.Parallel()

		n := 0
		for range New("").GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{user("a b c d")}}) {
			n++
			break
		}
		if n != 1 {
			t.Errorf("got %d iterations, want 1", n)
		}
	})
}

func BenchmarkGenerateStream(b *testing.B) {
	m := New("")
	req := &llm.Request{Messages: []llm.Message{user(strings.Repeat("lorem ipsum dolor sit amet ", 40))}}
	for b.Loop() {
		for _, err := range m.GenerateStream(b.Context(), req) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
