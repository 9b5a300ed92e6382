package memstore

import (
	"context"
	"testing"

	"go.uber.org/goleak"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/memory"
	"github.com/omniserve/omniserve/internal/memory/memorytest"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/telemetry/telemetrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestTelemetryContract(t *testing.T) {
	telemetrytest.Run(t, func(*testing.T) telemetry.Store { return New() })
}

func TestMemoryContract(t *testing.T) {
	memorytest.Run(t, func(*testing.T) memory.Store { return New() })
}

func TestForgetsLeastRecentlyWrittenSessions(t *testing.T) {
	s := NewWithConfig(Config{MaxSessions: 2})
	ctx := context.Background()
	_ = s.EventAppend(ctx, &telemetry.Event{SessionID: "a"})
	_ = s.MessageAppend(ctx, "b", llm.Message{Role: llm.RoleUser, Content: "hi"})
	_ = s.EventAppend(ctx, &telemetry.Event{SessionID: "a"}) // a is now the most recent
	_ = s.EventAppend(ctx, &telemetry.Event{SessionID: "c"}) // evicts b
	if msgs, _ := s.MessageList(ctx, "b"); len(msgs) != 0 {
		t.Errorf("b kept: %v", msgs)
	}
	if n, _ := s.EventLastSequence(ctx, "a"); n != 2 {
		t.Errorf("a lost its events: last = %d", n)
	}
	if n, _ := s.EventLastSequence(ctx, "c"); n != 1 {
		t.Errorf("c: last = %d", n)
	}
}
