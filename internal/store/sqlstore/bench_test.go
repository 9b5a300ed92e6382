package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/task"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// benchBackends are the backends benchmarks run on; PostgreSQL is
// skipped without OMNISERVE_TEST_POSTGRES_URL.
var benchBackends = []backend{sqliteFile, postgres}

// benchTask registers an agent and an allow_parallel manual task.
func benchTask(b *testing.B, s *Store) {
	b.Helper()
	ctx := b.Context()
	if _, err := s.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{AgentID: "agent"}}); err != nil {
		b.Fatal(err)
	}
	if _, err := s.TaskCreate(ctx, &task.TaskCreateParams{Task: task.Task{
		TaskID: "job", AgentID: "agent", Query: "q", Enabled: true,
		Schedule: task.Schedule{Type: task.ScheduleManual}, OverlapPolicy: task.OverlapAllowParallel,
	}}); err != nil {
		b.Fatal(err)
	}
}

// seedRuns inserts n runs of task "job" in status st straight into the
// table, in batches, as history a benchmark runs against.
func seedRuns(b *testing.B, s *Store, n int, st task.RunStatus, idPrefix string) {
	b.Helper()
	ctx := b.Context()
	const batch = 500
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for start := 0; start < n; start += batch {
		end := min(start+batch, n)
		var (
			values []string
			args   []any
		)
		for i := start; i < end; i++ {
			at := base.Add(time.Duration(i) * time.Millisecond)
			r := &task.Run{
				RunID: fmt.Sprintf("%s%07d", idPrefix, i), TaskID: "job", AgentID: "agent", Status: st, MaxAttempts: 1,
				QuerySnapshot: "q", TriggerType: task.TriggerManual, TriggeredAt: at, OverlapPolicy: task.OverlapAllowParallel,
				SessionID: "background:agent:job", WorkspacePath: "background/agent/job", QueuedAt: at,
			}
			if st.Terminal() {
				r.FinishedAt = &at
			}
			data, _, err := encode("run", r)
			if err != nil {
				b.Fatal(err)
			}
			values = append(values, "(?, ?, ?, ?, ?, ?, ?, NULL, 0, NULL, 1, ?)")
			args = append(args, r.RunID, r.TaskID, r.AgentID, string(r.Status), string(r.OverlapPolicy), micros(r.QueuedAt), micros(r.TriggeredAt), data)
		}
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO {p}runs (run_id, task_id, agent_id, status, overlap_policy, queued_at, triggered_at,
			lease_expires_at, cancel_requested, occurrence_key, version, data) VALUES `+strings.Join(values, ", ")), args...); err != nil {
			b.Fatal(err)
		}
	}
	if s.dialect == dialectPostgres {
		if _, err := s.db.ExecContext(ctx, s.q(`ANALYZE {p}runs`)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunTransition measures one run's life — create, claim, start,
// finish: four transactions — against history of finished runs. The
// cost must not grow with the history.
func BenchmarkRunTransition(b *testing.B) {
	for _, be := range benchBackends {
		for _, history := range []int{100, 100_000} {
			b.Run(fmt.Sprintf("%s/history=%d", be.name, history), func(b *testing.B) {
				s := be.open(b)
				benchTask(b, s)
				seedRuns(b, s, history, task.RunCompleted, "hist_")
				ctx := b.Context()
				for b.Loop() {
					res, err := s.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "job"})
					if err != nil {
						b.Fatal(err)
					}
					r, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w"})
					if err != nil || r == nil || r.RunID != res.Run.RunID {
						b.Fatalf("claim: %v, %v", r, err)
					}
					if _, err := s.RunStart(ctx, &task.RunStartParams{RunID: r.RunID, WorkerID: "w", LeaseToken: r.LeaseToken}); err != nil {
						b.Fatal(err)
					}
					if _, err := s.RunFinish(ctx, &task.RunFinishParams{RunID: r.RunID, WorkerID: "w", LeaseToken: r.LeaseToken, Status: task.RunCompleted}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRunClaimParallel measures claims per second by 8 concurrent
// workers over a queue of b.N runs, behind 100,000 finished ones.
func BenchmarkRunClaimParallel(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			// One store for every round: the history is seeded once.
			s := be.open(b)
			benchTask(b, s)
			seedRuns(b, s, 100_000, task.RunCompleted, "hist_")
			var round atomic.Int64
			b.Run("history=100000", func(b *testing.B) {
				seedRuns(b, s, b.N, task.RunQueued, fmt.Sprintf("queued%d_", round.Add(1)))
				ctx := b.Context()
				var workers atomic.Int64
				b.SetParallelism(4)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					worker := fmt.Sprint("w", workers.Add(1))
					for pb.Next() {
						r, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: worker})
						if err != nil || r == nil {
							b.Errorf("claim: %v, %v", r, err)
							return
						}
					}
				})
				b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "claims/s")
			})
		})
	}
}

// BenchmarkEventAppend measures appends to one session, and to many
// sessions from concurrent writers.
func BenchmarkEventAppend(b *testing.B) {
	for _, be := range benchBackends {
		b.Run(be.name+"/one_session", func(b *testing.B) {
			s := be.open(b)
			ctx := b.Context()
			start := time.Now()
			for b.Loop() {
				if err := s.EventAppend(ctx, benchEvent("s")); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
		b.Run(be.name+"/parallel_sessions", func(b *testing.B) {
			s := be.open(b)
			ctx := b.Context()
			var sessions atomic.Int64
			b.SetParallelism(4)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				session := fmt.Sprint("s", sessions.Add(1))
				for pb.Next() {
					if err := s.EventAppend(ctx, benchEvent(session)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

func benchEvent(session string) *telemetry.Event {
	return &telemetry.Event{
		EventType: telemetry.EventToolResult, SessionID: session, RunID: "run_1", TraceID: "trace_" + session,
		Actor:    telemetry.Actor{Type: telemetry.ActorTool, Name: "add"},
		Output:   []byte(`{"result":"42"}`),
		Metadata: map[string]any{"task_id": "job", "agent_name": "bench"},
	}
}

// BenchmarkEventReplay measures reading a 10,000-event session back in
// pages of 256, as a follower replaying from the start does.
func BenchmarkEventReplay(b *testing.B) {
	const events = 10_000
	for _, be := range benchBackends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			seedEvents(b, s, "s", events)
			ctx := b.Context()
			start := time.Now()
			for b.Loop() {
				var after int64
				for {
					evs, err := s.EventList(ctx, telemetry.ListParams{SessionID: "s", After: after, Limit: 256})
					if err != nil {
						b.Fatal(err)
					}
					if len(evs) == 0 {
						break
					}
					after = evs[len(evs)-1].SequenceNumber
				}
				if after != events {
					b.Fatalf("replayed to %d", after)
				}
			}
			b.ReportMetric(float64(b.N*events)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// seedEvents appends n events to session through the store.
func seedEvents(b *testing.B, s *Store, session string, n int) {
	b.Helper()
	ctx := context.WithoutCancel(b.Context())
	for range n {
		if err := s.EventAppend(ctx, benchEvent(session)); err != nil {
			b.Fatal(err)
		}
	}
}
