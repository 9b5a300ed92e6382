package tasktest

import (
	"fmt"
	"sync"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/task"
)

const goroutines = 8

func testConcurrentClaims(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job"))
	const runs = 40
	for i := range runs {
		b.manual("job", fmt.Sprintf("run_%02d", i))
	}
	var (
		mu      sync.Mutex
		claimed = map[string][]string{} // run id -> workers
		errs    []error
		wg      sync.WaitGroup
	)
	for g := range goroutines {
		worker := fmt.Sprint("w", g)
		wg.Go(func() {
			for {
				r, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: worker})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				}
				if r != nil {
					claimed[r.RunID] = append(claimed[r.RunID], worker)
					if r.LeaseOwner != worker {
						errs = append(errs, fmt.Errorf("run %s claimed by %s owned by %s", r.RunID, worker, r.LeaseOwner))
					}
				}
				mu.Unlock()
				if r == nil || err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if len(claimed) != runs {
		t.Errorf("%d runs claimed, want %d", len(claimed), runs)
	}
	for id, workers := range claimed {
		if len(workers) != 1 {
			t.Errorf("run %s claimed %d times: %v", id, len(workers), workers)
		}
		if r := b.get(id); r.Status != task.RunClaimed || r.LeaseOwner != workers[0] || r.LeaseGeneration != 1 {
			t.Errorf("run %s stored as %s owned by %s generation %d", id, r.Status, r.LeaseOwner, r.LeaseGeneration)
		}
	}
}

func testConcurrentDispatch(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", interval(60, "")))
	b.clock.Advance(time.Minute)
	occ := b.due(0)[0].Plan.Occurrences[0]
	results := make([]*task.RunCreateResult, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			results[g], errs[g] = s.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{TaskID: "job", ScheduleRevision: 1, Occurrence: occ})
		})
	}
	wg.Wait()
	created, ids := 0, map[string]bool{}
	for g := range goroutines {
		if errs[g] != nil {
			t.Errorf("dispatch %d: %v", g, errs[g])
			continue
		}
		if results[g].Created {
			created++
		}
		ids[results[g].Run.RunID] = true
	}
	if created != 1 || len(ids) != 1 {
		t.Errorf("%d dispatches created a run, %d distinct runs; want 1 and 1", created, len(ids))
	}
	if runs, _ := s.RunList(ctx, &task.RunListParams{TaskID: "job"}); len(runs) != 1 {
		t.Errorf("runs %v", runIDs(runs))
	}
	if st := b.state("job"); !timeEq(st.NextDueAt, Start.Add(2*time.Minute)) {
		t.Errorf("schedule advanced to %v", st.NextDueAt)
	}
}

func testConcurrentOverlap(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", func(tk *task.Task) { tk.OverlapPolicy = task.OverlapSkipIfRunning }))
	statuses := make([]task.RunStatus, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			res, err := s.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "job"})
			if err != nil {
				t.Errorf("manual run %d: %v", g, err)
				return
			}
			statuses[g] = res.Run.Status
		})
	}
	wg.Wait()
	n := map[task.RunStatus]int{}
	for _, st := range statuses {
		n[st]++
	}
	if n[task.RunQueued] != 1 || n[task.RunSkipped] != goroutines-1 {
		t.Errorf("statuses %v; want 1 queued and the rest skipped", n)
	}
}

func testPersistence(b *bundle, reopen func() task.Store) {
	t, s, ctx := b.t, b.s, b.ctx
	runAt := Start.Add(time.Minute)
	b.task(newTask("job", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleOnce, RunAt: &runAt} }))
	b.clock.Set(runAt)
	done := b.dispatch("job", 1, b.due(0)[0].Plan.Occurrences[0]).Run
	c, _ := b.start(b.claim("w1"))
	b.finish(c, task.RunCompleted)
	b.manual("job", "run_held")
	held := b.claim("w1")
	if _, err := s.RunCancel(ctx, &task.RunCancelParams{RunID: held.RunID}); err != nil {
		t.Fatal(err)
	}
	b.manual("job", "run_queued")

	agents, _ := s.AgentList(ctx, &task.AgentListParams{})
	tasks, _ := s.TaskList(ctx, &task.TaskListParams{})
	runs, _ := s.RunList(ctx, &task.RunListParams{})
	state := b.state("job")
	attempts := b.attempts(done.RunID)

	r := reopen()
	b.s = r
	agents2, _ := r.AgentList(ctx, &task.AgentListParams{})
	tasks2, _ := r.TaskList(ctx, &task.TaskListParams{})
	runs2, _ := r.RunList(ctx, &task.RunListParams{})
	for what, diff := range map[string]string{
		"agents":         cmp.Diff(agents, agents2),
		"tasks":          cmp.Diff(tasks, tasks2),
		"runs":           cmp.Diff(runs, runs2),
		"schedule state": cmp.Diff(state, b.state("job")),
		"attempts":       cmp.Diff(attempts, b.attempts(done.RunID)),
	} {
		if diff != "" {
			t.Errorf("%s after reopen (-before +after):\n%s", what, diff)
		}
	}
	if got := b.get(held.RunID); got.CancelRequestedAt == nil {
		t.Error("cancellation marker lost")
	}
	// The reopened store carries on: the held holder is still fenced and
	// the queued run is claimable by a new worker.
	_, err := r.RunStart(ctx, &task.RunStartParams{RunID: held.RunID, WorkerID: "w1", LeaseToken: held.LeaseToken})
	wantErr(t, "start a cancelled claim after reopen", err, task.ErrCancelled)
	if c := b.claim("w_new"); c.RunID != "run_queued" {
		t.Errorf("claimed %s after reopen", c.RunID)
	}
	if ds := b.due(0); len(ds) != 0 {
		t.Errorf("a dispatched occurrence is due again after reopen")
	}
}
