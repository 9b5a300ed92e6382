// Package telemetrytest is the contract suite every [telemetry.Store]
// backend runs: ordering, sequence numbers, filters, cursors, limits,
// wake-ups and the replay-then-follow boundary under concurrent appends.
package telemetrytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// Run runs the suite; newStore returns a fresh, empty store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) telemetry.Store) {
	t.Helper()

	t.Run("AppendAssignsSequencePerSession", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		for i, sess := range []string{"a", "b", "a", "a", "b"} {
			e := &telemetry.Event{EventType: "user_message", SessionID: sess, RunID: fmt.Sprint("run_", i)}
			if err := s.EventAppend(ctx, e); err != nil {
				t.Fatal(err)
			}
			if e.EventID == "" || e.Timestamp.IsZero() || e.SchemaVersion != telemetry.SchemaVersion {
				t.Errorf("append did not fill id/timestamp/schema: %+v", e)
			}
		}
		for sess, want := range map[string][]int64{"a": {1, 2, 3}, "b": {1, 2}} {
			evs, err := s.EventList(ctx, telemetry.ListParams{SessionID: sess})
			if err != nil {
				t.Fatal(err)
			}
			if got := seqs(evs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("session %s: sequences %v, want %v", sess, got, want)
			}
			last, err := s.EventLastSequence(ctx, sess)
			if err != nil || last != want[len(want)-1] {
				t.Errorf("session %s: last = %d, %v", sess, last, err)
			}
		}
		if last, err := s.EventLastSequence(ctx, "none"); err != nil || last != 0 {
			t.Errorf("unknown session: last = %d, %v", last, err)
		}
	})

	t.Run("ListFiltersCursorAndLimit", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		for i := range 10 {
			run := "run_even"
			if i%2 == 1 {
				run = "run_odd"
			}
			mustAppend(t, s, &telemetry.Event{EventType: "tool_call", SessionID: "s", RunID: run})
		}
		evs, _ := s.EventList(ctx, telemetry.ListParams{SessionID: "s", After: 4})
		if got := seqs(evs); fmt.Sprint(got) != "[5 6 7 8 9 10]" {
			t.Errorf("after 4: %v", got)
		}
		evs, _ = s.EventList(ctx, telemetry.ListParams{SessionID: "s", After: 4, Limit: 2})
		if got := seqs(evs); fmt.Sprint(got) != "[5 6]" {
			t.Errorf("after 4 limit 2: %v", got)
		}
		evs, _ = s.EventList(ctx, telemetry.ListParams{SessionID: "s", RunID: "run_odd", Limit: 3})
		if got := seqs(evs); fmt.Sprint(got) != "[2 4 6]" {
			t.Errorf("run filter with limit: %v", got)
		}
		evs, _ = s.EventList(ctx, telemetry.ListParams{SessionID: "s", After: 100})
		if len(evs) != 0 {
			t.Errorf("after the end: %v", seqs(evs))
		}
	})

	t.Run("StoredEventsRoundTrip", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		dur := 12.5
		in := &telemetry.Event{
			EventType: "tool_result", TraceID: "trace_1", SpanID: "span_1", ParentEventID: "event_0",
			SessionID: "s", RunID: "run_1", Actor: telemetry.Actor{Type: "tool", Name: "add"},
			Input: []byte(`{"a":1}`), Output: []byte(`{"result":"2"}`), DurationMS: &dur,
			Error:      &telemetry.EventError{Type: "tool_error", Message: "x", Retryable: true},
			TokenUsage: &telemetry.TokenUsage{PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3},
			Metadata:   map[string]any{"session_id": "s", "run_id": "run_1"},
		}
		mustAppend(t, s, in)
		evs, err := s.EventList(t.Context(), telemetry.ListParams{SessionID: "s"})
		if err != nil || len(evs) != 1 {
			t.Fatalf("list: %v %d", err, len(evs))
		}
		got := evs[0]
		if got.EventID != in.EventID || got.TraceID != "trace_1" || got.ParentEventID != "event_0" ||
			string(got.Output) != `{"result":"2"}` || *got.DurationMS != 12.5 || got.Error.Message != "x" ||
			got.TokenUsage.TotalTokens != 3 || got.Actor.Name != "add" || got.Metadata["run_id"] != "run_1" ||
			!got.Timestamp.Equal(in.Timestamp) {
			t.Errorf("round trip changed the event:\n got %+v\nwant %+v", got, *in)
		}
	})

	t.Run("WatchWakesOnAppend", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ch := s.EventWatch("w")
		mustAppend(t, s, &telemetry.Event{EventType: "x", SessionID: "w"})
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("watch channel not closed by an append")
		}
	})

	t.Run("FollowReplaysThenFollowsWithoutGapsOrDuplicates", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		const before, during = 50, 500
		for range before {
			mustAppend(t, s, &telemetry.Event{EventType: "x", SessionID: "f"})
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		// Several writers append concurrently while the follower reads.
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range during / 4 {
					mustAppend(t, s, &telemetry.Event{EventType: "x", SessionID: "f", RunID: fmt.Sprint("run_", w)})
				}
			}()
		}
		go func() {
			wg.Wait()
			close(stop)
		}()
		var got []int64
		for e, err := range telemetry.Follow(ctx, s, telemetry.FollowParams{SessionID: "f", After: 10, Stop: stop, Batch: 7}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.SequenceNumber)
		}
		want := before + during - 10
		if len(got) != want {
			t.Fatalf("followed %d events, want %d", len(got), want)
		}
		for i, seq := range got {
			if seq != int64(11+i) {
				t.Fatalf("event %d has sequence %d, want %d (gap or duplicate)", i, seq, 11+i)
			}
		}
	})

	t.Run("FollowFiltersRun", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for i := range 6 {
			mustAppend(t, s, &telemetry.Event{EventType: "x", SessionID: "r", RunID: fmt.Sprint("run_", i%2)})
		}
		stop := make(chan struct{})
		close(stop)
		var got []int64
		for e, err := range telemetry.Follow(t.Context(), s, telemetry.FollowParams{SessionID: "r", RunID: "run_1", Stop: stop}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.SequenceNumber)
		}
		if fmt.Sprint(got) != "[2 4 6]" {
			t.Errorf("followed %v, want [2 4 6]", got)
		}
	})
}

func mustAppend(t *testing.T, s telemetry.Store, e *telemetry.Event) {
	t.Helper()
	if err := s.EventAppend(context.Background(), e); err != nil {
		t.Error(err)
	}
}

func seqs(evs []telemetry.Event) []int64 {
	out := make([]int64, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.SequenceNumber)
	}
	return out
}
