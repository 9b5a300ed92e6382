package tasktest

import (
	"fmt"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/task"
)

func interval(seconds float64, policy task.MisfirePolicy) func(*task.Task) {
	return func(tk *task.Task) {
		tk.Schedule = task.Schedule{Type: task.ScheduleInterval, Seconds: seconds, MisfirePolicy: policy}
	}
}

func dueIDs(ds []*task.DueSchedule) string {
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.Task.TaskID)
	}
	return fmt.Sprint(ids)
}

func testDueSchedules(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	runAt := Start.Add(30 * time.Second)
	b.task(newTask("every", interval(60, "")))
	b.task(newTask("once", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleOnce, RunAt: &runAt} }))
	b.task(newTask("manual"))
	b.task(newTask("disabled", interval(10, ""), func(tk *task.Task) { tk.Enabled = false }))
	b.task(newTask("paused", interval(10, "")))
	if _, err := s.ScheduleSetPaused(ctx, &task.ScheduleSetPausedParams{TaskID: "paused", Paused: true}); err != nil {
		t.Fatal(err)
	}
	if ds := b.due(0); len(ds) != 0 {
		t.Errorf("due at start: %s", dueIDs(ds))
	}

	now := b.clock.Advance(time.Minute)
	ds := b.due(0)
	// Ordered by next_due_at; disabled and paused schedules never due.
	if got := dueIDs(ds); got != "[once every]" {
		t.Fatalf("due %s, want [once every]", got)
	}
	if got := dueIDs(b.due(1)); got != "[once]" {
		t.Errorf("due with limit 1: %s", got)
	}

	once := ds[0]
	if once.Plan.Revision != 1 || len(once.Plan.Occurrences) != 1 || once.Plan.Next != nil {
		t.Fatalf("once plan %+v", once.Plan)
	}
	occ := once.Plan.Occurrences[0]
	if occ.ID != "once:1:2026-01-01T00:00:30+00:00" || !occ.DueAt.Equal(runAt) {
		t.Errorf("once occurrence %+v", occ)
	}
	res := b.dispatch("once", 1, occ)
	r := res.Run
	if !res.Created || r.Status != task.RunQueued || r.TriggerType != task.TriggerOnce || r.OccurrenceID != occ.ID ||
		!timeEq(r.DueAt, runAt) || !r.QueuedAt.Equal(now) || !r.TriggeredAt.Equal(now) || r.QuerySnapshot != "do once" {
		t.Errorf("dispatched run %+v", r)
	}
	st := b.state("once")
	if st.NextDueAt != nil || st.MisfireCursor != nil || st.LastOccurrenceID != occ.ID ||
		!timeEq(st.LastDueAt, runAt) || !timeEq(st.LastDispatchedAt, now) || !st.UpdatedAt.Equal(now) {
		t.Errorf("once state after dispatch %+v", st)
	}

	every := ds[1]
	if len(every.Plan.Occurrences) != 1 {
		t.Fatalf("every plan %+v", every.Plan)
	}
	b.dispatch("every", 1, every.Plan.Occurrences[0])
	if st := b.state("every"); !timeEq(st.NextDueAt, Start.Add(2*time.Minute)) || st.ScheduleRevision != 1 {
		t.Errorf("every advanced to %v", st.NextDueAt)
	}
	if ds := b.due(0); len(ds) != 0 {
		t.Errorf("due after dispatch: %s", dueIDs(ds))
	}

	// Advancing without a dispatch.
	next := Start.Add(10 * time.Minute)
	st, err := s.ScheduleAdvance(ctx, &task.ScheduleAdvanceParams{TaskID: "every", ScheduleRevision: 1, Next: &next})
	if err != nil || !timeEq(st.NextDueAt, next) {
		t.Errorf("advance: %v, %+v", err, st)
	}
	back := Start.Add(3 * time.Minute)
	if st, err := s.ScheduleAdvance(ctx, &task.ScheduleAdvanceParams{TaskID: "every", ScheduleRevision: 1, Next: &back}); err != nil || !timeEq(st.NextDueAt, next) {
		t.Errorf("advance backwards moved the cursor: %v, %+v", err, st)
	}
	_, err = s.ScheduleAdvance(ctx, &task.ScheduleAdvanceParams{TaskID: "every", ScheduleRevision: 7, Next: &next})
	wantErr(t, "advance at a stale revision", err, task.ErrStaleRevision)
	_, err = s.ScheduleAdvance(ctx, &task.ScheduleAdvanceParams{TaskID: "none", ScheduleRevision: 1})
	wantErr(t, "advance missing task", err, task.ErrNotFound)
}

func testDispatchIdempotent(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	runAt := Start.Add(time.Minute)
	b.task(newTask("once", func(tk *task.Task) { tk.Schedule = task.Schedule{Type: task.ScheduleOnce, RunAt: &runAt} }))
	b.clock.Set(runAt)
	occ := b.due(0)[0].Plan.Occurrences[0]
	first := b.dispatch("once", 1, occ)
	before := b.state("once")

	b.clock.Advance(time.Minute)
	again, err := s.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{TaskID: "once", ScheduleRevision: 1, Occurrence: occ, RunID: "another_id"})
	if err != nil {
		t.Fatal(err)
	}
	if again.Created || again.Run.RunID != first.Run.RunID {
		t.Errorf("second dispatch: created %v run %s, want the first run %s", again.Created, again.Run.RunID, first.Run.RunID)
	}
	if diff := cmp.Diff(before, b.state("once")); diff != "" {
		t.Errorf("second dispatch changed the schedule state (-before +after):\n%s", diff)
	}
	if runs, _ := s.RunList(ctx, &task.RunListParams{TaskID: "once"}); len(runs) != 1 {
		t.Errorf("runs after two dispatches: %v", runIDs(runs))
	}
	_, err = s.RunGet(ctx, &task.RunGetParams{RunID: "another_id"})
	wantErr(t, "run of the duplicate dispatch", err, task.ErrNotFound)
}

func testDispatchRevision(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", interval(60, "")))
	b.clock.Advance(time.Minute)
	plan := b.due(0)[0].Plan
	if _, err := s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Schedule: &task.Schedule{Type: task.ScheduleInterval, Seconds: 30}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{TaskID: "job", ScheduleRevision: plan.Revision, Occurrence: plan.Occurrences[0]})
	wantErr(t, "dispatch at a stale revision", err, task.ErrStaleRevision)
	wantErr(t, "dispatch at a stale revision", err, task.ErrConflict)

	b.clock.Advance(30 * time.Second)
	plan = b.due(0)[0].Plan
	if plan.Revision != 2 || plan.Occurrences[0].ID != "interval:2:2026-01-01T00:01:30+00:00" {
		t.Errorf("plan after the schedule change: %+v", plan)
	}
	forged := plan.Occurrences[0]
	forged.ID = "interval:2:2026-01-01T00:01:31+00:00"
	_, err = s.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{TaskID: "job", ScheduleRevision: 2, Occurrence: forged})
	wantErr(t, "dispatch of a forged occurrence", err, task.ErrInvalid)

	if _, err := s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{TaskID: "job", ScheduleRevision: 2, Occurrence: plan.Occurrences[0]})
	wantErr(t, "dispatch for a disabled task", err, task.ErrTaskDisabled)
	_, err = s.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{TaskID: "none", ScheduleRevision: 1, Occurrence: plan.Occurrences[0]})
	wantNotFound(t, "dispatch for a missing task", err, "task")
	if runs, _ := s.RunList(ctx, &task.RunListParams{TaskID: "job"}); len(runs) != 0 {
		t.Errorf("refused dispatches created runs: %v", runIDs(runs))
	}
}

func testPause(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", interval(60, task.MisfireRunOnce)))
	b.clock.Advance(time.Minute)
	plan := b.due(0)[0].Plan
	before := b.state("job")
	st, err := s.ScheduleSetPaused(ctx, &task.ScheduleSetPausedParams{TaskID: "job", Paused: true, Reason: "budget"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.Paused || st.PausedReason != "budget" || !timeEq(st.MisfireCursor, *before.MisfireCursor) || !timeEq(st.NextDueAt, *before.NextDueAt) {
		t.Errorf("paused state %+v", st)
	}
	if ds := b.due(0); len(ds) != 0 {
		t.Errorf("paused schedule is due: %s", dueIDs(ds))
	}
	_, err = s.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{TaskID: "job", ScheduleRevision: 1, Occurrence: plan.Occurrences[0]})
	wantErr(t, "dispatch while paused", err, task.ErrSchedulePaused)
	// Manual runs still work on a paused task.
	b.manual("job", "")

	b.clock.Advance(10 * time.Minute)
	st, err = s.ScheduleSetPaused(ctx, &task.ScheduleSetPausedParams{TaskID: "job", Paused: false})
	if err != nil {
		t.Fatal(err)
	}
	if st.Paused || st.PausedReason != "" || !timeEq(st.MisfireCursor, *before.MisfireCursor) {
		t.Errorf("resumed state %+v", st)
	}
	// The kept cursor is now stale: run_once runs it once, then moves on
	// from now.
	ds := b.due(0)
	if len(ds) != 1 || !ds[0].Plan.Misfired || len(ds[0].Plan.Occurrences) != 1 || ds[0].Plan.Occurrences[0].ID != plan.Occurrences[0].ID {
		t.Fatalf("after resume: %+v", ds)
	}
	_, err = s.ScheduleSetPaused(ctx, &task.ScheduleSetPausedParams{TaskID: "none", Paused: true})
	wantErr(t, "pause a missing task", err, task.ErrNotFound)
}

func testMisfire(b *bundle) {
	t := b.t
	b.task(newTask("skip", interval(60, task.MisfireSkipMissed)))
	b.task(newTask("once", interval(60, task.MisfireRunOnce)))
	b.task(newTask("all", interval(60, task.MisfireQueueAll)))
	now := b.clock.Advance(5*time.Minute + 30*time.Second) // 5 occurrences missed

	plans := map[string]task.DuePlan{}
	for _, d := range b.due(0) {
		plans[d.Task.TaskID] = d.Plan
	}
	if len(plans) != 3 {
		t.Fatalf("due: %v", plans)
	}

	// skip_missed: nothing runs; the next due is computed from now.
	if p := plans["skip"]; len(p.Occurrences) != 0 || !p.Misfired {
		t.Errorf("skip_missed plan %+v", p)
	}
	st, err := b.s.ScheduleAdvance(b.ctx, &task.ScheduleAdvanceParams{TaskID: "skip", ScheduleRevision: 1, Next: plans["skip"].Next})
	if err != nil || !timeEq(st.NextDueAt, now.Add(time.Minute)) {
		t.Errorf("skip_missed advanced to %v, %v; want now+60s", st.NextDueAt, err)
	}

	// run_once: one run for the stale occurrence, due at the stale time.
	p := plans["once"]
	if len(p.Occurrences) != 1 {
		t.Fatalf("run_once plan %+v", p)
	}
	r := b.dispatch("once", 1, p.Occurrences[0]).Run
	if !timeEq(r.DueAt, Start.Add(time.Minute)) {
		t.Errorf("run_once run due %v, want the stale time", r.DueAt)
	}
	if st := b.state("once"); !timeEq(st.NextDueAt, now.Add(time.Minute)) {
		t.Errorf("run_once next due %v, want now+60s", st.NextDueAt)
	}

	// queue_all: every missed occurrence in order, the limit per pass,
	// the cursor staying in the past between passes.
	seen := map[string]bool{}
	for pass := 0; ; pass++ {
		ds := b.due(2)
		var plan *task.DuePlan
		for _, d := range ds {
			if d.Task.TaskID == "all" {
				plan = &d.Plan
			}
		}
		if plan == nil {
			break
		}
		if pass > 5 || len(plan.Occurrences) > 2 {
			t.Fatalf("pass %d plan %+v", pass, plan)
		}
		for _, o := range plan.Occurrences {
			res := b.dispatch("all", 1, o)
			if !res.Created || seen[o.ID] {
				t.Fatalf("occurrence %s dispatched twice", o.ID)
			}
			seen[o.ID] = true
		}
	}
	if len(seen) != 5 {
		t.Errorf("queue_all dispatched %d occurrences, want 5", len(seen))
	}
	if st := b.state("all"); !timeEq(st.NextDueAt, Start.Add(6*time.Minute)) {
		t.Errorf("queue_all next due %v, want the 6th slot", st.NextDueAt)
	}
}

func testOverlapSkip(b *bundle) {
	t := b.t
	b.task(newTask("job", interval(60, ""), func(tk *task.Task) { tk.OverlapPolicy = task.OverlapSkipIfRunning }))
	first := b.manual("job", "")
	if first.Status != task.RunQueued {
		t.Fatalf("first run %s", first.Status)
	}
	now := b.clock.Advance(time.Minute)
	res := b.dispatch("job", 1, b.due(0)[0].Plan.Occurrences[0])
	skipped := res.Run
	if !res.Created || skipped.Status != task.RunSkipped || !timeEq(skipped.FinishedAt, now) || skipped.LeaseToken != "" {
		t.Errorf("dispatch over an active run: %+v", skipped)
	}
	if got := b.get(skipped.RunID); got.Status != task.RunSkipped {
		t.Errorf("skipped run stored as %s", got.Status)
	}
	if st := b.state("job"); !timeEq(st.NextDueAt, Start.Add(2*time.Minute)) {
		t.Errorf("a skipped occurrence did not advance the schedule: %v", st.NextDueAt)
	}
	if r := b.manual("job", ""); r.Status != task.RunSkipped {
		t.Errorf("manual run over an active run: %s", r.Status)
	}
	if c := b.claim("w1"); c.RunID != first.RunID {
		t.Errorf("claimed %s, want %s", c.RunID, first.RunID)
	}
	b.noClaim("w1")
}

func testOverlapQueueNext(b *bundle) {
	t := b.t
	b.task(newTask("job", func(tk *task.Task) { tk.OverlapPolicy = task.OverlapQueueNext }))
	b.task(newTask("other"))
	a := b.manual("job", "run_a")
	b.clock.Advance(time.Second)
	next := b.manual("job", "run_b")
	if next.Status != task.RunQueued {
		t.Fatalf("queue_next run %s", next.Status)
	}
	ca := b.claim("w1")
	if ca.RunID != a.RunID {
		t.Fatalf("claimed %s first", ca.RunID)
	}
	b.noClaim("w2")
	// A blocked run does not hold up other tasks.
	o := b.manual("other", "")
	if c := b.claim("w2"); c.RunID != o.RunID {
		t.Errorf("claimed %s, want the other task's run", c.RunID)
	}
	if r, err := b.s.RunClaim(b.ctx, &task.RunClaimParams{WorkerID: "w2", RunID: next.RunID}); r != nil || err != nil {
		t.Errorf("claim of the blocked run by id: %v, %v", runID(r), err)
	}
	ca, _ = b.start(ca)
	b.finish(ca, task.RunCompleted)
	if c := b.claim("w2"); c.RunID != next.RunID {
		t.Errorf("after the blocker ended, claimed %s, want %s", c.RunID, next.RunID)
	}
}

func testOverlapCancelPrevious(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job"))
	b.manual("job", "run_held")
	held, _ := b.start(b.claim("w1"))
	b.clock.Advance(time.Second)
	waiting := b.manual("job", "run_waiting")
	b.clock.Advance(time.Second)

	active, err := s.RunList(ctx, &task.RunListParams{TaskID: "job", Statuses: task.ActiveStatuses})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(runIDs(active)); got != "[run_held run_waiting]" {
		t.Errorf("active runs %s", got)
	}

	if _, err := s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", OverlapPolicy: new(task.OverlapCancelPrevious)}); err != nil {
		t.Fatal(err)
	}
	now := b.clock.Now()
	res, err := s.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "job", RunID: "run_new"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Run.Status != task.RunQueued || fmt.Sprint(runIDs(res.Cancelled)) != "[run_held run_waiting]" {
		t.Errorf("successor %s, cancelled %v", res.Run.Status, runIDs(res.Cancelled))
	}
	// The held run keeps running until its holder sees the request; the
	// queued one is cancelled at once.
	if h := b.get(held.RunID); h.Status != task.RunRunning || !timeEq(h.CancelRequestedAt, now) {
		t.Errorf("held run %s cancel requested %v", h.Status, h.CancelRequestedAt)
	}
	if w := b.get(waiting.RunID); w.Status != task.RunCancelled || !timeEq(w.CancelRequestedAt, now) || !timeEq(w.FinishedAt, now) {
		t.Errorf("waiting run %+v", w)
	}
	_, err = s.RunFinish(ctx, &task.RunFinishParams{RunID: held.RunID, WorkerID: "w1", LeaseToken: held.LeaseToken, Status: task.RunCompleted})
	wantErr(t, "complete the cancelled-previous run", err, task.ErrCancelled)
	b.finish(held, task.RunCancelled)
	if as := b.attempts(held.RunID); as[0].Status != task.AttemptCancelled {
		t.Errorf("held run's attempt %s", as[0].Status)
	}
	active, _ = s.RunList(ctx, &task.RunListParams{TaskID: "job", Statuses: task.ActiveStatuses})
	if got := fmt.Sprint(runIDs(active)); got != "[run_new]" {
		t.Errorf("active runs after %s", got)
	}
}
