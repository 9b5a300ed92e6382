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

// deadWorker holds run runID as a process that then died would: claimed
// and, when start is set, started with an open attempt, and never heard
// from again.
func (b *testBundle) deadWorker(runID string, start bool) {
	b.t.Helper()
	ctx := b.ctx
	r, err := b.store.RunClaim(ctx, &task.RunClaimParams{WorkerID: "worker_dead", RunID: runID, LeaseDuration: 8 * time.Second})
	if err != nil || r == nil {
		b.t.Fatalf("dead worker claim: %v %v", r, err)
	}
	if !start {
		return
	}
	if _, err := b.store.RunStart(ctx, &task.RunStartParams{RunID: runID, WorkerID: "worker_dead", LeaseToken: r.LeaseToken}); err != nil {
		b.t.Fatal(err)
	}
	if _, err := b.store.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: runID, WorkerID: "worker_dead", LeaseToken: r.LeaseToken}); err != nil {
		b.t.Fatal(err)
	}
}

func TestRecoveryRequeuesAnExpiredRunningRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report", retries(1, 30))
		r := b.enqueue(b.m, "report")
		b.deadWorker(r.RunID, true)
		b.start(b.m)
		time.Sleep(7 * time.Second)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunRunning) // lease not yet expired
		time.Sleep(2 * time.Second)            // recovery every lease/2 = 4s: at 8s
		synctest.Wait()
		got := b.wantStatus(r.RunID, task.RunCompleted)
		if got.Error != "" || got.Attempt != 2 || got.LeaseGeneration != 3 {
			t.Errorf("run %+v", got)
		}
		evs := b.wantEvents(r.RunID, EventRunQueued, EventRunRecovered, EventRunClaimed, EventRunStarted, EventRunCompleted)
		rec := evs[1]
		if rec.Status != task.RunQueued || rec.PreviousStatus != task.RunRunning || rec.RecoveryOutcome != task.RecoveryRequeued ||
			rec.Error != "lease expired" || rec.WorkerID != b.m.WorkerID() || rec.LeaseGeneration != 2 {
			t.Errorf("recovered event %+v", rec)
		}
		as := b.wantAttempts(r.RunID, "failed/lease_expired", "completed/recovery")
		if as[0].Error != "lease expired" || as[0].WorkerID != "worker_dead" {
			t.Errorf("first attempt %+v", as[0])
		}
	})
}

func TestRecoveryRequeuesAnExpiredClaim(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report") // no retries: a claim never started costs none
		r := b.enqueue(b.m, "report")
		b.deadWorker(r.RunID, false)
		b.start(b.m)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCompleted)
		b.wantEvents(r.RunID, EventRunQueued, EventRunRecovered, EventRunClaimed, EventRunStarted, EventRunCompleted)
		b.wantAttempts(r.RunID, "completed/initial")
	})
}

func TestRecoveryFailsARunWithoutRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report")
		r := b.enqueue(b.m, "report")
		b.deadWorker(r.RunID, true)
		b.start(b.m)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		got := b.wantStatus(r.RunID, task.RunFailed)
		if got.Error != "lease expired" {
			t.Errorf("error %q", got.Error)
		}
		evs := b.wantEvents(r.RunID, EventRunQueued, EventRunRecovered, EventRunFailed)
		if evs[2].Error != "lease expired" || evs[1].RecoveryOutcome != task.RecoveryFailed {
			t.Errorf("events %+v %+v", evs[1], evs[2])
		}
		b.wantAttempts(r.RunID, "failed/lease_expired")
		if b.handler.total() != 0 {
			t.Error("handler called")
		}
	})
}

func TestRecoveryHonoursAPendingCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report", retries(3, 0))
		r := b.enqueue(b.m, "report")
		b.deadWorker(r.RunID, true)
		got, err := b.m.Cancel(b.ctx, r.RunID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != task.RunRunning || got.CancelRequestedAt == nil {
			t.Errorf("cancel of a run another worker holds: %+v", got)
		}
		b.start(b.m)
		time.Sleep(9 * time.Second)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCancelled)
		evs := b.wantEvents(r.RunID, EventRunQueued, EventRunRecovered, EventRunCancelled)
		if evs[1].RecoveryOutcome != task.RecoveryCancelled {
			t.Errorf("recovered event %+v", evs[1])
		}
		b.wantAttempts(r.RunID, "failed/lease_expired")
	})
}

func TestSequenceContinuesAcrossARestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, func(c *Config) { c.WorkerID = "worker_first" })
		b.task("flaky", retries(1, 30))
		var calls atomic.Int32
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			if calls.Add(1) == 1 {
				return RunResult{}, errors.New("first try fails")
			}
			return RunResult{Response: "ok"}, nil
		})
		b.start(b.m)
		r := b.enqueue(b.m, "flaky")
		synctest.Wait()
		if err := b.m.Stop(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.wantStatus(r.RunID, task.RunQueued)

		// A new process, a new worker id, the same store.
		next := b.manager(func(c *Config) { c.WorkerID = "worker_second" })
		b.start(next)
		time.Sleep(31 * time.Second)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCompleted)
		evs := b.wantEvents(r.RunID,
			EventRunQueued, EventRunClaimed, EventRunStarted, EventRunRetrying,
			EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
		for i, ev := range evs {
			want := "worker_first"
			if i >= 5 {
				want = "worker_second"
			}
			if ev.WorkerID != want {
				t.Errorf("event %d %s by %s, want %s", ev.Sequence, ev.Event, ev.WorkerID, want)
			}
		}
	})
}

func TestLostLeaseStopsTheHandlerAndRecoveryRetries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		// The first holder's heartbeats fail from its handler's start:
		// it cannot renew, its lease expires and recovery takes over.
		var lostToken atomic.Value
		fs := &flakyStore{Store: b.store, RunHeartbeatFunc: func(p *task.RunHeartbeatParams) error {
			if tok, _ := lostToken.Load().(string); tok == p.LeaseToken {
				return errors.New("store unreachable")
			}
			return nil
		}}
		m := b.manager(func(c *Config) { c.Store = fs })
		b.task("report", retries(1, 0))
		entered := make(chan string, 2)
		var cause atomic.Value
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			entered <- req.Run.RunID
			if req.Attempt.AttemptNumber > 1 {
				return RunResult{Response: "second"}, nil
			}
			lostToken.Store(req.Run.LeaseToken)
			<-ctx.Done()
			cause.Store(context.Cause(ctx))
			return RunResult{}, ctx.Err()
		})
		b.start(m)
		r := b.enqueue(m, "report")
		<-entered
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if c, _ := cause.Load().(error); !errors.Is(c, errLeaseLost) {
			t.Errorf("handler cause %v", c)
		}
		b.wantStatus(r.RunID, task.RunCompleted)
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunRecovered,
			EventRunClaimed, EventRunStarted, EventRunCompleted)
		b.wantAttempts(r.RunID, "failed/lease_expired", "completed/recovery")
	})
}
