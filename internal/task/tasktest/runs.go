package tasktest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/task"
)

func retries(n int, initialDelay float64) func(*task.Task) {
	return func(tk *task.Task) {
		tk.RetryPolicy = task.RetryPolicy{MaxRetries: n, InitialDelaySeconds: &initialDelay}
	}
}

func testManualRuns(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", retries(2, 0)))
	b.task(newTask("per_run", func(tk *task.Task) { tk.SessionPolicy.Mode = task.SessionPerRun }))
	now := b.clock.Advance(time.Second)
	res, err := s.RunCreateManual(ctx, &task.RunCreateManualParams{
		TaskID: "job", Query: "override", TriggerMetadata: map[string]any{"source": "api"}, Metadata: map[string]any{"m": 1.0},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := res.Run
	if err := task.ValidateID("run_id", r.RunID); err != nil || !strings.HasPrefix(r.RunID, "run_") {
		t.Errorf("generated run id %q: %v", r.RunID, err)
	}
	want := &task.Run{
		RunID: r.RunID, TaskID: "job", AgentID: "agent", Status: task.RunQueued, MaxAttempts: 3,
		QuerySnapshot: "override", TriggerType: task.TriggerManual, TriggeredAt: now,
		TriggerMetadata: map[string]any{"source": "api"}, OverlapPolicy: task.OverlapAllowParallel,
		SessionID: "background:agent:job", WorkspacePath: "background/agent/job/" + r.RunID,
		QueuedAt: now, Metadata: map[string]any{"m": 1.0},
	}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("manual run (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(r, b.get(r.RunID)); diff != "" {
		t.Errorf("stored run (-created +read):\n%s", diff)
	}
	plain := b.manual("job", "")
	if _, err := s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Query: new("edited")}); err != nil {
		t.Fatal(err)
	}
	if got := b.get(plain.RunID); got.QuerySnapshot != "do job" {
		t.Errorf("query snapshot %q; a run keeps the query it was created with", got.QuerySnapshot)
	}
	if got := b.manual("per_run", ""); got.SessionID != "background:"+got.RunID {
		t.Errorf("per-run session %q", got.SessionID)
	}

	if _, err := s.TaskUpdate(ctx, &task.TaskUpdateParams{TaskID: "job", Enabled: new(false)}); err != nil {
		t.Fatal(err)
	}
	_, err = s.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "job"})
	wantErr(t, "manual run of a disabled task", err, task.ErrTaskDisabled)
	_, err = s.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "none"})
	wantNotFound(t, "manual run of a missing task", err, "task")
	_, err = s.RunGet(ctx, &task.RunGetParams{RunID: "none"})
	wantNotFound(t, "get a missing run", err, "run")
}

func testClaimOrder(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job"))
	b.manual("job", "run_b")
	b.manual("job", "run_a")
	b.clock.Advance(time.Second)
	b.manual("job", "run_0")
	b.clock.Advance(time.Second)
	var got []string
	for range 3 {
		got = append(got, b.claim("w1").RunID)
	}
	// By queued_at, then run_id.
	if fmt.Sprint(got) != "[run_a run_b run_0]" {
		t.Errorf("claim order %v", got)
	}
	b.noClaim("w1")

	b.manual("job", "run_x")
	b.manual("job", "run_y")
	if r, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", RunID: "run_y"}); err != nil || runID(r) != "run_y" {
		t.Errorf("claim by id: %v, %v", runID(r), err)
	}
	for _, id := range []string{"run_y", "run_none"} {
		if r, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", RunID: id}); r != nil || err != nil {
			t.Errorf("claim of unclaimable %s: %v, %v", id, runID(r), err)
		}
	}
	_, err := s.RunClaim(ctx, &task.RunClaimParams{})
	wantField(t, "claim without a worker", err, "worker_id")
	_, err = s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", LeaseDuration: -time.Second})
	wantErr(t, "claim with a negative lease", err, task.ErrInvalid)
	if got := b.get("run_x"); got.Status != task.RunQueued {
		t.Errorf("refused claims changed run_x: %s", got.Status)
	}
}

func testClaimFlow(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job"))
	r := b.manual("job", "")
	now := b.clock.Advance(time.Second)

	c, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", LeaseDuration: 20 * time.Second})
	if err != nil || c == nil {
		t.Fatalf("claim: %v, %v", runID(c), err)
	}
	if c.RunID != r.RunID || c.Status != task.RunClaimed || c.LeaseOwner != "w1" || c.LeaseToken == "" || c.LeaseGeneration != 1 ||
		!timeEq(c.LeaseExpiresAt, now.Add(20*time.Second)) || !timeEq(c.ClaimedAt, now) || !timeEq(c.HeartbeatAt, now) {
		t.Errorf("claimed run %+v", c)
	}
	if diff := cmp.Diff(c, b.get(r.RunID)); diff != "" {
		t.Errorf("stored claim (-returned +read):\n%s", diff)
	}
	b.noClaim("w2")

	_, err = s.RunStart(ctx, &task.RunStartParams{RunID: c.RunID, WorkerID: "w2", LeaseToken: c.LeaseToken})
	wantErr(t, "start by the wrong worker", err, task.ErrLeaseLost)
	_, err = s.RunStart(ctx, &task.RunStartParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: "not-the-token"})
	wantErr(t, "start with the wrong token", err, task.ErrLeaseLost)
	_, err = s.RunStart(ctx, &task.RunStartParams{RunID: "none", WorkerID: "w1", LeaseToken: c.LeaseToken})
	wantNotFound(t, "start a missing run", err, "run")

	now = b.clock.Advance(time.Second)
	started, err := s.RunStart(ctx, &task.RunStartParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	if err != nil {
		t.Fatal(err)
	}
	if started.Status != task.RunRunning || !timeEq(started.StartedAt, now) || started.Attempt != 0 {
		t.Errorf("started run %+v", started)
	}
	_, err = s.RunStart(ctx, &task.RunStartParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	wantErr(t, "start twice", err, task.ErrInvalidTransition)

	a, err := s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	if err != nil {
		t.Fatal(err)
	}
	if a.AttemptNumber != 1 || a.Status != task.AttemptRunning || a.Reason != task.AttemptInitial || a.WorkerID != "w1" ||
		a.LeaseToken != c.LeaseToken || !a.StartedAt.Equal(now) || a.FinishedAt != nil || a.RunID != c.RunID {
		t.Errorf("attempt %+v", a)
	}
	if got := b.get(c.RunID); got.Attempt != 1 {
		t.Errorf("run attempt %d after the first attempt", got.Attempt)
	}
	_, err = s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	wantErr(t, "second attempt while the first is open", err, task.ErrAttemptOpen)
	_, err = s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: c.RunID, WorkerID: "w2", LeaseToken: c.LeaseToken})
	wantErr(t, "attempt by the wrong worker", err, task.ErrLeaseLost)

	// Heartbeats renew the lease and merge metadata.
	now = b.clock.Advance(5 * time.Second)
	hb, err := s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Metadata: map[string]any{"progress": 0.5}})
	if err != nil {
		t.Fatal(err)
	}
	if !timeEq(hb.HeartbeatAt, now) || !timeEq(hb.LeaseExpiresAt, now.Add(task.DefaultLeaseDuration)) || hb.CancelRequestedAt != nil {
		t.Errorf("heartbeat %+v", hb)
	}
	if _, err := s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, LeaseDuration: time.Minute, Metadata: map[string]any{"step": "write"}}); err != nil {
		t.Fatal(err)
	}
	got := b.get(c.RunID)
	if diff := cmp.Diff(map[string]any{"progress": 0.5, "step": "write"}, got.Metadata); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	if !timeEq(got.LeaseExpiresAt, now.Add(time.Minute)) {
		t.Errorf("lease expires %v", got.LeaseExpiresAt)
	}
	_, err = s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: c.RunID, WorkerID: "w2", LeaseToken: c.LeaseToken, Metadata: map[string]any{"x": 1}})
	wantErr(t, "metadata write by the wrong worker", err, task.ErrLeaseLost)

	// Cancellation blocks completion but allows finishing as cancelled.
	cancelAt := b.clock.Advance(time.Second)
	cr, err := s.RunCancel(ctx, &task.RunCancelParams{RunID: c.RunID})
	if err != nil {
		t.Fatal(err)
	}
	if cr.Status != task.RunRunning || !timeEq(cr.CancelRequestedAt, cancelAt) {
		t.Errorf("cancel of a running run: %s, %v", cr.Status, cr.CancelRequestedAt)
	}
	hb, err = s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	if err != nil || !timeEq(hb.CancelRequestedAt, cancelAt) {
		t.Errorf("holder does not see the request: %v, %+v", err, hb)
	}
	_, err = s.RunFinish(ctx, &task.RunFinishParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Status: task.RunCompleted, ResultPreview: "done"})
	wantErr(t, "complete after cancel", err, task.ErrCancelled)
	if got := b.get(c.RunID); got.Status != task.RunRunning || got.ResultPreview != "" {
		t.Errorf("refused completion changed the run: %+v", got)
	}
	now = b.clock.Advance(time.Second)
	fin, err := s.RunFinish(ctx, &task.RunFinishParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Status: task.RunCancelled})
	if err != nil {
		t.Fatal(err)
	}
	if fin.Status != task.RunCancelled || !timeEq(fin.FinishedAt, now) || fin.LeaseOwner != "" || fin.LeaseToken != "" || fin.LeaseExpiresAt != nil || fin.LeaseGeneration != 1 {
		t.Errorf("cancelled run %+v", fin)
	}
	if as := b.attempts(c.RunID); len(as) != 1 || as[0].Status != task.AttemptCancelled || !timeEq(as[0].FinishedAt, now) {
		t.Errorf("attempt after cancel %+v", as[0])
	}

	// A terminal run never goes back to queued.
	_, err = s.RunRetry(ctx, &task.RunRetryParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	wantErr(t, "retry a terminal run", err, task.ErrLeaseLost)
	_, err = s.RunRelease(ctx, &task.RunReleaseParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	wantErr(t, "release a terminal run", err, task.ErrLeaseLost)
	if r, _ := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", RunID: c.RunID}); r != nil {
		t.Error("claimed a terminal run")
	}
	if task.CanTransition(task.RunCancelled, task.RunQueued) || task.CanTransition(task.RunCompleted, task.RunQueued) {
		t.Error("the state machine lets a terminal run go back to queued")
	}
	if got := b.get(c.RunID); got.Status != task.RunCancelled {
		t.Errorf("terminal run became %s", got.Status)
	}
}

func testFinishRules(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job"))
	b.manual("job", "run_1")
	c := b.claim("w1")
	for _, st := range []task.RunStatus{task.RunCompleted, task.RunTimeout} {
		_, err := s.RunFinish(ctx, &task.RunFinishParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Status: st})
		wantErr(t, "finish a claimed run as "+string(st), err, task.ErrInvalidTransition)
	}
	for _, st := range []task.RunStatus{task.RunQueued, task.RunRetrying, task.RunSkipped, "bogus"} {
		_, err := s.RunFinish(ctx, &task.RunFinishParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Status: st})
		wantField(t, "finish as "+string(st), err, "status")
	}
	// A claimed run may fail before it starts, as when its agent is
	// missing.
	f, err := s.RunFinish(ctx, &task.RunFinishParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Status: task.RunFailed, Error: "agent missing"})
	if err != nil || f.Status != task.RunFailed || f.Error != "agent missing" {
		t.Errorf("fail a claimed run: %v, %+v", err, f)
	}

	b.manual("job", "run_2")
	r, _ := b.start(b.claim("w1"))
	long := strings.Repeat("é", task.MaxResultPreview+10)
	done, err := s.RunFinish(ctx, &task.RunFinishParams{RunID: r.RunID, WorkerID: "w1", LeaseToken: r.LeaseToken, Status: task.RunCompleted, ResultPreview: long})
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != task.RunCompleted || done.ResultPreview != strings.Repeat("é", task.MaxResultPreview) || done.Error != "" {
		t.Errorf("completed run: status %s preview %d runes error %q", done.Status, len([]rune(done.ResultPreview)), done.Error)
	}
	if as := b.attempts(r.RunID); as[0].Status != task.AttemptCompleted {
		t.Errorf("attempt %s", as[0].Status)
	}

	b.manual("job", "run_3")
	r, _ = b.start(b.claim("w1"))
	to, err := s.RunFinish(ctx, &task.RunFinishParams{RunID: r.RunID, WorkerID: "w1", LeaseToken: r.LeaseToken, Status: task.RunTimeout, Error: "attempt timed out"})
	if err != nil || to.Status != task.RunTimeout || to.Error != "attempt timed out" {
		t.Errorf("timeout: %v, %+v", err, to)
	}
	if as := b.attempts(r.RunID); as[0].Status != task.AttemptTimeout || as[0].Error != "attempt timed out" {
		t.Errorf("timed-out attempt %+v", as[0])
	}
}

func testAttemptsByNumber(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", retries(2, 0)))
	r := b.manual("job", "")
	if as := b.attempts(r.RunID); len(as) != 0 {
		t.Errorf("attempts before the first: %d", len(as))
	}
	var tokens []string
	for i, st := range []task.AttemptStatus{task.AttemptFailed, task.AttemptTimeout} {
		c, _ := b.start(b.claim("w1"))
		tokens = append(tokens, c.LeaseToken)
		b.clock.Advance(time.Second)
		if _, err := s.RunRetry(ctx, &task.RunRetryParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Error: fmt.Sprint("boom ", i+1), AttemptStatus: st}); err != nil {
			t.Fatal(err)
		}
	}
	c := b.claim("w2")
	tokens = append(tokens, c.LeaseToken)
	if _, err := s.RunStart(ctx, &task.RunStartParams{RunID: c.RunID, WorkerID: "w2", LeaseToken: c.LeaseToken}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: c.RunID, WorkerID: "w2", LeaseToken: c.LeaseToken, AttemptID: "attempt_third", Reason: task.AttemptRecovery}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: c.RunID, WorkerID: "w2", LeaseToken: c.LeaseToken, Reason: "whim"}); err == nil {
		t.Error("an attempt with an unknown reason was opened")
	}
	done := b.finish(b.get(c.RunID), task.RunCompleted)
	if done.Error != "" || done.Attempt != 3 || done.LeaseGeneration != 3 {
		t.Errorf("completed after retries: error %q attempt %d generation %d", done.Error, done.Attempt, done.LeaseGeneration)
	}

	as := b.attempts(r.RunID)
	type row struct {
		N      int
		Status task.AttemptStatus
		Reason task.AttemptReason
		Worker string
		Token  string
		Error  string
		Delay  *float64
	}
	var got []row
	for _, a := range as {
		got = append(got, row{a.AttemptNumber, a.Status, a.Reason, a.WorkerID, a.LeaseToken, a.Error, a.RetryDelaySeconds})
		if a.FinishedAt == nil || a.RunID != r.RunID {
			t.Errorf("attempt %d: finished %v run %s", a.AttemptNumber, a.FinishedAt, a.RunID)
		}
	}
	want := []row{
		{1, task.AttemptFailed, task.AttemptInitial, "w1", tokens[0], "boom 1", new(0.0)},
		{2, task.AttemptTimeout, task.AttemptRetry, "w1", tokens[1], "boom 2", new(0.0)},
		{3, task.AttemptCompleted, task.AttemptRecovery, "w2", tokens[2], "", nil},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("attempts by number (-want +got):\n%s", diff)
	}
	if as[2].AttemptID != "attempt_third" {
		t.Errorf("attempt id %q", as[2].AttemptID)
	}
	_, err := s.AttemptList(ctx, &task.AttemptListParams{RunID: "none"})
	wantNotFound(t, "attempts of a missing run", err, "run")
}

func testDuplicateIDs(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", interval(60, "")))
	b.manual("job", "run_x")
	_, err := s.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "job", RunID: "run_x"})
	wantErr(t, "duplicate manual run id", err, task.ErrAlreadyExists)
	_, err = s.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "job", RunID: "../run"})
	wantField(t, "unsafe run id", err, "run_id")

	b.clock.Advance(time.Minute)
	before := b.state("job")
	occ := b.due(0)[0].Plan.Occurrences[0]
	_, err = s.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{TaskID: "job", ScheduleRevision: 1, Occurrence: occ, RunID: "run_x"})
	wantErr(t, "dispatch under a taken run id", err, task.ErrAlreadyExists)
	if diff := cmp.Diff(before, b.state("job")); diff != "" {
		t.Errorf("refused dispatch advanced the schedule:\n%s", diff)
	}

	b.manual("job", "run_y")
	b.start(b.claim("w1"))
	second := b.claim("w1")
	second, _ = s.RunStart(ctx, &task.RunStartParams{RunID: second.RunID, WorkerID: "w1", LeaseToken: second.LeaseToken})
	if _, err := s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: second.RunID, WorkerID: "w1", LeaseToken: second.LeaseToken, AttemptID: "attempt_dup"}); err != nil {
		t.Fatal(err)
	}
	b.finish(b.get(second.RunID), task.RunFailed)
	b.manual("job", "run_z")
	third := b.claim("w1")
	third, _ = s.RunStart(ctx, &task.RunStartParams{RunID: third.RunID, WorkerID: "w1", LeaseToken: third.LeaseToken})
	_, err = s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: third.RunID, WorkerID: "w1", LeaseToken: third.LeaseToken, AttemptID: "attempt_dup"})
	wantErr(t, "duplicate attempt id", err, task.ErrAlreadyExists)
	if got := b.get(third.RunID); got.Attempt != 0 {
		t.Errorf("refused attempt counted: attempt %d", got.Attempt)
	}
	_, err = s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: third.RunID, WorkerID: "w1", LeaseToken: third.LeaseToken, AttemptID: "a/b"})
	wantField(t, "unsafe attempt id", err, "attempt_id")
}

func testLeaseTokenRequired(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", retries(1, 0)))
	b.manual("job", "")
	c := b.claim("w1")
	before := b.get(c.RunID)
	id := c.RunID
	writes := map[string]func() error{
		"renew": func() error {
			_, err := s.LeaseRenew(ctx, &task.LeaseRenewParams{RunID: id, WorkerID: "w1"})
			return err
		},
		"start": func() error { _, err := s.RunStart(ctx, &task.RunStartParams{RunID: id, WorkerID: "w1"}); return err },
		"heartbeat": func() error {
			_, err := s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: id, WorkerID: "w1"})
			return err
		},
		"attempt": func() error {
			_, err := s.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: id, WorkerID: "w1"})
			return err
		},
		"finish": func() error {
			_, err := s.RunFinish(ctx, &task.RunFinishParams{RunID: id, WorkerID: "w1", Status: task.RunFailed})
			return err
		},
		"retry": func() error { _, err := s.RunRetry(ctx, &task.RunRetryParams{RunID: id, WorkerID: "w1"}); return err },
		"release": func() error {
			_, err := s.RunRelease(ctx, &task.RunReleaseParams{RunID: id, WorkerID: "w1"})
			return err
		},
	}
	for _, name := range slices.Sorted(maps.Keys(writes)) {
		wantErr(t, name+" without a token", writes[name](), task.ErrLeaseLost)
	}
	if diff := cmp.Diff(before, b.get(id)); diff != "" {
		t.Errorf("tokenless writes changed the run:\n%s", diff)
	}
}

func testExpiredLease(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job"))
	b.manual("job", "")
	c, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", LeaseDuration: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, _ = b.start(c)
	now := b.clock.Advance(5 * time.Second)
	rn, err := s.LeaseRenew(ctx, &task.LeaseRenewParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, LeaseDuration: 10 * time.Second})
	if err != nil || !timeEq(rn.LeaseExpiresAt, now.Add(10*time.Second)) {
		t.Fatalf("renew: %v, %+v", err, rn)
	}
	b.clock.Advance(9 * time.Second)
	if _, err := s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, LeaseDuration: 10 * time.Second}); err != nil {
		t.Fatalf("heartbeat before expiry: %v", err)
	}
	b.clock.Advance(10 * time.Second) // exactly at expiry
	id, w, tok := c.RunID, "w1", c.LeaseToken
	_, err = s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: id, WorkerID: w, LeaseToken: tok})
	wantErr(t, "heartbeat on an expired lease", err, task.ErrLeaseLost)
	_, err = s.LeaseRenew(ctx, &task.LeaseRenewParams{RunID: id, WorkerID: w, LeaseToken: tok})
	wantErr(t, "renew an expired lease", err, task.ErrLeaseLost)
	_, err = s.RunFinish(ctx, &task.RunFinishParams{RunID: id, WorkerID: w, LeaseToken: tok, Status: task.RunCompleted})
	wantErr(t, "complete on an expired lease", err, task.ErrLeaseLost)
	_, err = s.RunRetry(ctx, &task.RunRetryParams{RunID: id, WorkerID: w, LeaseToken: tok})
	wantErr(t, "retry on an expired lease", err, task.ErrLeaseLost)
	if got := b.get(id); got.Status != task.RunRunning || got.LeaseToken != tok {
		t.Errorf("stale writes changed the run: %s", got.Status)
	}
	b.noClaim("w2")

	recs, err := s.RunRecoverExpired(ctx, &task.RunRecoverExpiredParams{})
	if err != nil || len(recs) != 1 || recs[0].Outcome != task.RecoveryFailed || recs[0].Run.Error != "lease expired" {
		t.Fatalf("recovery: %v, %+v", err, recs)
	}
	_, err = s.RunFinish(ctx, &task.RunFinishParams{RunID: id, WorkerID: w, LeaseToken: tok, Status: task.RunCompleted})
	wantErr(t, "complete after recovery", err, task.ErrLeaseLost)
}

func testRetryDelay(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", retries(1, 30)))
	b.manual("job", "")
	c, _ := b.start(b.claim("w1"))

	_, err := s.RunRetry(ctx, &task.RunRetryParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Delay: -time.Second})
	wantErr(t, "negative delay", err, task.ErrInvalid)
	now := b.clock.Advance(time.Second)
	r, err := s.RunRetry(ctx, &task.RunRetryParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Delay: 30 * time.Second, Error: "boom"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != task.RunQueued || !r.QueuedAt.Equal(now.Add(30*time.Second)) || r.LeaseOwner != "" || r.LeaseToken != "" ||
		r.LeaseExpiresAt != nil || r.LeaseGeneration != 1 || r.Error != "boom" || r.Attempt != 1 || r.FinishedAt != nil {
		t.Errorf("requeued run %+v", r)
	}
	a := b.attempts(r.RunID)[0]
	if a.Status != task.AttemptFailed || a.Error != "boom" || a.RetryDelaySeconds == nil || *a.RetryDelaySeconds != 30 || !timeEq(a.FinishedAt, now) {
		t.Errorf("retried attempt %+v", a)
	}
	_, err = s.RunFinish(ctx, &task.RunFinishParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken, Status: task.RunCompleted})
	wantErr(t, "old holder after retry", err, task.ErrLeaseLost)

	b.noClaim("w2")
	b.clock.Advance(29 * time.Second)
	b.noClaim("w2")
	b.clock.Advance(time.Second)
	c2 := b.claim("w2")
	if c2.RunID != r.RunID || c2.LeaseGeneration != 2 || c2.LeaseToken == c.LeaseToken {
		t.Errorf("claim after the delay: %+v", c2)
	}
	c2, a2 := b.start(c2)
	if a2.AttemptNumber != 2 || a2.Reason != task.AttemptRetry {
		t.Errorf("second attempt %+v", a2)
	}
	_, err = s.RunRetry(ctx, &task.RunRetryParams{RunID: c2.RunID, WorkerID: "w2", LeaseToken: c2.LeaseToken})
	wantErr(t, "retry with no attempt left", err, task.ErrInvalidTransition)
	if done := b.finish(c2, task.RunCompleted); done.Error != "" {
		t.Errorf("a success kept the failure's error %q", done.Error)
	}

	b.manual("job", "run_claimed")
	cl := b.claim("w1")
	_, err = s.RunRetry(ctx, &task.RunRetryParams{RunID: cl.RunID, WorkerID: "w1", LeaseToken: cl.LeaseToken})
	wantErr(t, "retry an unstarted run", err, task.ErrInvalidTransition)
}

func testRelease(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job"))
	r := b.manual("job", "")
	c := b.claim("w1")
	b.clock.Advance(time.Second)
	rel, err := s.RunRelease(ctx, &task.RunReleaseParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	if err != nil {
		t.Fatal(err)
	}
	if rel.Status != task.RunQueued || rel.LeaseToken != "" || rel.LeaseOwner != "" || rel.LeaseExpiresAt != nil || !rel.QueuedAt.Equal(r.QueuedAt) || rel.LeaseGeneration != 1 {
		t.Errorf("released run %+v", rel)
	}
	_, err = s.RunStart(ctx, &task.RunStartParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	wantErr(t, "start after release", err, task.ErrLeaseLost)
	c2 := b.claim("w2")
	if c2.LeaseGeneration != 2 || c2.LeaseToken == c.LeaseToken || c2.LeaseOwner != "w2" {
		t.Errorf("reclaimed %+v", c2)
	}
	c2, _ = b.start(c2)
	_, err = s.RunRelease(ctx, &task.RunReleaseParams{RunID: c2.RunID, WorkerID: "w2", LeaseToken: c2.LeaseToken})
	wantErr(t, "release a running run", err, task.ErrInvalidTransition)
}

func testCancellation(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", retries(1, 60)))
	cancel := func(id string) *task.Run {
		t.Helper()
		r, err := s.RunCancel(ctx, &task.RunCancelParams{RunID: id})
		if err != nil {
			t.Fatalf("cancel %s: %v", id, err)
		}
		return r
	}

	// Queued: cancelled at once; idempotent.
	q := b.manual("job", "run_queued")
	now := b.clock.Advance(time.Second)
	got := cancel(q.RunID)
	if got.Status != task.RunCancelled || !timeEq(got.CancelRequestedAt, now) || !timeEq(got.FinishedAt, now) {
		t.Errorf("cancelled queued run %+v", got)
	}
	b.clock.Advance(time.Second)
	if again := cancel(q.RunID); again.Status != task.RunCancelled || !timeEq(again.CancelRequestedAt, now) {
		t.Errorf("second cancel %+v", again)
	}
	b.noClaim("w1")

	// Waiting out a retry delay: cancelled at once.
	b.manual("job", "run_delayed")
	d, _ := b.start(b.claim("w1"))
	if _, err := s.RunRetry(ctx, &task.RunRetryParams{RunID: d.RunID, WorkerID: "w1", LeaseToken: d.LeaseToken, Delay: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if got := cancel(d.RunID); got.Status != task.RunCancelled {
		t.Errorf("cancel of a delayed retry: %s", got.Status)
	}

	// Claimed by another worker: only the intent is stored; the holder
	// cannot start or release it, and finishes it cancelled.
	b.manual("job", "run_claimed")
	c := b.claim("w1")
	if got := cancel(c.RunID); got.Status != task.RunClaimed || got.CancelRequestedAt == nil || got.LeaseToken != c.LeaseToken {
		t.Errorf("cancel of a claimed run %+v", got)
	}
	_, err := s.RunStart(ctx, &task.RunStartParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	wantErr(t, "start after cancel", err, task.ErrCancelled)
	_, err = s.RunRelease(ctx, &task.RunReleaseParams{RunID: c.RunID, WorkerID: "w1", LeaseToken: c.LeaseToken})
	wantErr(t, "release after cancel", err, task.ErrCancelled)
	if got := b.finish(c, task.RunCancelled); got.Status != task.RunCancelled {
		t.Errorf("finish claimed as cancelled: %s", got.Status)
	}

	// Running: progress is refused; the holder ends it cancelled and the
	// attempt with it.
	b.manual("job", "run_running")
	r, _ := b.start(b.claim("w1"))
	cancel(r.RunID)
	_, err = s.RunRetry(ctx, &task.RunRetryParams{RunID: r.RunID, WorkerID: "w1", LeaseToken: r.LeaseToken, Error: "boom"})
	wantErr(t, "retry after cancel", err, task.ErrCancelled)
	_, err = s.RunFinish(ctx, &task.RunFinishParams{RunID: r.RunID, WorkerID: "w1", LeaseToken: r.LeaseToken, Status: task.RunCompleted})
	wantErr(t, "complete after cancel", err, task.ErrCancelled)
	if got := b.get(r.RunID); got.Status != task.RunRunning || got.LeaseToken != r.LeaseToken {
		t.Errorf("refused progress changed the run: %s", got.Status)
	}
	if got := b.finish(r, task.RunCancelled); got.Status != task.RunCancelled {
		t.Errorf("finish running as cancelled: %s", got.Status)
	}
	if as := b.attempts(r.RunID); as[0].Status != task.AttemptCancelled {
		t.Errorf("attempt %s", as[0].Status)
	}

	// Terminal: only the request is recorded.
	b.manual("job", "run_done")
	dn, _ := b.start(b.claim("w1"))
	b.finish(dn, task.RunCompleted)
	if got := cancel(dn.RunID); got.Status != task.RunCompleted || got.CancelRequestedAt == nil {
		t.Errorf("cancel of a completed run %+v", got)
	}

	_, err = s.RunCancel(ctx, &task.RunCancelParams{RunID: "none"})
	wantNotFound(t, "cancel a missing run", err, "run")
}

func testRecover(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("retry", retries(1, 30)))
	b.task(newTask("noretry"))
	b.task(newTask("gone"))
	claim := func(taskID, runID string, lease time.Duration) *task.Run {
		t.Helper()
		b.manual(taskID, runID)
		c, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", RunID: runID, LeaseDuration: lease})
		if err != nil || c == nil {
			t.Fatalf("claim %s: %v", runID, err)
		}
		return c
	}
	r1, _ := b.start(claim("retry", "run_1", 10*time.Second))
	r2, _ := b.start(claim("noretry", "run_2", 10*time.Second))
	r3 := claim("noretry", "run_3", 10*time.Second)
	r4, _ := b.start(claim("noretry", "run_4", 10*time.Second))
	if _, err := s.RunCancel(ctx, &task.RunCancelParams{RunID: r4.RunID}); err != nil {
		t.Fatal(err)
	}
	b.start(claim("gone", "run_5", 10*time.Second))
	if err := s.TaskDelete(ctx, &task.TaskDeleteParams{TaskID: "gone"}); err != nil {
		t.Fatal(err)
	}
	claim("noretry", "run_6", time.Minute)

	if recs, err := s.RunRecoverExpired(ctx, &task.RunRecoverExpiredParams{}); err != nil || len(recs) != 0 {
		t.Errorf("recovery before expiry: %v, %d", err, len(recs))
	}
	now := b.clock.Advance(10 * time.Second)
	recs, err := s.RunRecoverExpired(ctx, &task.RunRecoverExpiredParams{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Prev    task.RunStatus
		Outcome task.RecoveryOutcome
		Status  task.RunStatus
		Error   string
		Gen     int64
	}
	got := map[string]row{}
	for _, rec := range recs {
		r := rec.Run
		got[r.RunID] = row{rec.PreviousStatus, rec.Outcome, r.Status, r.Error, r.LeaseGeneration}
		if r.LeaseToken != "" || r.LeaseOwner != "" || r.LeaseExpiresAt != nil {
			t.Errorf("%s: lease not cleared", r.RunID)
		}
		if diff := cmp.Diff(r, b.get(r.RunID)); diff != "" {
			t.Errorf("%s: stored differs from returned:\n%s", r.RunID, diff)
		}
	}
	want := map[string]row{
		"run_1": {task.RunRunning, task.RecoveryRequeued, task.RunQueued, "lease expired", 2},
		"run_2": {task.RunRunning, task.RecoveryFailed, task.RunFailed, "lease expired", 2},
		"run_3": {task.RunClaimed, task.RecoveryRequeued, task.RunQueued, "", 2},
		"run_4": {task.RunRunning, task.RecoveryCancelled, task.RunCancelled, "", 2},
		"run_5": {task.RunRunning, task.RecoveryFailed, task.RunFailed, "task missing", 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("recoveries (-want +got):\n%s", diff)
	}
	if r := b.get("run_1"); !r.QueuedAt.Equal(now) {
		t.Errorf("requeued running run queued at %v, want now (no delay)", r.QueuedAt)
	}
	if r := b.get("run_3"); !r.QueuedAt.Equal(r3.QueuedAt) {
		t.Errorf("requeued claimed run lost its place: %v", r.QueuedAt)
	}
	if r := b.get("run_2"); !timeEq(r.FinishedAt, now) {
		t.Errorf("failed run finished %v", r.FinishedAt)
	}
	for _, id := range []string{"run_1", "run_2", "run_4", "run_5"} {
		a := b.attempts(id)[0]
		if a.Status != task.AttemptFailed || a.Reason != task.AttemptLeaseExpired || a.Error != "lease expired" || !timeEq(a.FinishedAt, now) {
			t.Errorf("%s: attempt %+v", id, a)
		}
	}
	if r := b.get("run_6"); r.Status != task.RunClaimed || r.LeaseGeneration != 1 {
		t.Errorf("unexpired run touched: %+v", r)
	}
	if recs, _ := s.RunRecoverExpired(ctx, &task.RunRecoverExpiredParams{}); len(recs) != 0 {
		t.Errorf("second recovery: %d", len(recs))
	}

	_, err = s.RunFinish(ctx, &task.RunFinishParams{RunID: r1.RunID, WorkerID: "w1", LeaseToken: r1.LeaseToken, Status: task.RunCompleted})
	wantErr(t, "stale holder after recovery", err, task.ErrLeaseLost)
	_, err = s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: r2.RunID, WorkerID: "w1", LeaseToken: r2.LeaseToken})
	wantErr(t, "stale heartbeat after recovery", err, task.ErrLeaseLost)

	// The requeued runs are claimed again under new leases, in order.
	c := b.claim("w2")
	if c.RunID != "run_3" || c.LeaseGeneration != 3 {
		t.Errorf("first reclaim %s generation %d", c.RunID, c.LeaseGeneration)
	}
	c = b.claim("w2")
	if c.RunID != "run_1" || c.LeaseGeneration != 3 || c.LeaseToken == r1.LeaseToken {
		t.Errorf("second reclaim %+v", c)
	}
	if _, a := b.start(c); a.AttemptNumber != 2 {
		t.Errorf("attempt after recovery %d", a.AttemptNumber)
	}

	// The limit bounds one call.
	for i := range 3 {
		claim("noretry", fmt.Sprint("run_lim", i), time.Second)
	}
	b.clock.Advance(time.Minute)
	if recs, _ := s.RunRecoverExpired(ctx, &task.RunRecoverExpiredParams{Limit: 2}); len(recs) != 2 {
		t.Errorf("recovered %d with limit 2", len(recs))
	}
}

func testQueueNextSteal(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("job", retries(1, 0), func(tk *task.Task) { tk.OverlapPolicy = task.OverlapQueueNext }))
	b.manual("job", "run_a")
	b.clock.Advance(time.Second)
	b.manual("job", "run_b")
	first, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", LeaseDuration: 10 * time.Second})
	if err != nil || runID(first) != "run_a" {
		t.Fatalf("first claim %v, %v", runID(first), err)
	}
	first, _ = b.start(first)
	b.clock.Advance(10 * time.Second)
	// The expired holder still blocks its successor until recovered.
	b.noClaim("w2")
	recs, err := s.RunRecoverExpired(ctx, &task.RunRecoverExpiredParams{})
	if err != nil || len(recs) != 1 {
		t.Fatalf("recovery: %v, %d", err, len(recs))
	}
	stolen := recs[0].Run
	if stolen.RunID != "run_a" || stolen.LeaseGeneration != first.LeaseGeneration+1 || stolen.Status != task.RunQueued {
		t.Errorf("stolen run %+v", stolen)
	}
	// run_b is older in the queue but still waits for run_a, which was
	// created first.
	next := b.claim("w2")
	if next.RunID != "run_a" || next.LeaseToken == first.LeaseToken || next.LeaseGeneration != first.LeaseGeneration+2 || next.LeaseOwner != "w2" {
		t.Errorf("claim after the steal %+v", next)
	}
	b.noClaim("w3")
	_, err = s.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: first.RunID, WorkerID: "w1", LeaseToken: first.LeaseToken})
	wantErr(t, "old holder after the steal", err, task.ErrLeaseLost)
	next, _ = b.start(next)
	b.finish(next, task.RunCompleted)
	if c := b.claim("w3"); c.RunID != "run_b" {
		t.Errorf("successor claim %s", c.RunID)
	}
}

func testRunList(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	b.task(newTask("a"))
	b.task(newTask("b", func(tk *task.Task) { tk.AgentID = "other" }))
	b.manual("b", "run_b1")
	b.manual("a", "run_a1")
	b.clock.Advance(time.Second)
	b.manual("a", "run_a2")
	b.clock.Advance(time.Second)
	b.manual("a", "run_a3")
	b.clock.Advance(time.Second)
	b.manual("b", "run_b2")
	c, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: "w1", RunID: "run_a2"})
	if err != nil || c == nil {
		t.Fatal(err)
	}
	c, _ = b.start(c)
	b.finish(c, task.RunCompleted)

	list := func(p task.RunListParams) string {
		t.Helper()
		runs, err := s.RunList(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(runIDs(runs))
	}
	tests := []struct {
		p    task.RunListParams
		want string
	}{
		{task.RunListParams{}, "[run_a1 run_b1 run_a2 run_a3 run_b2]"},
		{task.RunListParams{TaskID: "a"}, "[run_a1 run_a2 run_a3]"},
		{task.RunListParams{AgentID: "other"}, "[run_b1 run_b2]"},
		{task.RunListParams{Statuses: []task.RunStatus{task.RunCompleted}}, "[run_a2]"},
		{task.RunListParams{TaskID: "a", Statuses: []task.RunStatus{task.RunQueued}}, "[run_a1 run_a3]"},
		{task.RunListParams{TaskID: "none"}, "[]"},
		{task.RunListParams{Limit: 2}, "[run_a1 run_b1]"},
	}
	for _, tt := range tests {
		if got := list(tt.p); got != tt.want {
			t.Errorf("RunList(%+v) = %s, want %s", tt.p, got, tt.want)
		}
	}
	var pages []string
	var after *task.RunCursor
	for range 5 {
		runs, err := s.RunList(ctx, &task.RunListParams{Limit: 2, After: after})
		if err != nil {
			t.Fatal(err)
		}
		if len(runs) == 0 {
			break
		}
		pages = append(pages, fmt.Sprint(runIDs(runs)))
		after = runs[len(runs)-1].Cursor()
	}
	if got := strings.Join(pages, " "); got != "[run_a1 run_b1] [run_a2 run_a3] [run_b2]" {
		t.Errorf("pages %s", got)
	}
}

func testStatusCounts(b *bundle) {
	t, s, ctx := b.t, b.s, b.ctx
	counts := func(p task.RunCountByStatusParams) map[task.RunStatus]int {
		t.Helper()
		m, err := s.RunCountByStatus(ctx, &p)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	if diff := cmp.Diff(task.NewStatusCounts(), counts(task.RunCountByStatusParams{})); diff != "" {
		t.Errorf("empty store counts (-want +got):\n%s", diff)
	}
	b.task(newTask("job"))
	b.task(newTask("solo", func(tk *task.Task) { tk.OverlapPolicy = task.OverlapSkipIfRunning; tk.AgentID = "other" }))
	b.manual("job", "run_1")
	b.manual("job", "run_2")
	b.manual("job", "run_3")
	b.manual("solo", "run_4")
	b.manual("solo", "run_5") // skipped
	b.claim("w1")             // run_1
	b.finish(b.claim("w1"), task.RunFailed)
	if _, err := s.RunCancel(ctx, &task.RunCancelParams{RunID: "run_3"}); err != nil {
		t.Fatal(err)
	}
	want := task.NewStatusCounts()
	want[task.RunClaimed], want[task.RunFailed], want[task.RunCancelled], want[task.RunQueued], want[task.RunSkipped] = 1, 1, 1, 1, 1
	if diff := cmp.Diff(want, counts(task.RunCountByStatusParams{})); diff != "" {
		t.Errorf("all counts (-want +got):\n%s", diff)
	}
	want = task.NewStatusCounts()
	want[task.RunClaimed], want[task.RunFailed], want[task.RunCancelled] = 1, 1, 1
	if diff := cmp.Diff(want, counts(task.RunCountByStatusParams{TaskID: "job"})); diff != "" {
		t.Errorf("task counts (-want +got):\n%s", diff)
	}
	want = task.NewStatusCounts()
	want[task.RunQueued], want[task.RunSkipped] = 1, 1
	if diff := cmp.Diff(want, counts(task.RunCountByStatusParams{AgentID: "other"})); diff != "" {
		t.Errorf("agent counts (-want +got):\n%s", diff)
	}
}
