package background

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/task"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	store := memstore.NewTaskStore(nil)
	h := RunHandlerFunc(func(context.Context, RunRequest) (RunResult, error) { return RunResult{}, nil })
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no store", Config{Handler: h}, "Store is required"},
		{"no handler", Config{Store: store}, "Handler is required"},
		{"negative concurrency", Config{Store: store, Handler: h, Concurrency: -1}, "Concurrency"},
		{"negative lease", Config{Store: store, Handler: h, LeaseDuration: -time.Second}, "LeaseDuration"},
		{"bad worker id", Config{Store: store, Handler: h, WorkerID: "a b"}, "WorkerID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error naming %s", err, tt.want)
			}
		})
	}
	m, err := New(Config{Store: store, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	st := m.Status()
	want := Status{Running: false, Initialized: true, WorkerID: st.WorkerID, LeaseSeconds: 30, Concurrency: 4}
	if diff := cmp.Diff(want, st); diff != "" || !strings.HasPrefix(st.WorkerID, "worker_") {
		t.Errorf("default status (-want +got):\n%s", diff)
	}
	if m.heartbeat != 7500*time.Millisecond {
		t.Errorf("heartbeat every %v, want lease/4", m.heartbeat)
	}
}

func TestLifecycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		ctx := b.ctx
		// Stop before Start, twice.
		if err := b.m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.m.Start(ctx); !errors.Is(err, ErrStopped) {
			t.Errorf("start after stop: %v", err)
		}
		b.task("report")
		if _, err := b.m.RunNow(ctx, RunNowParams{TaskID: "report"}); !errors.Is(err, ErrStopped) {
			t.Errorf("run after stop: %v", err)
		}
		if st := b.m.Status(); st.Running || st.Initialized {
			t.Errorf("stopped status %+v", st)
		}

		m := b.manager()
		b.start(m)
		if err := m.Start(ctx); err == nil {
			t.Error("second start succeeded")
		}
		if st := m.Status(); !st.Running || !st.Initialized {
			t.Errorf("started status %+v", st)
		}
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}

		// WorkerDisabled: Start starts no loop.
		d := b.manager(func(c *Config) { c.WorkerDisabled = true })
		b.start(d)
		if st := d.Status(); st.Running || !st.Initialized {
			t.Errorf("disabled worker status %+v", st)
		}
		r := b.enqueue(d, "report")
		time.Sleep(time.Minute)
		b.wantStatus(r.RunID, task.RunQueued)
	})
}

func TestRunNowWaitExecutesAndRecordsOrderedEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, func(c *Config) { c.WorkerID = "worker_a" })
		b.task("daily_report")
		b.start(b.m)
		start := time.Now()

		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "daily_report", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunCompleted || r.ResultPreview != "completed:report for daily_report" {
			t.Errorf("run %s preview %q", r.Status, r.ResultPreview)
		}
		if r.SessionID != "background:agent:daily_report" || r.LeaseToken != "" {
			t.Errorf("run session %q lease %q", r.SessionID, r.LeaseToken)
		}
		evs := b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
		for _, ev := range evs {
			if ev.RunID != r.RunID || ev.TaskID != "daily_report" || ev.AgentID != "agent" ||
				ev.SessionID != r.SessionID || ev.WorkspacePath != "background/agent/daily_report/"+r.RunID {
				t.Errorf("%s ids: %+v", ev.Event, ev)
			}
			if ev.WorkerID != "worker_a" || !ev.Timestamp.Equal(start) {
				t.Errorf("%s worker %q at %v", ev.Event, ev.WorkerID, ev.Timestamp)
			}
		}
		if claimed := evs[1]; claimed.Status != task.RunClaimed || claimed.LeaseGeneration != 1 ||
			claimed.LeaseExpiresAt == nil || !claimed.LeaseExpiresAt.Equal(start.Add(8*time.Second)) || claimed.HeartbeatAt == nil {
			t.Errorf("claimed event %+v", claimed)
		}
		if started := evs[2]; started.Status != task.RunRunning {
			t.Errorf("started event status %s", started.Status)
		}
		if done := evs[3]; done.Status != task.RunCompleted || done.ResultPreview != r.ResultPreview || done.Attempt != 1 || done.LeaseExpiresAt != nil {
			t.Errorf("completed event %+v", done)
		}
		b.wantAttempts(r.RunID, "completed/initial")
		if n := b.handler.callsOf(r.RunID); n != 1 {
			t.Errorf("handler called %d times", n)
		}
		req := b.handler.reqs[0]
		if req.SessionID != r.SessionID || req.WorkspacePath != r.WorkspacePath || req.Attempt.AttemptNumber != 1 || req.Task.TaskID != "daily_report" {
			t.Errorf("request %+v", req)
		}
		for _, want := range []string{"run_id: " + r.RunID, "task_id: daily_report", "/workspace/" + r.WorkspacePath, "output.md", "scratchpad/", "logs/", "artifacts/", "subagents/"} {
			if !strings.Contains(req.Query, want) {
				t.Errorf("query lacks %q:\n%s", want, req.Query)
			}
		}
		if !strings.HasSuffix(req.Query, "report for daily_report") {
			t.Errorf("query does not end with the query snapshot:\n%s", req.Query)
		}
		// The workspace got every event and the final run.json.
		if diff := cmp.Diff([]string{EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted}, b.files.eventNames(t, r.RunID)); diff != "" {
			t.Errorf("events.jsonl (-want +got):\n%s", diff)
		}
		if rj := b.files.runJSON[r.RunID]; rj == nil || rj.Status != task.RunCompleted {
			t.Errorf("run.json %+v", rj)
		}
		if st := b.m.Status(); st.ActiveRuns != 0 {
			t.Errorf("active runs %d", st.ActiveRuns)
		}
	})
}

func TestRunNowInlineWithoutWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("inline")
		other := b.enqueue(b.m, "inline") // queued first, must not run
		b.task("inline2", parallel)
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "inline2", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunCompleted {
			t.Fatalf("status %s", r.Status)
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
		if n := b.handler.total(); n != 1 {
			t.Errorf("handler called %d times, want only the created run", n)
		}
		b.wantStatus(other.RunID, task.RunQueued)
	})
}

func TestRunNowMissingOrDisabledTask(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		if _, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "nope"}); !errors.Is(err, task.ErrNotFound) {
			t.Errorf("missing task: %v", err)
		}
		b.task("off", func(t *task.Task) { t.Enabled = false })
		if _, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "off", Wait: true}); !errors.Is(err, task.ErrTaskDisabled) {
			t.Errorf("disabled task: %v", err)
		}
	})
}

func TestScheduledOnceDispatchedByTheLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		due := time.Now().Add(5 * time.Second).UTC()
		b.task("once", func(t *task.Task) {
			t.Schedule = task.Schedule{Type: task.ScheduleOnce, RunAt: &due}
		})
		b.start(b.m)
		time.Sleep(4 * time.Second)
		synctest.Wait()
		if runs, _ := b.store.RunList(b.ctx, &task.RunListParams{}); len(runs) != 0 {
			t.Fatalf("dispatched before due: %d runs", len(runs))
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		runs, err := b.store.RunList(b.ctx, &task.RunListParams{TaskID: "once"})
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs %d, %v", len(runs), err)
		}
		r := runs[0]
		b.wantStatus(r.RunID, task.RunCompleted)
		evs := b.wantEvents(r.RunID, EventTaskScheduled, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
		wantOcc := "once:1:" + due.Format("2006-01-02T15:04:05+00:00")
		for _, ev := range evs[:2] {
			if ev.OccurrenceID != wantOcc || ev.DueAt == nil || !ev.DueAt.Equal(due) {
				t.Errorf("%s occurrence %q due %v, want %q %v", ev.Event, ev.OccurrenceID, ev.DueAt, wantOcc, due)
			}
		}
		if r.TriggerType != task.TriggerOnce {
			t.Errorf("trigger %s", r.TriggerType)
		}
		// Nothing more is due.
		time.Sleep(time.Minute)
		if runs, _ := b.store.RunList(b.ctx, &task.RunListParams{}); len(runs) != 1 {
			t.Errorf("runs %d after the once schedule ended", len(runs))
		}
	})
}

func TestDuplicateDispatchDoesNotDuplicateEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		due := time.Now().Add(time.Second).UTC()
		b.task("once", func(t *task.Task) {
			t.Schedule = task.Schedule{Type: task.ScheduleOnce, RunAt: &due}
		})
		time.Sleep(time.Second)
		list, err := b.store.ScheduleDueList(b.ctx, &task.ScheduleDueListParams{})
		if err != nil || len(list) != 1 {
			t.Fatalf("due %d, %v", len(list), err)
		}
		// Two processes act on the same plan.
		other := b.manager()
		b.m.dispatch(b.ctx, list[0])
		other.dispatch(b.ctx, list[0])
		b.m.dispatch(b.ctx, list[0])
		runs, _ := b.store.RunList(b.ctx, &task.RunListParams{})
		if len(runs) != 1 {
			t.Fatalf("runs %d", len(runs))
		}
		b.wantEvents(runs[0].RunID, EventTaskScheduled, EventRunQueued)
	})
}

func TestRetryTwoAttemptsAndTheEightEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("flaky", retries(1, 10))
		var calls atomic.Int32
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			if calls.Add(1) == 1 {
				return RunResult{}, errors.New("model unavailable")
			}
			return RunResult{Response: "ok"}, nil
		})
		b.start(b.m)
		start := time.Now()
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "flaky", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunCompleted || r.Error != "" || r.Attempt != 2 {
			t.Errorf("run %s attempt %d error %q", r.Status, r.Attempt, r.Error)
		}
		if took := time.Since(start); took < 10*time.Second {
			t.Errorf("retried after %v, before the 10s delay", took)
		}
		evs := b.wantEvents(r.RunID,
			EventRunQueued, EventRunClaimed, EventRunStarted, EventRunRetrying,
			EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
		retrying, requeued := evs[3], evs[4]
		if retrying.Status != task.RunRetrying || retrying.Error != "model unavailable" || retrying.Attempt != 1 ||
			retrying.RetryDelaySeconds == nil || *retrying.RetryDelaySeconds != 10 || retrying.WorkerID != b.m.WorkerID() {
			t.Errorf("retrying event %+v", retrying)
		}
		if requeued.Status != task.RunQueued || requeued.QueuedAt == nil || !requeued.QueuedAt.Equal(start.Add(10*time.Second)) {
			t.Errorf("requeued event %+v", requeued)
		}
		if evs[5].LeaseGeneration != 2 {
			t.Errorf("second claim generation %d", evs[5].LeaseGeneration)
		}
		as := b.wantAttempts(r.RunID, "failed/initial", "completed/retry")
		if a := as[0]; a.Error != "model unavailable" || a.RetryDelaySeconds == nil || *a.RetryDelaySeconds != 10 {
			t.Errorf("first attempt %+v", a)
		}
	})
}

func TestAttemptTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("slow", func(t *task.Task) { t.TimeoutSeconds = new(3) })
		b.handler.set(blockUntilCancelled(nil))
		b.start(b.m)
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "slow", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunTimeout || r.Error != "attempt timed out after 3s" {
			t.Errorf("run %s %q", r.Status, r.Error)
		}
		evs := b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunHeartbeat, EventRunTimeout)
		if evs[4].Error != r.Error {
			t.Errorf("timeout event error %q", evs[4].Error)
		}
		b.wantAttempts(r.RunID, "timeout/initial")
	})
}

func TestHandlerPanicFailsTheRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("boom")
		b.handler.set(func(context.Context, RunRequest) (RunResult, error) { panic("kaboom") })
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "boom", Wait: true})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != task.RunFailed || !strings.Contains(r.Error, "kaboom") {
			t.Errorf("run %s %q", r.Status, r.Error)
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunFailed)
	})
}

func TestSkipIfRunningEmitsSkipped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report")
		first := b.enqueue(b.m, "report")
		second := b.enqueue(b.m, "report")
		if second.Status != task.RunSkipped {
			t.Fatalf("second run %s", second.Status)
		}
		b.wantEvents(first.RunID, EventRunQueued)
		evs := b.wantEvents(second.RunID, EventRunSkipped)
		if evs[0].Status != task.RunSkipped {
			t.Errorf("skipped event %+v", evs[0])
		}
		// RunNow with Wait returns a skipped run at once.
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "report", Wait: true})
		if err != nil || r.Status != task.RunSkipped {
			t.Errorf("wait on skipped: %v %v", r, err)
		}
	})
}

func TestCancelPreviousCancelsTheQueuedRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("report", func(t *task.Task) { t.OverlapPolicy = task.OverlapCancelPrevious })
		first := b.enqueue(b.m, "report")
		second := b.enqueue(b.m, "report")
		b.wantStatus(first.RunID, task.RunCancelled)
		b.wantEvents(first.RunID, EventRunQueued, EventRunCancelled)
		b.wantEvents(second.RunID, EventRunQueued)
	})
}

func TestHeartbeatsRefreshTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t) // lease 8s: a heartbeat every 2s
		b.task("long")
		entered := make(chan string, 1)
		release := make(chan struct{})
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			entered <- req.Run.RunID
			<-release
			return RunResult{Response: "done"}, nil
		})
		b.start(b.m)
		start := time.Now()
		r := b.enqueue(b.m, "long")
		<-entered
		// Three leases long: without renewal recovery would have taken it.
		time.Sleep(25 * time.Second)
		synctest.Wait()
		cur := b.wantStatus(r.RunID, task.RunRunning)
		if cur.LeaseExpiresAt == nil || !cur.LeaseExpiresAt.After(start.Add(24*time.Second)) {
			t.Errorf("lease expires %v", cur.LeaseExpiresAt)
		}
		hbs := 0
		for _, ev := range b.sink.events(r.RunID) {
			if ev.Event != EventRunHeartbeat {
				continue
			}
			hbs++
			if ev.WorkerID != b.m.WorkerID() || ev.Status != task.RunRunning || ev.LeaseGeneration != 1 ||
				ev.HeartbeatAt == nil || ev.LeaseExpiresAt == nil || !ev.LeaseExpiresAt.Equal(ev.HeartbeatAt.Add(8*time.Second)) {
				t.Errorf("heartbeat %+v", ev)
			}
		}
		if hbs != 12 {
			t.Errorf("%d heartbeats in 25s, want 12", hbs)
		}
		close(release)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCompleted)
		evs := b.sink.events(r.RunID)
		if last := evs[len(evs)-1]; last.Event != EventRunCompleted || last.Sequence != int64(3+hbs+1) {
			t.Errorf("last event %s #%d", last.Event, last.Sequence)
		}
		b.wantEvents(r.RunID, append(append([]string{EventRunQueued, EventRunClaimed, EventRunStarted},
			repeat(EventRunHeartbeat, hbs)...), EventRunCompleted)...)
		// Heartbeats are not mirrored into run.json but are in events.jsonl.
		if got := len(b.files.eventNames(t, r.RunID)); got != 4+hbs {
			t.Errorf("events.jsonl has %d lines", got)
		}
	})
}

func repeat(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestBrokenWorkspaceDoesNotBlockExecution(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.files.broken = true
		b.task("report")
		release := make(chan struct{})
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			<-release
			return RunResult{Response: "done"}, nil
		})
		b.start(b.m)
		r := b.enqueue(b.m, "report")
		time.Sleep(5 * time.Second)
		close(release)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCompleted)
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunHeartbeat, EventRunHeartbeat, EventRunCompleted)
	})
}

func TestWorkspacePolicyDisablesFiles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("quiet", func(t *task.Task) {
			t.WorkspacePolicy.WriteRunJSON = new(false)
			t.WorkspacePolicy.WriteEventsJSONL = new(false)
		})
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "quiet", Wait: true})
		if err != nil || r.Status != task.RunCompleted {
			t.Fatalf("run %v %v", r, err)
		}
		if len(b.files.lines[r.RunID]) != 0 || b.files.runJSON[r.RunID] != nil {
			t.Errorf("files written despite the policy")
		}
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
	})
}

func TestWaitTimeoutReturnsTheLatestStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("slow")
		release := make(chan struct{})
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			<-release
			return RunResult{Response: "late"}, nil
		})
		b.start(b.m)
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "slow", Wait: true, WaitBudget: 1500 * time.Millisecond})
		if !errors.Is(err, ErrWaitTimeout) {
			t.Fatalf("err %v", err)
		}
		if r == nil || r.Status != task.RunRunning {
			t.Fatalf("latest %+v", r)
		}
		close(release)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCompleted)
	})
}

func TestInlineWaitOnADelayedRetry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("flaky", retries(1, 10))
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			if req.Attempt.AttemptNumber == 1 {
				return RunResult{}, errors.New("try again")
			}
			return RunResult{Response: "second time"}, nil
		})
		// A budget shorter than the delay: 504 with the run queued.
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "flaky", Wait: true, WaitBudget: 1500 * time.Millisecond})
		if !errors.Is(err, ErrWaitTimeout) || r.Status != task.RunQueued || r.Error != "try again" {
			t.Fatalf("short budget: %v, %+v", err, r)
		}
		// No budget: the inline wait returns as soon as the run is delayed.
		b.task("flaky2", retries(1, 10))
		r2, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "flaky2", Wait: true})
		if err != nil || r2.Status != task.RunQueued {
			t.Fatalf("no budget: %v, %+v", err, r2)
		}
		// A budget longer than the delay: the inline wait retries it.
		b.task("flaky3", retries(1, 10))
		r3, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "flaky3", Wait: true, WaitBudget: time.Minute})
		if err != nil || r3.Status != task.RunCompleted {
			t.Fatalf("long budget: %v, %+v", err, r3)
		}
		b.wantEvents(r3.RunID, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunRetrying,
			EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
	})
}

func TestInlineWaitRespectsQueueNext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("serial", func(t *task.Task) { t.OverlapPolicy = task.OverlapQueueNext })
		blocker := b.enqueue(b.m, "serial")
		time.Sleep(time.Millisecond) // created first: ties break on run ids
		r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "serial", Wait: true})
		if err != nil || r.Status != task.RunQueued {
			t.Fatalf("blocked wait: %v %+v", err, r)
		}
		if b.handler.total() != 0 {
			t.Errorf("the blocker ran inline")
		}
		// With a budget, the wait polls until the blocker is cancelled.
		done := make(chan *task.Run)
		go func() {
			r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "serial", Wait: true, WaitBudget: time.Minute})
			if err != nil {
				t.Error(err)
			}
			done <- r
		}()
		time.Sleep(5 * time.Second)
		for _, id := range []string{blocker.RunID, r.RunID} {
			if _, err := b.m.Cancel(b.ctx, id); err != nil {
				t.Fatal(err)
			}
		}
		got := <-done
		if got.Status != task.RunCompleted {
			t.Errorf("after the blocker: %s", got.Status)
		}
	})
}

func TestConcurrencyBoundsTheWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, func(c *Config) { c.Concurrency = 4 })
		b.task("fan", parallel)
		var running, peak atomic.Int32
		entered := make(chan string, 8)
		release := make(chan struct{})
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			entered <- req.Run.RunID
			<-release
			running.Add(-1)
			return RunResult{Response: "ok"}, nil
		})
		var ids []string
		for range 8 {
			ids = append(ids, b.enqueue(b.m, "fan").RunID)
			time.Sleep(time.Millisecond) // distinct queued_at: a known claim order
		}
		b.start(b.m)
		synctest.Wait()
		if len(entered) != 4 {
			t.Fatalf("%d handlers entered, want 4", len(entered))
		}
		if st := b.m.Status(); st.ActiveRuns != 4 {
			t.Errorf("active runs %d", st.ActiveRuns)
		}
		// Runs are claimed in queue order.
		var first []string
		for range 4 {
			first = append(first, <-entered)
		}
		if diff := cmp.Diff(ids[:4], sorted(first, ids)); diff != "" {
			t.Errorf("first claimed (-want +got):\n%s", diff)
		}
		close(release)
		synctest.Wait()
		for _, id := range ids {
			b.wantStatus(id, task.RunCompleted)
		}
		if peak.Load() != 4 {
			t.Errorf("peak concurrency %d", peak.Load())
		}
	})
}

// sorted orders ids as in order.
func sorted(ids, order []string) []string {
	var out []string
	for _, o := range order {
		for _, id := range ids {
			if id == o {
				out = append(out, id)
			}
		}
	}
	return out
}

func TestTwoManagersExecuteEachRunOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t, func(c *Config) { c.Concurrency = 2; c.WorkerID = "worker_a" })
		other := b.manager(func(c *Config) { c.Concurrency = 3; c.WorkerID = "worker_b" })
		b.task("fan", parallel)
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			time.Sleep(time.Second) // work takes time, so both workers get runs
			return RunResult{Response: "ok"}, nil
		})
		b.start(b.m)
		b.start(other)
		const n = 30
		var ids []string
		for i := range n {
			m := b.m
			if i%2 == 1 {
				m = other
			}
			ids = append(ids, b.enqueue(m, "fan").RunID)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		workers := map[string]int{}
		for _, id := range ids {
			b.wantStatus(id, task.RunCompleted)
			if c := b.handler.callsOf(id); c != 1 {
				t.Errorf("%s executed %d times", id, c)
			}
			evs := b.wantEvents(id, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
			if len(evs) == 4 {
				workers[evs[1].WorkerID]++
			}
		}
		if workers["worker_a"] == 0 || workers["worker_b"] == 0 || workers["worker_a"]+workers["worker_b"] != n {
			t.Errorf("runs per worker %v", workers)
		}
	})
}

func TestLoopsSurviveTransientStoreErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		fs := &flakyStore{
			Store:               b.store,
			ScheduleDueListFunc: failTimes(3),
			RunClaimFunc:        failTimes(3),
			RunRecoverFunc:      failTimes(3),
		}
		m := b.manager(func(c *Config) { c.Store = fs })
		due := time.Now().Add(time.Second).UTC()
		b.task("once", func(t *task.Task) {
			t.Schedule = task.Schedule{Type: task.ScheduleOnce, RunAt: &due}
		})
		b.start(m)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		runs, _ := b.store.RunList(b.ctx, &task.RunListParams{})
		if len(runs) != 1 {
			t.Fatalf("runs %d", len(runs))
		}
		b.wantStatus(runs[0].RunID, task.RunCompleted)
		b.wantEvents(runs[0].RunID, EventTaskScheduled, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
	})
}

func TestStopWithAnInFlightRun(t *testing.T) {
	for _, tt := range []struct {
		name       string
		retries    int
		wantStatus task.RunStatus
		wantEvents []string
		attempts   []string
	}{
		{"fails", 0, task.RunFailed,
			[]string{EventRunQueued, EventRunClaimed, EventRunStarted, EventRunHeartbeat, EventRunFailed},
			[]string{"failed/initial"}},
		{"requeued when retryable", 1, task.RunQueued,
			[]string{EventRunQueued, EventRunClaimed, EventRunStarted, EventRunHeartbeat, EventRunRetrying, EventRunQueued},
			[]string{"failed/initial"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := setup(t)
				b.task("long", retries(tt.retries, 0))
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
				ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
				defer cancel()
				start := time.Now()
				if err := b.m.Stop(ctx); err != nil {
					t.Fatal(err)
				}
				if waited := time.Since(start); waited != 3*time.Second {
					t.Errorf("stop waited %v, want the grace period", waited)
				}
				if c, _ := cause.Load().(error); !errors.Is(c, errWorkerShutdown) {
					t.Errorf("handler cause %v", c)
				}
				got := b.wantStatus(r.RunID, tt.wantStatus)
				if got.Error != "worker shutdown" {
					t.Errorf("error %q", got.Error)
				}
				b.wantEvents(r.RunID, tt.wantEvents...)
				b.wantAttempts(r.RunID, tt.attempts...)
				// Nothing claims the requeued run any more.
				time.Sleep(time.Minute)
				b.wantStatus(r.RunID, tt.wantStatus)
			})
		})
	}
}

func TestStopWaitsForRunsWhileItsContextLasts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("short")
		b.handler.set(func(ctx context.Context, req RunRequest) (RunResult, error) {
			time.Sleep(2 * time.Second)
			return RunResult{Response: "done"}, nil
		})
		b.start(b.m)
		r := b.enqueue(b.m, "short")
		synctest.Wait()
		if err := b.m.Stop(b.ctx); err != nil {
			t.Fatal(err)
		}
		b.wantStatus(r.RunID, task.RunCompleted)
	})
}

func TestStopDuringAnInlineAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
		b.task("inline")
		b.handler.set(blockUntilCancelled(nil))
		done := make(chan error)
		var got *task.Run
		go func() {
			r, err := b.m.RunNow(b.ctx, RunNowParams{TaskID: "inline", Wait: true})
			got = r
			done <- err
		}()
		synctest.Wait()
		ctx, cancel := context.WithCancel(b.ctx)
		cancel() // cancel handlers at once
		if err := b.m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got.Status != task.RunFailed || got.Error != "worker shutdown" {
			t.Errorf("run %s %q", got.Status, got.Error)
		}
	})
}

func TestStopReleasesAClaimNotStarted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := setup(t)
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
		stopped := make(chan error)
		ctx, cancel := context.WithCancel(b.ctx)
		cancel()
		go func() { stopped <- b.m.Stop(ctx) }()
		synctest.Wait()
		b.sink.setHook(nil)
		close(proceed)
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		b.wantStatus(r.RunID, task.RunQueued)
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunQueued)
		if b.handler.total() != 0 {
			t.Error("handler called")
		}
		// Another process picks it up and the sequence continues.
		next := b.manager()
		b.start(next)
		synctest.Wait()
		b.wantStatus(r.RunID, task.RunCompleted)
		b.wantEvents(r.RunID, EventRunQueued, EventRunClaimed, EventRunQueued, EventRunClaimed, EventRunStarted, EventRunCompleted)
	})
}
