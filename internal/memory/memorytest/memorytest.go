// Package memorytest is the contract suite every [memory.Store] backend
// runs.
package memorytest

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/memory"
)

// Run runs the suite; newStore returns a fresh, empty store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) memory.Store) {
	t.Helper()

	t.Run("AppendListClear", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		if got, err := s.MessageList(ctx, "none"); err != nil || len(got) != 0 {
			t.Errorf("unknown session: %v, %v", got, err)
		}
		turn := []llm.Message{
			{Role: llm.RoleUser, Content: "add 2 and 40"},
			{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{{ID: "call_1", Name: "add", Arguments: json.RawMessage(`{"a":2,"b":40}`)}}},
			{Role: llm.RoleTool, ToolCallID: "call_1", Name: "add", Content: "42"},
			{Role: llm.RoleTool, ToolCallID: "call_2", Name: "bad", Content: "boom", IsError: true},
			{Role: llm.RoleAssistant, Content: "42"},
		}
		if err := s.MessageAppend(ctx, "s", turn[:2]...); err != nil {
			t.Fatal(err)
		}
		if err := s.MessageAppend(ctx, "s", turn[2:]...); err != nil {
			t.Fatal(err)
		}
		if err := s.MessageAppend(ctx, "other", llm.Message{Role: llm.RoleUser, Content: "hi"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.MessageList(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(turn, got); diff != "" {
			t.Errorf("messages (-want +got):\n%s", diff)
		}
		if err := s.MessageClear(ctx, "s"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.MessageList(ctx, "s"); len(got) != 0 {
			t.Errorf("after clear: %v", got)
		}
		if got, _ := s.MessageList(ctx, "other"); len(got) != 1 {
			t.Errorf("clear touched another session: %v", got)
		}
		if err := s.MessageClear(ctx, "never-existed"); err != nil {
			t.Errorf("clearing an unknown session: %v", err)
		}
	})

	t.Run("ListReturnsACopy", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		_ = s.MessageAppend(ctx, "s", llm.Message{Role: llm.RoleUser, Content: "original"})
		got, _ := s.MessageList(ctx, "s")
		got[0].Content = "changed"
		again, _ := s.MessageList(ctx, "s")
		if again[0].Content != "original" {
			t.Error("mutating a listed message changed the store")
		}
	})
}
