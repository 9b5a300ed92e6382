package memstore

import (
	"context"
	"errors"
	"strconv"
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

// TestEvictionLeavesTheIndexes checks that a forgotten session's events
// leave the trace and run indexes and the global order with it.
func TestEvictionLeavesTheIndexes(t *testing.T) {
	s := NewWithConfig(Config{MaxSessions: 2})
	ctx := t.Context()
	for _, sess := range []string{"a", "b", "c"} {
		for _, typ := range []string{"user_message", "final_answer"} {
			_ = s.EventAppend(ctx, &telemetry.Event{EventType: typ, SessionID: sess, RunID: "run_" + sess, TraceID: "trace_" + sess})
		}
	}
	if _, err := s.TraceGet(ctx, "trace_a"); !errors.Is(err, telemetry.ErrNotFound) {
		t.Errorf("trace of the evicted session: err = %v", err)
	}
	if _, err := s.TraceLatestForRun(ctx, "run_a"); !errors.Is(err, telemetry.ErrNotFound) {
		t.Errorf("run of the evicted session: err = %v", err)
	}
	for _, p := range []telemetry.EventQueryParams{{RunID: "run_a"}, {TraceID: "trace_a"}, {SessionID: "a"}} {
		if page, _ := s.EventQuery(ctx, p); len(page.Events) != 0 {
			t.Errorf("query %+v found evicted events", p)
		}
	}
	page, _ := s.EventQuery(ctx, telemetry.EventQueryParams{})
	for _, e := range page.Events {
		if e.SessionID == "a" {
			t.Errorf("global query returned evicted event %+v", e)
		}
	}
	if len(page.Events) != 4 {
		t.Errorf("global query: %d events, want 4", len(page.Events))
	}
	traces, _ := s.TraceList(ctx, telemetry.TraceQueryParams{})
	if len(traces) != 2 {
		t.Errorf("%d traces listed, want 2", len(traces))
	}
	if _, err := s.TraceGet(ctx, "trace_c"); err != nil {
		t.Errorf("kept trace: %v", err)
	}
}

// TestIndexesStayBounded checks that the global orders are compacted, so
// memory follows MaxSessions however many sessions pass through.
func TestIndexesStayBounded(t *testing.T) {
	s := NewWithConfig(Config{MaxSessions: 10})
	ctx := t.Context()
	for i := range 10_000 {
		id := strconv.Itoa(i)
		_ = s.EventAppend(ctx, &telemetry.Event{EventType: "x", SessionID: id, RunID: "run_" + id, TraceID: "trace_" + id})
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.logs) != 10 || len(s.traces) != 10 || len(s.runs) != 10 {
		t.Errorf("logs %d traces %d runs %d, want 10 each", len(s.logs), len(s.traces), len(s.runs))
	}
	if len(s.order) > 2100 || len(s.traceOrder) > 2100 {
		t.Errorf("order %d, trace order %d: not compacted", len(s.order), len(s.traceOrder))
	}
}

// TestEvictionKeepsTheRestOfASpanningTrace checks a trace (and run) with
// events in two sessions loses only the evicted session's events.
func TestEvictionKeepsTheRestOfASpanningTrace(t *testing.T) {
	s := NewWithConfig(Config{MaxSessions: 2})
	ctx := t.Context()
	for _, sess := range []string{"a", "b", "a", "b", "b"} {
		_ = s.EventAppend(ctx, &telemetry.Event{EventType: "x", SessionID: sess, RunID: "run_1", TraceID: "trace_1"})
	}
	_ = s.EventAppend(ctx, &telemetry.Event{EventType: "x", SessionID: "c"}) // evicts a
	tr, err := s.TraceGet(ctx, "trace_1")
	if err != nil || len(tr.Events) != 3 {
		t.Fatalf("trace: %v, %d events, want b's 3", err, len(tr.Events))
	}
	for _, e := range tr.Events {
		if e.SessionID != "b" {
			t.Errorf("evicted event kept: %+v", e)
		}
	}
	if page, _ := s.EventQuery(ctx, telemetry.EventQueryParams{RunID: "run_1"}); len(page.Events) != 3 {
		t.Errorf("run query: %d events, want 3", len(page.Events))
	}
	if _, err := s.TraceLatestForRun(ctx, "run_1"); err != nil {
		t.Errorf("run trace: %v", err)
	}
}
