package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/llm"
)

func TestScriptedGenerate(t *testing.T) {
	t.Parallel()

	call := llm.ToolCall{ID: "c1", Name: "add", Arguments: json.RawMessage(`{"a":1}`)}
	errBoom := errors.New("boom")
	m := NewScripted(
		Step{ToolCalls: []llm.ToolCall{call}, Usage: llm.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5}},
		Step{Err: errBoom},
		Step{Text: "done"},
	)

	req := &llm.Request{System: "sys", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	got, err := m.Generate(t.Context(), req)
	if err != nil {
		t.Fatalf("Generate 1: %v", err)
	}
	want := &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{call}},
		Usage:        llm.Usage{PromptTokens: 3, CompletionTokens: 2, TotalTokens: 5},
		FinishReason: "tool_calls",
		Model:        ModelName,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Generate 1 (-want +got):\n%s", diff)
	}
	// The recorded request is a copy: later changes by the caller do not show.
	req.Messages[0].Content = "changed"

	if _, err := m.Generate(t.Context(), &llm.Request{}); !errors.Is(err, errBoom) {
		t.Errorf("Generate 2: got %v, want %v", err, errBoom)
	}
	got, err = m.Generate(t.Context(), &llm.Request{})
	if err != nil || got.Message.Content != "done" || got.FinishReason != "stop" {
		t.Errorf("Generate 3: got %+v, %v; want text %q, finish stop", got, err, "done")
	}
	if _, err := m.Generate(t.Context(), &llm.Request{}); !errors.Is(err, ErrScriptExhausted) {
		t.Errorf("Generate 4: got %v, want %v", err, ErrScriptExhausted)
	}

	reqs := m.Requests()
	if len(reqs) != 4 {
		t.Fatalf("got %d recorded requests, want 4", len(reqs))
	}
	wantFirst := llm.Request{System: "sys", Messages: []llm.Message{{Role: llm.RoleUser, Content: "hi"}}}
	if diff := cmp.Diff(wantFirst, reqs[0]); diff != "" {
		t.Errorf("first request (-want +got):\n%s", diff)
	}
	if n := m.Remaining(); n != 0 {
		t.Errorf("Remaining: got %d, want 0", n)
	}
}

func TestScriptedStream(t *testing.T) {
	t.Parallel()

	m := NewScripted(Step{Text: "hello, streaming world"}, Step{Err: errors.New("nope")})

	var deltas []string
	var final *llm.Response
	for c, err := range m.GenerateStream(t.Context(), &llm.Request{}) {
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		if c.Done {
			final = c.Response
			continue
		}
		deltas = append(deltas, c.TextDelta)
	}
	if len(deltas) < 2 {
		t.Errorf("got %d text chunks, want several", len(deltas))
	}
	if got := strings.Join(deltas, ""); got != "hello, streaming world" {
		t.Errorf("joined deltas: got %q, want %q", got, "hello, streaming world")
	}
	if final == nil || final.Message.Content != "hello, streaming world" {
		t.Errorf("final response: got %+v, want the whole text", final)
	}

	var errs int
	for c, err := range m.GenerateStream(t.Context(), &llm.Request{}) {
		if err == nil {
			t.Errorf("got chunk %+v, want an error", c)
		}
		errs++
	}
	if errs != 1 {
		t.Errorf("got %d errors, want 1", errs)
	}
}

func TestScriptedBlock(t *testing.T) {
	t.Parallel()

	t.Run("Released", func(t *testing.T) {
		t.Parallel()
		started, release := make(chan struct{}), make(chan struct{})
		m := NewScripted(Step{Text: "late", Started: started, Block: release})
		done := make(chan error, 1)
		go func() {
			_, err := m.Generate(t.Context(), &llm.Request{})
			done <- err
		}()
		<-started
		close(release)
		if err := <-done; err != nil {
			t.Errorf("got %v, want nil", err)
		}
	})

	t.Run("Cancelled", func(t *testing.T) {
		t.Parallel()
		started := make(chan struct{})
		m := NewScripted(Step{Text: "never", Started: started, Block: make(chan struct{})})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := m.Generate(ctx, &llm.Request{})
			done <- err
		}()
		<-started
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want %v", err, context.Canceled)
		}
	})
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"abcdef", []string{"ab", "cd", "ef"}},
		{"abcdefg", []string{"abc", "def", "g"}},
		{"héé", []string{"h", "é", "é"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, split(tt.in, 3)); diff != "" {
			t.Errorf("split(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}
