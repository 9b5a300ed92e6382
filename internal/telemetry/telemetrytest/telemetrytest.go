// Package telemetrytest is the contract suite every [telemetry.Store]
// backend runs: ordering, sequence numbers, filters, cursors, limits,
// wake-ups, the replay-then-follow boundary under concurrent appends,
// cross-session queries and paging, trace building and latest-trace
// selection.
package telemetrytest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/telemetry"
)

// Run runs the suite; newStore returns a fresh, empty store per subtest.
func Run(t *testing.T, newStore func(t *testing.T) telemetry.Store) {
	t.Helper()
	runLog(t, newStore)
	runQuery(t, newStore)
	runTraces(t, newStore)
}

// runLog covers the per-session log and follow.
func runLog(t *testing.T, newStore func(t *testing.T) telemetry.Store) {
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

	t.Run("FollowDisconnectsALaggingConsumer", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for range 3 {
			mustAppend(t, s, &telemetry.Event{EventType: "x", SessionID: "lag"})
		}
		var got []int64
		var lagErr error
		for e, err := range telemetry.Follow(t.Context(), s, telemetry.FollowParams{SessionID: "lag", Batch: 2, MaxLag: 5}) {
			if err != nil {
				lagErr = err
				break
			}
			got = append(got, e.SequenceNumber)
			if e.SequenceNumber == 1 {
				// The consumer is busy while ten more events arrive.
				for range 10 {
					mustAppend(t, s, &telemetry.Event{EventType: "x", SessionID: "lag"})
				}
			}
		}
		var le *telemetry.LagError
		if !errors.Is(lagErr, telemetry.ErrLagging) || !errors.As(lagErr, &le) || le.LastSequence != 2 {
			t.Fatalf("err = %v, want a LagError after sequence 2", lagErr)
		}
		if fmt.Sprint(got) != "[1 2]" {
			t.Errorf("followed %v before lagging, want [1 2]", got)
		}
	})

	t.Run("FollowReplayIsNotLag", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for range 20 {
			mustAppend(t, s, &telemetry.Event{EventType: "x", SessionID: "backlog"})
		}
		stop := make(chan struct{})
		close(stop)
		n := 0
		for _, err := range telemetry.Follow(t.Context(), s, telemetry.FollowParams{SessionID: "backlog", Stop: stop, Batch: 2, MaxLag: 3}) {
			if err != nil {
				t.Fatalf("after %d events: %v", n, err)
			}
			n++
		}
		if n != 20 {
			t.Errorf("replayed %d events, want 20", n)
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

// runQuery covers EventQuery: global order, filters, limits and cursors.
func runQuery(t *testing.T, newStore func(t *testing.T) telemetry.Store) {
	t.Helper()

	t.Run("QueryOrdersAcrossSessionsByAppend", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		var want []string
		for i, sess := range []string{"b", "a", "c", "a", "b", "c", "a"} {
			e := &telemetry.Event{EventType: "x", SessionID: sess, RunID: fmt.Sprint("run_", i)}
			mustAppend(t, s, e)
			want = append(want, e.EventID)
		}
		page, err := s.EventQuery(t.Context(), telemetry.EventQueryParams{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(page.Events); !slices.Equal(got, want) {
			t.Errorf("order %v, want append order %v", got, want)
		}
		if page.NextCursor != "" {
			t.Errorf("next cursor %q on the only page", page.NextCursor)
		}
	})

	t.Run("QueryFilters", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		add := func(e telemetry.Event) string {
			mustAppend(t, s, &e)
			return e.EventID
		}
		e1 := add(telemetry.Event{EventType: "user_message", SessionID: "s1", RunID: "run_1", TraceID: "trace_1"})
		e2 := add(telemetry.Event{EventType: "tool_result", SessionID: "s1", RunID: "run_1", TraceID: "trace_1"})
		e3 := add(telemetry.Event{EventType: "tool_result", SessionID: "s2", RunID: "run_2", TraceID: "trace_2",
			Metadata: map[string]any{"task_id": "task_a"}})
		// The run id only in metadata still matches a run filter.
		e4 := add(telemetry.Event{EventType: "final_answer", SessionID: "s2", TraceID: "trace_2",
			Metadata: map[string]any{"run_id": "run_2", "task_id": "task_a"}})
		e5 := add(telemetry.Event{EventType: "serve_request_end", SessionID: "s1", RunID: "run_1", TraceID: "trace_3"})
		tests := []struct {
			name string
			p    telemetry.EventQueryParams
			want []string
		}{
			{"none", telemetry.EventQueryParams{}, []string{e1, e2, e3, e4, e5}},
			{"trace", telemetry.EventQueryParams{TraceID: "trace_2"}, []string{e3, e4}},
			{"run", telemetry.EventQueryParams{RunID: "run_1"}, []string{e1, e2, e5}},
			{"run in metadata", telemetry.EventQueryParams{RunID: "run_2"}, []string{e3, e4}},
			{"session", telemetry.EventQueryParams{SessionID: "s1"}, []string{e1, e2, e5}},
			{"task", telemetry.EventQueryParams{TaskID: "task_a"}, []string{e3, e4}},
			{"one type", telemetry.EventQueryParams{EventTypes: []string{"tool_result"}}, []string{e2, e3}},
			{"two types", telemetry.EventQueryParams{EventTypes: []string{"final_answer", "user_message"}}, []string{e1, e4}},
			{"run and type", telemetry.EventQueryParams{RunID: "run_1", EventTypes: []string{"tool_result"}}, []string{e2}},
			{"trace and session", telemetry.EventQueryParams{TraceID: "trace_1", SessionID: "s1"}, []string{e1, e2}},
			{"session and trace disagree", telemetry.EventQueryParams{TraceID: "trace_2", SessionID: "s1"}, nil},
			{"session and run", telemetry.EventQueryParams{SessionID: "s1", RunID: "run_1", EventTypes: []string{"serve_request_end"}}, []string{e5}},
			{"unknown trace", telemetry.EventQueryParams{TraceID: "trace_none"}, nil},
			{"unknown session", telemetry.EventQueryParams{SessionID: "none"}, nil},
			{"limit", telemetry.EventQueryParams{Limit: 2}, []string{e1, e2}},
			{"limit with filter", telemetry.EventQueryParams{RunID: "run_1", Limit: 1}, []string{e1}},
		}
		for _, tt := range tests {
			page, err := s.EventQuery(t.Context(), tt.p)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			if got := ids(page.Events); !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
		}
	})

	t.Run("QueryPagesThroughEveryEventOnce", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			name   string
			filter telemetry.EventQueryParams
			limit  int
		}{
			{"all, limit 4", telemetry.EventQueryParams{}, 4},
			{"all, limit 1", telemetry.EventQueryParams{}, 1},
			{"all, limit divides", telemetry.EventQueryParams{}, 5},
			{"session", telemetry.EventQueryParams{SessionID: "s0"}, 3},
			{"run", telemetry.EventQueryParams{RunID: "run_1"}, 2},
			{"trace", telemetry.EventQueryParams{TraceID: "trace_2"}, 2},
			{"type", telemetry.EventQueryParams{EventTypes: []string{"tool_call"}}, 3},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				s := newStore(t)
				var want []string
				appendSome := func(n int) {
					for range n {
						i := len(want)
						e := &telemetry.Event{
							EventType: []string{"tool_call", "tool_result"}[i%2],
							SessionID: fmt.Sprint("s", i%3), RunID: fmt.Sprint("run_", i%4), TraceID: fmt.Sprint("trace_", i%4),
						}
						mustAppend(t, s, e)
						want = append(want, e.EventID)
					}
				}
				appendSome(20)
				var got []string
				p := tt.filter
				p.Limit = tt.limit
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatal("paging does not end")
					}
					page, err := s.EventQuery(t.Context(), p)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Events) > tt.limit {
						t.Fatalf("page of %d events, limit %d", len(page.Events), tt.limit)
					}
					if page.NextCursor != "" && len(page.Events) != tt.limit {
						t.Errorf("short page (%d) with a next cursor", len(page.Events))
					}
					got = append(got, ids(page.Events)...)
					if pages == 1 {
						appendSome(5) // appends between pages are seen too
					}
					if page.NextCursor == "" {
						break
					}
					p.Cursor = page.NextCursor
				}
				all, err := s.EventQuery(t.Context(), tt.filter)
				if err != nil {
					t.Fatal(err)
				}
				if wantIDs := ids(all.Events); !slices.Equal(got, wantIDs) {
					t.Errorf("paged %v\nwant  %v", got, wantIDs)
				}
				if tt.filter.SessionID == "" && tt.filter.RunID == "" && tt.filter.TraceID == "" && tt.filter.EventTypes == nil && !slices.Equal(got, want) {
					t.Errorf("unfiltered paging missed or repeated events")
				}
			})
		}
	})

	t.Run("QueryRejectsForeignCursor", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		for _, c := range []string{"nope", "-1", "1.5"} {
			if _, err := s.EventQuery(t.Context(), telemetry.EventQueryParams{Cursor: c}); !errors.Is(err, telemetry.ErrInvalidCursor) {
				t.Errorf("cursor %q: err = %v, want ErrInvalidCursor", c, err)
			}
		}
	})
}

// runSpec describes one served run for appendRun.
type runSpec struct {
	session, run string
	// terminal ends the agent trace; empty leaves it running.
	terminal *telemetry.Event
	// serveEnd ends the serve trace; nil leaves it running.
	serveEnd *telemetry.Event
	meta     map[string]any
}

// appendRun records a served run as the server does: serve_request_start,
// the agent trace (user message, a model call, a tool call, the terminal
// event), then the serve end. It returns the serve and agent trace ids.
func appendRun(t *testing.T, s telemetry.Store, r runSpec) (serveTrace, agentTrace string) {
	t.Helper()
	serveTrace, agentTrace = telemetry.NewID("trace_"), telemetry.NewID("trace_")
	serveSpan, runSpan := telemetry.NewID("span_"), telemetry.NewID("span_")
	modelSpan, toolSpan := telemetry.NewID("span_"), telemetry.NewID("span_")
	meta := map[string]any{"session_id": r.session, "run_id": r.run, "agent_name": "tester"}
	for k, v := range r.meta {
		meta[k] = v
	}
	serve := func(e telemetry.Event) {
		e.TraceID, e.SpanID, e.SessionID, e.RunID = serveTrace, serveSpan, r.session, r.run
		e.Actor = telemetry.Actor{Type: telemetry.ActorServe, Name: "OmniServe"}
		e.Metadata = map[string]any{"session_id": r.session, "run_id": r.run, "span_kind": "serve.request"}
		mustAppend(t, s, &e)
	}
	ag := func(e telemetry.Event) {
		e.TraceID, e.SessionID, e.RunID, e.Metadata = agentTrace, r.session, r.run, meta
		if e.SpanID == "" {
			e.SpanID = runSpan
		}
		mustAppend(t, s, &e)
	}
	serve(telemetry.Event{EventType: telemetry.EventServeRequestStart, Input: []byte(`{"method":"POST","path":"/run/sync"}`)})
	ag(telemetry.Event{EventType: telemetry.EventUserMessage, Actor: telemetry.Actor{Type: telemetry.ActorUser}})
	model := telemetry.Actor{Type: telemetry.ActorModel, ID: "echo", Name: "echo-1"}
	ag(telemetry.Event{EventType: telemetry.EventModelCall, SpanID: modelSpan, Actor: model})
	ag(telemetry.Event{EventType: telemetry.EventModelResponse, SpanID: modelSpan, Actor: model})
	tool := telemetry.Actor{Type: telemetry.ActorTool, Name: "add"}
	ag(telemetry.Event{EventType: telemetry.EventToolCall, SpanID: toolSpan, Actor: tool})
	ag(telemetry.Event{EventType: telemetry.EventToolResult, SpanID: toolSpan, Actor: tool})
	if r.terminal != nil {
		e := *r.terminal
		e.Actor = telemetry.Actor{Type: telemetry.ActorAgent, Name: "tester"}
		ag(e)
	}
	if r.serveEnd != nil {
		serve(*r.serveEnd)
	}
	return serveTrace, agentTrace
}

var (
	finalAnswer = &telemetry.Event{EventType: telemetry.EventFinalAnswer}
	serveEnd    = &telemetry.Event{EventType: telemetry.EventServeRequestEnd}
)

// runTraces covers trace building and selection.
func runTraces(t *testing.T, newStore func(t *testing.T) telemetry.Store) {
	t.Helper()

	t.Run("TraceGetBuildsFromEvents", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		serveID, agentID := appendRun(t, s, runSpec{session: "s", run: "run_1"})
		tr, err := s.TraceGet(ctx, agentID)
		if err != nil {
			t.Fatal(err)
		}
		if tr.TraceID != agentID || tr.RunID != "run_1" || tr.SessionID != "s" || tr.Status != telemetry.StatusRunning ||
			!tr.Incomplete || tr.EndedAt != nil || tr.SchemaVersion != telemetry.SchemaVersion {
			t.Errorf("running trace: %+v", tr)
		}
		if len(tr.Events) != 5 || len(tr.Spans) != 3 {
			t.Fatalf("events %d spans %d, want 5 and 3", len(tr.Events), len(tr.Spans))
		}
		kinds := []string{}
		for _, sp := range tr.Spans {
			kinds = append(kinds, sp.Kind)
		}
		if want := []string{"agent.run", "model.call", "tool.call"}; !slices.Equal(kinds, want) {
			t.Errorf("span kinds %v, want %v", kinds, want)
		}
		if tr.Metadata.Model == nil || *tr.Metadata.Model != "echo-1" || tr.Metadata.AgentName == nil || *tr.Metadata.AgentName != "tester" {
			t.Errorf("metadata %+v", tr.Metadata)
		}
		// The terminal event completes it.
		mustAppend(t, s, &telemetry.Event{EventType: telemetry.EventFinalAnswer, TraceID: agentID, SessionID: "s", RunID: "run_1", SpanID: tr.RootSpanID})
		if tr, err = s.TraceGet(ctx, agentID); err != nil || tr.Status != telemetry.StatusCompleted || tr.Incomplete || tr.EndedAt == nil {
			t.Errorf("after final_answer: %v %+v", err, tr)
		}
		st, err := s.TraceGet(ctx, serveID)
		if err != nil || st.Status != telemetry.StatusRunning || len(st.Spans) != 1 || st.Spans[0].Kind != "serve.request" {
			t.Errorf("serve trace: %v %+v", err, st)
		}
		if _, err := s.TraceGet(ctx, "trace_none"); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("missing trace: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("TraceStatusFromTerminalEvent", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		rtErr := func(typ string) *telemetry.Event {
			return &telemetry.Event{EventType: telemetry.EventRuntimeError, Error: &telemetry.EventError{Type: typ, Message: "x"}}
		}
		serveErr := func(typ string) *telemetry.Event {
			return &telemetry.Event{EventType: telemetry.EventServeRequestError, Error: &telemetry.EventError{Type: typ, Message: "x"}}
		}
		tests := []struct {
			name                   string
			terminal, serveEnd     *telemetry.Event
			wantAgent, wantServing string
		}{
			{"completed", finalAnswer, serveEnd, "completed", "completed"},
			{"running", nil, nil, "running", "running"},
			{"cancelled", rtErr("cancelled"), serveErr("cancelled"), "cancelled", "cancelled"},
			{"timeout", rtErr("timeout"), serveErr("timeout"), "timeout", "timeout"},
			{"model error", rtErr("model_error"), serveErr("failed"), "failed", "failed"},
			{"max steps", rtErr("max_steps_exceeded"), serveErr("bogus"), "failed", "failed"},
		}
		for i, tt := range tests {
			serveID, agentID := appendRun(t, s, runSpec{session: "s", run: fmt.Sprint("run_", i), terminal: tt.terminal, serveEnd: tt.serveEnd})
			for id, want := range map[string]string{agentID: tt.wantAgent, serveID: tt.wantServing} {
				tr, err := s.TraceGet(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if tr.Status != want || tr.Incomplete != (want == "running") {
					t.Errorf("%s: trace %s status %q incomplete %v, want %q", tt.name, id, tr.Status, tr.Incomplete, want)
				}
			}
		}
	})

	t.Run("TraceListFiltersAndLimits", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		s1, a1 := appendRun(t, s, runSpec{session: "s1", run: "run_1", terminal: finalAnswer, serveEnd: serveEnd,
			meta: map[string]any{"task_id": "task_a", "agent_id": "agent_a", "workflow_id": "wf_a"}})
		s2, a2 := appendRun(t, s, runSpec{session: "s1", run: "run_2"})
		s3, a3 := appendRun(t, s, runSpec{session: "s2", run: "run_3",
			terminal: &telemetry.Event{EventType: telemetry.EventRuntimeError, Error: &telemetry.EventError{Type: "cancelled"}}})
		tests := []struct {
			name string
			p    telemetry.TraceQueryParams
			want []string
		}{
			{"all, newest first", telemetry.TraceQueryParams{}, []string{a3, s3, a2, s2, a1, s1}},
			{"trace", telemetry.TraceQueryParams{TraceID: a2}, []string{a2}},
			{"run", telemetry.TraceQueryParams{RunID: "run_1"}, []string{a1, s1}},
			{"session", telemetry.TraceQueryParams{SessionID: "s1"}, []string{a2, s2, a1, s1}},
			{"task", telemetry.TraceQueryParams{TaskID: "task_a"}, []string{a1}},
			{"agent", telemetry.TraceQueryParams{AgentID: "agent_a"}, []string{a1}},
			{"workflow", telemetry.TraceQueryParams{WorkflowID: "wf_a"}, []string{a1}},
			{"model", telemetry.TraceQueryParams{Model: "echo-1"}, []string{a3, a2, a1}},
			{"status completed", telemetry.TraceQueryParams{Status: "completed"}, []string{a1, s1}},
			{"status running", telemetry.TraceQueryParams{Status: "running"}, []string{s3, a2, s2}},
			{"status cancelled", telemetry.TraceQueryParams{Status: "cancelled"}, []string{a3}},
			{"status none", telemetry.TraceQueryParams{Status: "suspended"}, nil},
			{"session and status", telemetry.TraceQueryParams{SessionID: "s1", Status: "running"}, []string{a2, s2}},
			{"limit", telemetry.TraceQueryParams{Limit: 2}, []string{a3, s3}},
			{"run and limit", telemetry.TraceQueryParams{RunID: "run_2", Limit: 1}, []string{a2}},
			{"unknown run", telemetry.TraceQueryParams{RunID: "run_none"}, nil},
		}
		for _, tt := range tests {
			traces, err := s.TraceList(ctx, tt.p)
			if err != nil {
				t.Fatalf("%s: %v", tt.name, err)
			}
			var got []string
			for _, tr := range traces {
				got = append(got, tr.TraceID)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
		}
	})

	t.Run("LatestTracePrefersTheAgentTrace", func(t *testing.T) {
		t.Parallel()
		s := newStore(t)
		ctx := t.Context()
		_, a1 := appendRun(t, s, runSpec{session: "s", run: "run_1", terminal: finalAnswer, serveEnd: serveEnd})
		// The serve trace ends after the agent trace: still the agent's.
		_, a2 := appendRun(t, s, runSpec{session: "s", run: "run_2", terminal: finalAnswer, serveEnd: serveEnd})
		// A run refused before the agent started has only a serve trace.
		serveOnly := telemetry.NewID("trace_")
		mustAppend(t, s, &telemetry.Event{EventType: telemetry.EventServeRequestStart, TraceID: serveOnly, SessionID: "other", RunID: "run_3",
			Metadata: map[string]any{"span_kind": "serve.request"}})
		tests := []struct {
			name string
			get  func() (telemetry.Trace, error)
			want string
		}{
			{"run 1", func() (telemetry.Trace, error) { return s.TraceLatestForRun(ctx, "run_1") }, a1},
			{"run 2", func() (telemetry.Trace, error) { return s.TraceLatestForRun(ctx, "run_2") }, a2},
			{"serve-only run", func() (telemetry.Trace, error) { return s.TraceLatestForRun(ctx, "run_3") }, serveOnly},
			{"session", func() (telemetry.Trace, error) { return s.TraceLatestForSession(ctx, "s") }, a2},
			{"serve-only session", func() (telemetry.Trace, error) { return s.TraceLatestForSession(ctx, "other") }, serveOnly},
		}
		for _, tt := range tests {
			tr, err := tt.get()
			if err != nil || tr.TraceID != tt.want {
				t.Errorf("%s: %v, %v; want %s", tt.name, tr.TraceID, err, tt.want)
			}
		}
		if _, err := s.TraceLatestForRun(ctx, "run_none"); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("missing run: %v", err)
		}
		if _, err := s.TraceLatestForSession(ctx, "none"); !errors.Is(err, telemetry.ErrNotFound) {
			t.Errorf("missing session: %v", err)
		}
	})
}

func ids(evs []telemetry.Event) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.EventID)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
