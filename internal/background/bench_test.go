package background

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/task"
)

// benchTasks spreads benchmark runs over tasks, so the in-memory store's
// per-task scans stay short.
const benchTasks = 64

func benchStore(b *testing.B) task.Store {
	b.Helper()
	ctx := b.Context()
	s := memstore.NewTaskStore(nil)
	if _, err := s.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{AgentID: "agent"}}); err != nil {
		b.Fatal(err)
	}
	for i := range benchTasks {
		_, err := s.TaskCreate(ctx, &task.TaskCreateParams{Task: task.Task{
			TaskID: fmt.Sprintf("t%d", i), AgentID: "agent", Query: "q", Enabled: true,
			Schedule:      task.Schedule{Type: task.ScheduleManual},
			OverlapPolicy: task.OverlapAllowParallel,
		}})
		if err != nil {
			b.Fatal(err)
		}
	}
	return s
}

func benchManager(b *testing.B, cfg Config) *Manager {
	b.Helper()
	m, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Start(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			b.Error(err)
		}
	})
	return m
}

// BenchmarkEnqueueToRunning measures the time from RunNow (without wait)
// to the handler's call on an idle worker of the same process: create,
// creation event, wake-up, claim, claim record, start, attempt, started
// event.
func BenchmarkEnqueueToRunning(b *testing.B) {
	store := benchStore(b)
	entered := make(chan time.Time, 1)
	m := benchManager(b, Config{
		Store:        store,
		Concurrency:  1,
		PollInterval: time.Hour, // only the in-process wake-up may start runs
		Handler: RunHandlerFunc(func(context.Context, RunRequest) (RunResult, error) {
			entered <- time.Now()
			return RunResult{Response: "ok"}, nil
		}),
	})
	ctx := b.Context()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := m.RunNow(ctx, RunNowParams{TaskID: fmt.Sprintf("t%d", i%benchTasks)}); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-entered).Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkThroughput measures runs completed per second with a trivial
// handler, a producer keeping 4×Concurrency runs queued.
func BenchmarkThroughput(b *testing.B) {
	for _, conc := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("concurrency=%d", conc), func(b *testing.B) {
			store := benchStore(b)
			done := make(chan struct{}, b.N)
			inflight := make(chan struct{}, 4*conc)
			m := benchManager(b, Config{
				Store:       store,
				Concurrency: conc,
				Handler: RunHandlerFunc(func(context.Context, RunRequest) (RunResult, error) {
					return RunResult{Response: "ok"}, nil
				}),
				Events: sinkFunc(func(_ context.Context, ev *RunEvent) error {
					if ev.Event == EventRunCompleted {
						<-inflight
						done <- struct{}{}
					}
					return nil
				}),
			})
			ctx := b.Context()
			b.ResetTimer()
			start := time.Now()
			go func() {
				for i := range b.N {
					inflight <- struct{}{}
					if _, err := m.RunNow(ctx, RunNowParams{TaskID: fmt.Sprintf("t%d", i%benchTasks)}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
			for range b.N {
				<-done
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
		})
	}
}
