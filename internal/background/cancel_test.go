package background

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

func TestCancelQueuedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report")
		r := b.enqueue(b.m, "report")
		got, err := b.m.Cancel(b.ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != task.RunCancelled || got.CancelRequestedAt == nil || got.FinishedAt == nil {
			t.Errorf("cancelled run %+v", got)
		}
		// Idempotent: no second event.
		if _, err := b.m.Cancel(b.ctx, r.RunID); err != nil {
			t.Fatal(err)
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunCancelled)
		b.wantAttempts(r.RunID)
		if _, err := b.m.Cancel(b.ctx, "run_missing"); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("missing run: %v", err)
		}
	})
}

func TestCancelTerminalRunOnlyRecordsTheRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report")
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "report", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.m.Cancel(b.ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != task.RunCompleted || got.CancelRequestedAt == nil {
			t.Errorf("run %s cancel requested %v", got.Status, got.CancelRequestedAt)
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
	})
}

func TestCancelBeforeTheHandlerStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		entered := make(chan string)
		proceed := make(chan struct{})
		b := setup(t, func(c *Config) {
			c.PrepareQueryFunc = func(run *task.Run, _ *task.Task) string {
				entered <- run.RunID
				<-proceed
				return run.QuerySnapshot
			}
		})
		b.task("report")
		b.start(b.m)
		r := b.enqueue(b.m, "report")
		<-entered
		if _, err := b.m.Cancel(b.ctx, r.RunID); err != nil {
			t.Fatal(err)
		}
		close(proceed)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCancelled)
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCancelled)
		b.wantAttempts(r.RunID, "cancelled/initial")
		if n := b.handler.total(); n != 0 {
			t.Errorf("handler called %d times", n)
		}
	})
}

func TestCancelDuringTheStartEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report")
		b.sink.setHook(func(ev *RunEvent) {
			if ev.Event == EventRunStarted {
				if _, err := b.m.Cancel(context.Background(), ev.RunID); err != nil {
					t.Error(err)
				}
			}
		})
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "report", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunCancelled {
			t.Errorf("status %s", r.Status)
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCancelled)
		b.wantAttempts(r.RunID, "cancelled/initial")
		if n := b.handler.total(); n != 0 {
			t.Errorf("handler called %d times", n)
		}
	})
}

func TestCancelRunningOnTheSameWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("long")
		entered := make(chan string, 1)
		var cause atomic.Value
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			entered <- req.Run.RunID
			<-ctx.Done()
			cause.Store(context.Cause(ctx))
			return RunResult{}, ctx.Err()
		})
		b.start(b.m)
		r := b.enqueue(b.m, "long")
		<-entered
		at := time.Now()
		got, err := b.m.Cancel(b.ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != task.RunRunning || got.CancelRequestedAt == nil {
			t.Errorf("cancel returned %+v", got)
		}
		synctest.Wait()
		// At once, not at the next heartbeat.
		if !time.Now().Equal(at) {
			t.Errorf("time moved %v", time.Since(at))
		}
		if c, _ := cause.Load().(error); !errors.Is(c, errRunCancelled) {
			t.Errorf("handler cause %v", c)
		}
		b.wantStatus(r.RunID, task.RunCancelled)
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCancelled)
		b.wantAttempts(r.RunID, "cancelled/initial")
	})
}

func TestCancelRunningOnAnotherWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, func(c *Config) { c.WorkerID = "worker_a" })
		other := b.manager(func(c *Config) { c.WorkerID = "worker_b" })
		b.task("long")
		entered := make(chan string, 1)
		b.handler.set(blockUntilCancelled(entered))
		b.start(b.m)
		r := b.enqueue(b.m, "long")
		<-entered
		got, err := other.Cancel(b.ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != task.RunRunning || got.CancelRequestedAt == nil || got.LeaseOwner != "worker_a" {
			t.Errorf("cancel returned %+v", got)
		}
		synctest.Wait()
		// Only the intent is recorded until worker_a's next heartbeat.
		b.wantStatus(r.RunID, task.RunRunning)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCancelled)
		evs := b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunHeartbeat, EventRunCancelled)
		if evs[4].WorkerID != "worker_a" {
			t.Errorf("cancelled by %s", evs[4].WorkerID)
		}
		b.wantAttempts(r.RunID, "cancelled/initial")
	})
}

func TestCancelClaimedOnAnotherWorkerKeepsClaimedUntilItsCheckpoint(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		other := b.manager()
		b.task("report")
		claimed := make(chan struct{})
		proceed := make(chan struct{})
		b.sink.setHook(func(ev *RunEvent) {
			if ev.Event == EventRunClaimed {
				close(claimed)
				<-proceed
			}
		})
		b.start(b.m)
		r := b.enqueue(b.m, "report")
		<-claimed
		got, err := other.Cancel(b.ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != task.RunClaimed || got.CancelRequestedAt == nil {
			t.Errorf("cancel returned %+v", got)
		}
		b.sink.setHook(nil)
		close(proceed)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCancelled)
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunCancelled)
		b.wantAttempts(r.RunID)
	})
}

func TestCancelAfterTheResultBeforeCompletion(t *testing.T) {
	for _, tt := range []struct {
		name  string
		local bool
	}{{"another worker", false}, {"this worker", true}} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := setup(t)
				canceller := b.manager()
				if tt.local {
					canceller = b.m
				}
				b.task("report")
				b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
					// The agent has its answer; the cancellation lands
					// before the completion is written.
					if _, err := canceller.Cancel(context.Background(), req.Run.RunID); err != nil {
						t.Error(err)
					}
					return RunResult{Response: "answer"}, nil
				})
				r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "report", Wait: true})
				if err != nil {
					t.Fatal(err)
				}
				if r.Status != task.RunCancelled || r.ResultPreview != "" {
					t.Errorf("run %s preview %q", r.Status, r.ResultPreview)
				}
				b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCancelled)
				b.wantAttempts(r.RunID, "cancelled/initial")
			})
		})
	}
}

func TestCancelAfterAFailedAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		other := b.manager()
		b.task("flaky", retries(2, 0))
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			if _, err := other.Cancel(context.Background(), req.Run.RunID); err != nil {
				t.Error(err)
			}
			return RunResult{}, errors.New("boom")
		})
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "flaky", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunCancelled {
			t.Errorf("status %s", r.Status)
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCancelled)
		b.wantAttempts(r.RunID, "cancelled/initial")
	})
}

func TestCancelBeforeRetrying(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		fs := &flakyStore{Store: b.store}
		m := b.manager(func(c *Config) { c.Store = fs })
		b.task("flaky", retries(2, 5))
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			return RunResult{}, errors.New("boom")
		})
		fs.BeforeRunRetryFunc = func(runID string) {
			if _, err := b.store.RunCancel(context.Background(), &task.RunCancelParams{RunID: runID}); err != nil {
				t.Error(err)
			}
		}
		r, err := m.RunNow(b.ctx, RunNowParams{TaskID: "flaky", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunCancelled {
			t.Errorf("status %s", r.Status)
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCancelled)
		b.wantAttempts(r.RunID, "cancelled/initial")
	})
}

func TestCancelDuringTheRetryDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("flaky", retries(1, 60))
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			return RunResult{}, errors.New("boom")
		})
		b.start(b.m)
		r := b.enqueue(b.m, "flaky")
		time.Sleep(10 * time.Second)
		synctest.Wait()
		cur := b.wantStatus(r.RunID, task.RunQueued)
		if !cur.QueuedAt.After(time.Now()) {
			t.Fatalf("queued_at %v not in the future", cur.QueuedAt)
		}
		got, err := b.m.Cancel(b.ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != task.RunCancelled {
			t.Errorf("status %s", got.Status)
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCancelled)
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunRetrying, EventRunQueued, EventRunCancelled)
		b.wantAttempts(r.RunID, "failed/initial")
		if n := b.handler.callsOf(r.RunID); n != 1 {
			t.Errorf("handler called %d times", n)
		}
	})
}

func TestCancelPreviousStopsARunningRunAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report", func(t *task.Task) { t.OverlapPolicy = task.OverlapCancelPrevious })
		entered := make(chan string, 2)
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			entered <- req.Run.RunID
			if req.Run.QuerySnapshot == "second" {
				return RunResult{Response: "done"}, nil
			}
			<-ctx.Done()
			return RunResult{}, context.Cause(ctx)
		})
		b.start(b.m)
		first := b.enqueue(b.m, "report")
		<-entered
		at := time.Now()
		second, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "report", Query: "second", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if second.Status != task.RunCompleted || !time.Now().Equal(at) {
			t.Errorf("second run %s after %v", second.Status, time.Since(at))
		}
		synctest.Wait()
		if !time.Now().Equal(at) {
			t.Errorf("first run cancelled after %v, not at once", time.Since(at))
		}
		b.wantStatus(first.RunID, task.RunCancelled)
		b.wantEvents(first.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCancelled)
	})
}
