package task

import (
	"cmp"
	"crypto/subtle"
	"fmt"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// This file holds the store rules. A backend loads the records a method
// needs inside its atomic section, calls the matching Prepare or Apply
// function with its clock's now, and writes back what it returns or
// changed. Apply functions change nothing when they return an error.

// PrepareAgentUpsert returns the agent spec [Store.AgentUpsert] writes,
// given the stored one (nil when none).
func PrepareAgentUpsert(p *AgentUpsertParams, existing *AgentSpec, now time.Time) (*AgentSpec, error) {
	a := p.Spec.WithDefaults()
	if err := a.Validate(); err != nil {
		return nil, err
	}
	now = normTime(now)
	a.CreatedAt = now
	if existing != nil {
		if !p.Replace {
			return nil, &AlreadyExistsError{Kind: "agent", ID: a.AgentID}
		}
		a.CreatedAt = existing.CreatedAt
	}
	a.UpdatedAt = now
	return a.Clone(), nil
}

// CheckAgentDelete reports whether [Store.AgentDelete] may delete an agent
// that has activeRuns active runs.
func CheckAgentDelete(p *AgentDeleteParams, activeRuns int) error {
	if activeRuns > 0 && !p.Force {
		return fmt.Errorf("delete agent %s: %w", p.AgentID, ErrAgentBusy)
	}
	return nil
}

// PrepareTaskCreate returns the task and schedule state [Store.TaskCreate]
// writes, given whether the agent exists and the stored task and state
// (nil when none).
func PrepareTaskCreate(p *TaskCreateParams, agentExists bool, existing *Task, existingState *ScheduleState, now time.Time) (*Task, *ScheduleState, error) {
	t := p.Task.WithDefaults()
	if err := t.Validate(); err != nil {
		return nil, nil, err
	}
	if !agentExists {
		return nil, nil, &NotFoundError{Kind: "agent", ID: t.AgentID}
	}
	now = normTime(now)
	t.CreatedAt, t.UpdatedAt = now, now
	if existing == nil || existingState == nil {
		if existing != nil && !p.Replace {
			return nil, nil, &AlreadyExistsError{Kind: "task", ID: t.TaskID}
		}
		st, err := NewScheduleState(&t, now)
		if err != nil {
			return nil, nil, err
		}
		return t.Clone(), &st, nil
	}
	if !p.Replace {
		return nil, nil, &AlreadyExistsError{Kind: "task", ID: t.TaskID}
	}
	t.CreatedAt = existing.CreatedAt
	st := existingState.Clone()
	st.Paused, st.PausedReason = false, ""
	st.UpdatedAt = now
	if !t.Schedule.Equal(existing.Schedule) {
		st.ScheduleRevision++
		if err := st.restart(&t, now); err != nil {
			return nil, nil, err
		}
	}
	return t.Clone(), st, nil
}

// PrepareTaskUpdate returns the task and schedule state [Store.TaskUpdate]
// writes, given the stored ones.
func PrepareTaskUpdate(t *Task, st *ScheduleState, p *TaskUpdateParams, now time.Time) (*Task, *ScheduleState, error) {
	u := t.Clone()
	if p.Query != nil {
		u.Query = *p.Query
	}
	if p.Schedule != nil {
		u.Schedule = p.Schedule.clone()
	}
	if p.Enabled != nil {
		u.Enabled = *p.Enabled
	}
	if p.TimeoutSeconds != nil {
		u.TimeoutSeconds = clonePtr(p.TimeoutSeconds)
		if *p.TimeoutSeconds == 0 {
			u.TimeoutSeconds = nil
		}
	}
	if p.RetryPolicy != nil {
		u.RetryPolicy = *p.RetryPolicy
	}
	if p.OverlapPolicy != nil {
		u.OverlapPolicy = *p.OverlapPolicy
	}
	if p.SessionPolicy != nil {
		u.SessionPolicy = *p.SessionPolicy
	}
	if p.WorkspacePolicy != nil {
		u.WorkspacePolicy = *p.WorkspacePolicy
	}
	if p.Metadata != nil {
		u.Metadata = p.Metadata
		if len(p.Metadata) == 0 {
			u.Metadata = nil
		}
	}
	v := u.WithDefaults()
	if err := v.Validate(); err != nil {
		return nil, nil, err
	}
	now = normTime(now)
	v.UpdatedAt = now
	ns := st.Clone()
	if !v.Schedule.Equal(t.Schedule) {
		ns.ScheduleRevision++
		ns.UpdatedAt = now
		if err := ns.restart(&v, now); err != nil {
			return nil, nil, err
		}
	}
	return v.Clone(), ns, nil
}

// PrepareScheduleSetPaused returns the schedule state
// [Store.ScheduleSetPaused] writes.
func PrepareScheduleSetPaused(st *ScheduleState, p *ScheduleSetPausedParams, now time.Time) *ScheduleState {
	ns := st.Clone()
	ns.Paused, ns.PausedReason = p.Paused, ""
	if p.Paused {
		ns.PausedReason = p.Reason
	}
	ns.UpdatedAt = normTime(now)
	return ns
}

// ScheduleDue reports whether [Store.ScheduleDueList] lists task t with
// state st at now.
func ScheduleDue(t *Task, st *ScheduleState, now time.Time) bool {
	return t.Enabled && !st.Paused && st.NextDueAt != nil && !st.NextDueAt.After(normTime(now))
}

// CompareDue orders due schedules by NextDueAt, then TaskID.
func CompareDue(a, b *ScheduleState) int {
	var at, bt time.Time
	if a.NextDueAt != nil {
		at = *a.NextDueAt
	}
	if b.NextDueAt != nil {
		bt = *b.NextDueAt
	}
	return cmp.Or(at.Compare(bt), cmp.Compare(a.TaskID, b.TaskID))
}

// PrepareScheduleAdvance returns the schedule state [Store.ScheduleAdvance]
// writes; it is st itself when the cursor would not move forward.
func PrepareScheduleAdvance(t *Task, st *ScheduleState, p *ScheduleAdvanceParams, now time.Time) (*ScheduleState, error) {
	ns := st.Clone()
	if _, err := ns.applyAdvance(t, p.ScheduleRevision, p.Next, now); err != nil {
		return nil, err
	}
	return ns, nil
}

// PrepareDispatch returns what [Store.RunDispatchScheduled] writes for an
// occurrence not yet recorded: the new run, the task's active runs whose
// cancellation the overlap policy requested (changed in place), and the
// advanced schedule state. active are the task's active runs. The backend
// checks first that the occurrence and the run id are not yet recorded.
func PrepareDispatch(t *Task, st *ScheduleState, p *RunDispatchScheduledParams, active []*Run, now time.Time) (*RunCreateResult, *ScheduleState, error) {
	switch {
	case !t.Enabled:
		return nil, nil, fmt.Errorf("dispatch task %s: %w", t.TaskID, ErrTaskDisabled)
	case st.Paused:
		return nil, nil, fmt.Errorf("dispatch task %s: %w", t.TaskID, ErrSchedulePaused)
	case p.ScheduleRevision != st.ScheduleRevision:
		return nil, nil, fmt.Errorf("dispatch task %s revision %d, current %d: %w", t.TaskID, p.ScheduleRevision, st.ScheduleRevision, ErrStaleRevision)
	}
	occ := p.Occurrence
	if err := CheckOccurrence(t, p.ScheduleRevision, &occ); err != nil {
		return nil, nil, err
	}
	runID, err := runIDOrNew(p.RunID)
	if err != nil {
		return nil, nil, err
	}
	now = normTime(now)
	r := newRun(t, runID, t.Query, TriggerType(t.Schedule.Type), now)
	r.DueAt = timePtr(normTime(occ.DueAt))
	r.OccurrenceID = occ.ID
	r.TriggerMetadata = map[string]any{
		"schedule_revision": p.ScheduleRevision,
		"scheduled_at":      isoUTC(occ.ScheduledAt),
	}
	r.Metadata = CloneMetadata(p.Metadata)
	res := &RunCreateResult{Run: r, Created: true, Cancelled: applyOverlap(r, active, now)}
	ns := st.Clone()
	if _, err := ns.applyAdvance(t, p.ScheduleRevision, occ.Next, now); err != nil {
		return nil, nil, err
	}
	ns.LastDueAt = timePtr(normTime(occ.DueAt))
	ns.LastDispatchedAt = timePtr(now)
	ns.LastOccurrenceID = occ.ID
	ns.UpdatedAt = now
	return res, ns, nil
}

// PrepareManualRun returns what [Store.RunCreateManual] writes: the new
// run and the task's active runs whose cancellation the overlap policy
// requested (changed in place). active are the task's active runs. The
// backend checks first that the run id is not yet recorded.
func PrepareManualRun(t *Task, p *RunCreateManualParams, active []*Run, now time.Time) (*RunCreateResult, error) {
	if !t.Enabled {
		return nil, fmt.Errorf("run task %s: %w", t.TaskID, ErrTaskDisabled)
	}
	runID, err := runIDOrNew(p.RunID)
	if err != nil {
		return nil, err
	}
	query := t.Query
	if p.Query != "" {
		query = p.Query
	}
	now = normTime(now)
	r := newRun(t, runID, query, TriggerManual, now)
	r.TriggerMetadata = CloneMetadata(p.TriggerMetadata)
	r.Metadata = CloneMetadata(p.Metadata)
	return &RunCreateResult{Run: r, Created: true, Cancelled: applyOverlap(r, active, now)}, nil
}

func runIDOrNew(id string) (string, error) {
	if id == "" {
		return NewRunID(), nil
	}
	return id, ValidateID("run_id", id)
}

func newRun(t *Task, runID, query string, trigger TriggerType, now time.Time) *Run {
	return &Run{
		RunID:         runID,
		TaskID:        t.TaskID,
		AgentID:       t.AgentID,
		Status:        RunQueued,
		MaxAttempts:   t.RetryPolicy.MaxAttempts(),
		QuerySnapshot: query,
		TriggerType:   trigger,
		TriggeredAt:   now,
		OverlapPolicy: t.OverlapPolicy,
		SessionID:     t.SessionFor(runID),
		WorkspacePath: t.WorkspacePathFor(runID),
		QueuedAt:      now,
	}
}

// applyOverlap applies r's overlap policy against the task's active runs
// and returns those whose cancellation it requested.
func applyOverlap(r *Run, active []*Run, now time.Time) []*Run {
	var others []*Run
	for _, a := range active {
		if a.RunID != r.RunID && a.Status.Active() {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		return nil
	}
	switch r.OverlapPolicy {
	case OverlapSkipIfRunning:
		r.finish(RunSkipped, now)
	case OverlapCancelPrevious:
		slices.SortFunc(others, CompareRunOrder)
		var cancelled []*Run
		for _, a := range others {
			if ApplyCancel(a, now) {
				cancelled = append(cancelled, a)
			}
		}
		return cancelled
	}
	return nil
}

// Claimable reports whether r may be claimed at now, queue_next aside: it
// is queued, its QueuedAt has come and its cancellation was not requested.
func Claimable(r *Run, now time.Time) bool {
	return r.Status == RunQueued && r.CancelRequestedAt == nil && !r.QueuedAt.After(normTime(now))
}

// CompareRunOrder orders runs by QueuedAt, then RunID: claim order and
// list order.
func CompareRunOrder(a, b *Run) int {
	return cmp.Or(a.QueuedAt.Compare(b.QueuedAt), cmp.Compare(a.RunID, b.RunID))
}

// After reports whether r comes after c in [CompareRunOrder]'s order.
func (c *RunCursor) After(r *Run) bool {
	return cmp.Or(r.QueuedAt.Compare(c.QueuedAt), cmp.Compare(r.RunID, c.RunID)) > 0
}

// Blocked reports whether r, created under [OverlapQueueNext], must wait
// for an earlier unfinished run among others, its task's runs. Earlier
// means created first: by TriggeredAt, then RunID.
func Blocked(r *Run, others []*Run) bool {
	if r.OverlapPolicy != OverlapQueueNext {
		return false
	}
	for _, o := range others {
		if o.RunID == r.RunID || o.TaskID != r.TaskID || !o.Status.Active() {
			continue
		}
		if cmp.Or(o.TriggeredAt.Compare(r.TriggeredAt), cmp.Compare(o.RunID, r.RunID)) < 0 {
			return true
		}
	}
	return false
}

// Validate checks p; a backend calls it before looking for a run, so a
// bad claim fails even when nothing is claimable.
func (p *RunClaimParams) Validate() error {
	if err := ValidateID("worker_id", p.WorkerID); err != nil {
		return err
	}
	_, err := leaseDuration(p.LeaseDuration)
	return err
}

// ApplyClaim claims r for p.WorkerID under a new lease.
func ApplyClaim(r *Run, p *RunClaimParams, now time.Time) error {
	if err := p.Validate(); err != nil {
		return err
	}
	d, _ := leaseDuration(p.LeaseDuration)
	if !CanTransition(r.Status, RunClaimed) {
		return fmt.Errorf("claim run %s: %w", r.RunID, &TransitionError{From: r.Status, To: RunClaimed})
	}
	now = normTime(now)
	r.Status = RunClaimed
	r.LeaseOwner = p.WorkerID
	r.LeaseToken = NewLeaseToken()
	r.LeaseGeneration++
	r.LeaseExpiresAt = timePtr(normTime(now.Add(d)))
	r.HeartbeatAt = timePtr(now)
	r.ClaimedAt = timePtr(now)
	return nil
}

func leaseDuration(d time.Duration) (time.Duration, error) {
	switch {
	case d < 0:
		return 0, invalid("lease_duration", "must not be negative")
	case d == 0:
		return DefaultLeaseDuration, nil
	}
	return d, nil
}

// CheckLease reports whether workerID holding token may write to r at now:
// the token must be r's current one, the worker its owner and the lease
// unexpired. Anything else is [ErrLeaseLost]. op names the write in the
// error.
func CheckLease(op string, r *Run, workerID, token string, now time.Time) error {
	switch {
	case token == "":
		return fmt.Errorf("%s run %s: lease token required: %w", op, r.RunID, ErrLeaseLost)
	case r.LeaseToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(r.LeaseToken)) != 1 || workerID != r.LeaseOwner:
		return fmt.Errorf("%s run %s: not the lease holder: %w", op, r.RunID, ErrLeaseLost)
	case r.LeaseExpiresAt == nil || !normTime(now).Before(*r.LeaseExpiresAt):
		return fmt.Errorf("%s run %s: lease expired: %w", op, r.RunID, ErrLeaseLost)
	}
	return nil
}

// Expired reports whether r is held under a lease that expired at or
// before now.
func Expired(r *Run, now time.Time) bool {
	return r.Status.Held() && r.LeaseExpiresAt != nil && !r.LeaseExpiresAt.After(normTime(now))
}

// ApplyLeaseRenew extends r's lease.
func ApplyLeaseRenew(r *Run, p *LeaseRenewParams, now time.Time) error {
	if err := CheckLease("renew lease of", r, p.WorkerID, p.LeaseToken, now); err != nil {
		return err
	}
	d, err := leaseDuration(p.LeaseDuration)
	if err != nil {
		return err
	}
	r.LeaseExpiresAt = timePtr(normTime(now.Add(d)))
	return nil
}

// ApplyStart moves a claimed r to running. A pending cancellation is
// [ErrCancelled].
func ApplyStart(r *Run, p *RunStartParams, now time.Time) error {
	if err := CheckLease("start", r, p.WorkerID, p.LeaseToken, now); err != nil {
		return err
	}
	if !CanTransition(r.Status, RunRunning) {
		return fmt.Errorf("start run %s: %w", r.RunID, &TransitionError{From: r.Status, To: RunRunning})
	}
	if r.CancelRequestedAt != nil {
		return fmt.Errorf("start run %s: %w", r.RunID, ErrCancelled)
	}
	now = normTime(now)
	r.Status = RunRunning
	if r.StartedAt == nil {
		r.StartedAt = timePtr(now)
	}
	r.HeartbeatAt = timePtr(now)
	return nil
}

// ApplyHeartbeat records a sign of life from r's holder, extends the
// lease and merges p.Metadata into r's.
func ApplyHeartbeat(r *Run, p *RunHeartbeatParams, now time.Time) error {
	if err := CheckLease("heartbeat", r, p.WorkerID, p.LeaseToken, now); err != nil {
		return err
	}
	d, err := leaseDuration(p.LeaseDuration)
	if err != nil {
		return err
	}
	now = normTime(now)
	r.HeartbeatAt = timePtr(now)
	r.LeaseExpiresAt = timePtr(normTime(now.Add(d)))
	if len(p.Metadata) > 0 {
		if r.Metadata == nil {
			r.Metadata = make(map[string]any, len(p.Metadata))
		}
		maps.Copy(r.Metadata, CloneMetadata(p.Metadata))
	}
	return nil
}

// PrepareAttempt opens the next attempt of a running r and makes it r's
// current one. last is r's latest attempt, nil when none. The backend
// checks that the attempt id is not yet recorded.
func PrepareAttempt(r *Run, last *Attempt, p *AttemptCreateParams, now time.Time) (*Attempt, error) {
	if err := CheckLease("open attempt of", r, p.WorkerID, p.LeaseToken, now); err != nil {
		return nil, err
	}
	switch {
	case r.Status != RunRunning:
		return nil, fmt.Errorf("open attempt of run %s in status %s: %w", r.RunID, r.Status, ErrInvalidTransition)
	case r.CancelRequestedAt != nil:
		return nil, fmt.Errorf("open attempt of run %s: %w", r.RunID, ErrCancelled)
	case last != nil && last.Open():
		return nil, fmt.Errorf("open attempt of run %s: attempt %d: %w", r.RunID, last.AttemptNumber, ErrAttemptOpen)
	case r.Attempt >= r.MaxAttempts:
		return nil, fmt.Errorf("open attempt of run %s: all %d attempts used: %w", r.RunID, r.MaxAttempts, ErrInvalidTransition)
	}
	id := p.AttemptID
	if id == "" {
		id = NewAttemptID()
	} else if err := ValidateID("attempt_id", id); err != nil {
		return nil, err
	}
	reason := p.Reason
	switch {
	case reason == "" && r.Attempt == 0:
		reason = AttemptInitial
	case reason == "":
		reason = AttemptRetry
	case reason != AttemptInitial && reason != AttemptRetry && reason != AttemptRecovery:
		return nil, invalid("reason", "must be one of initial, retry, recovery")
	}
	now = normTime(now)
	r.Attempt++
	r.HeartbeatAt = timePtr(now)
	return &Attempt{
		AttemptID:     id,
		RunID:         r.RunID,
		AttemptNumber: r.Attempt,
		Reason:        reason,
		Status:        AttemptRunning,
		WorkerID:      p.WorkerID,
		LeaseToken:    p.LeaseToken,
		StartedAt:     now,
	}, nil
}

// ApplyFinish ends r as p.Status and closes its open attempt, the current
// one, the same way. open may be nil. Completing r after its cancellation
// was requested is [ErrCancelled]; finishing it as cancelled is allowed.
func ApplyFinish(r *Run, open *Attempt, p *RunFinishParams, now time.Time) error {
	var as AttemptStatus
	switch p.Status {
	case RunCompleted:
		as = AttemptCompleted
	case RunFailed:
		as = AttemptFailed
	case RunTimeout:
		as = AttemptTimeout
	case RunCancelled:
		as = AttemptCancelled
	default:
		return invalid("status", "must be one of completed, failed, timeout, cancelled")
	}
	if err := CheckLease("finish", r, p.WorkerID, p.LeaseToken, now); err != nil {
		return err
	}
	if !CanTransition(r.Status, p.Status) {
		return fmt.Errorf("finish run %s: %w", r.RunID, &TransitionError{From: r.Status, To: p.Status})
	}
	if p.Status == RunCompleted && r.CancelRequestedAt != nil {
		return fmt.Errorf("complete run %s: %w", r.RunID, ErrCancelled)
	}
	now = normTime(now)
	closeAttempt(r, open, as, p.Error, now)
	r.finish(p.Status, now)
	if p.ResultPreview != "" {
		r.ResultPreview = Preview(p.ResultPreview)
	}
	switch {
	case p.Status == RunCompleted:
		r.Error = ""
	case p.Error != "":
		r.Error = p.Error
	}
	return nil
}

// ApplyRetry closes r's open attempt as failed or timeout and requeues r
// after p.Delay. A pending cancellation is [ErrCancelled]; a run with no
// attempt left cannot retry.
func ApplyRetry(r *Run, open *Attempt, p *RunRetryParams, now time.Time) error {
	as := cmp.Or(p.AttemptStatus, AttemptFailed)
	switch {
	case as != AttemptFailed && as != AttemptTimeout:
		return invalid("attempt_status", "must be failed or timeout")
	case p.Delay < 0:
		return invalid("delay", "must not be negative")
	}
	if err := CheckLease("retry", r, p.WorkerID, p.LeaseToken, now); err != nil {
		return err
	}
	switch {
	case !CanTransition(r.Status, RunRetrying):
		return fmt.Errorf("retry run %s: %w", r.RunID, &TransitionError{From: r.Status, To: RunRetrying})
	case r.CancelRequestedAt != nil:
		return fmt.Errorf("retry run %s: %w", r.RunID, ErrCancelled)
	case r.Attempt >= r.MaxAttempts:
		return fmt.Errorf("retry run %s: all %d attempts used: %w", r.RunID, r.MaxAttempts, ErrInvalidTransition)
	}
	now = normTime(now)
	if closeAttempt(r, open, as, p.Error, now) {
		open.RetryDelaySeconds = new(p.Delay.Seconds())
	}
	r.Status = RunQueued
	r.QueuedAt = normTime(now.Add(p.Delay))
	r.Error = p.Error
	r.clearLease()
	return nil
}

// ApplyRelease returns a claimed, unstarted r to the queue. A pending
// cancellation is [ErrCancelled].
func ApplyRelease(r *Run, p *RunReleaseParams, now time.Time) error {
	if err := CheckLease("release", r, p.WorkerID, p.LeaseToken, now); err != nil {
		return err
	}
	if r.Status != RunClaimed {
		return fmt.Errorf("release run %s: %w", r.RunID, &TransitionError{From: r.Status, To: RunQueued})
	}
	if r.CancelRequestedAt != nil {
		return fmt.Errorf("release run %s: %w", r.RunID, ErrCancelled)
	}
	r.Status = RunQueued
	r.clearLease()
	return nil
}

// ApplyCancel requests r's cancellation and reports whether r changed. It
// always records CancelRequestedAt (once; later requests keep the first
// time). A queued run, including one waiting out a retry delay, is
// cancelled at once. A held run only records the request: its holder
// learns of it from [Store.RunHeartbeat] and must finish the run as
// cancelled, since completing, retrying or releasing it is refused. A
// terminal run keeps its status.
func ApplyCancel(r *Run, now time.Time) bool {
	now = normTime(now)
	changed := false
	if r.CancelRequestedAt == nil {
		r.CancelRequestedAt = timePtr(now)
		changed = true
	}
	if r.Status == RunQueued {
		r.finish(RunCancelled, now)
		changed = true
	}
	return changed
}

// ApplyRecover takes over r, whose lease expired, and resolves it; open is
// its open attempt, nil when none, and taskExists whether its task still
// exists. It reports false, changing nothing, when r's lease has not
// expired. Recovery takes a lease generation, closes the open attempt as
// failed with reason lease_expired, then: a pending cancellation ends r
// cancelled; a missing task ends it failed "task missing"; a run that was
// only claimed goes back to the queue in its place; a run with an attempt
// left is requeued at once; any other ends failed "lease expired".
func ApplyRecover(r *Run, open *Attempt, taskExists bool, now time.Time) (RecoveryOutcome, bool) {
	if !Expired(r, now) {
		return "", false
	}
	now = normTime(now)
	prev := r.Status
	r.LeaseGeneration++
	if closeAttempt(r, open, AttemptFailed, "lease expired", now) {
		open.Reason = AttemptLeaseExpired
	}
	switch {
	case r.CancelRequestedAt != nil:
		r.finish(RunCancelled, now)
		return RecoveryCancelled, true
	case !taskExists:
		r.finish(RunFailed, now)
		r.Error = "task missing"
		return RecoveryFailed, true
	case prev == RunClaimed:
		r.Status = RunQueued
		r.clearLease()
		return RecoveryRequeued, true
	case r.Attempt < r.MaxAttempts:
		r.Status = RunQueued
		r.QueuedAt = now
		r.Error = "lease expired"
		r.clearLease()
		return RecoveryRequeued, true
	default:
		r.finish(RunFailed, now)
		r.Error = "lease expired"
		return RecoveryFailed, true
	}
}

// closeAttempt closes open when it is r's current, open attempt and
// reports whether it did.
func closeAttempt(r *Run, open *Attempt, status AttemptStatus, errMsg string, now time.Time) bool {
	if open == nil || !open.Open() || open.RunID != r.RunID || open.AttemptNumber != r.Attempt {
		return false
	}
	open.Status = status
	open.FinishedAt = timePtr(now)
	if status != AttemptCompleted {
		open.Error = errMsg
	}
	return true
}

// finish moves r to the terminal status s.
func (r *Run) finish(s RunStatus, now time.Time) {
	r.Status = s
	r.FinishedAt = timePtr(now)
	r.clearLease()
}

// clearLease drops the lease holder; the generation stays.
func (r *Run) clearLease() {
	r.LeaseOwner, r.LeaseToken, r.LeaseExpiresAt = "", "", nil
}

// Preview returns the first [MaxResultPreview] characters of s.
func Preview(s string) string {
	if utf8.RuneCountInString(s) <= MaxResultPreview {
		return s
	}
	n := 0
	for i := range s {
		if n == MaxResultPreview {
			return s[:i]
		}
		n++
	}
	return s
}

// Matches reports whether r passes p's filters, the cursor included.
func (p *RunListParams) Matches(r *Run) bool {
	return (p.TaskID == "" || r.TaskID == p.TaskID) &&
		(p.AgentID == "" || r.AgentID == p.AgentID) &&
		(len(p.Statuses) == 0 || slices.Contains(p.Statuses, r.Status)) &&
		(p.After == nil || p.After.After(r))
}

// NewStatusCounts returns a count of zero for every run status.
func NewStatusCounts() map[RunStatus]int {
	m := make(map[RunStatus]int, len(RunStatuses))
	for _, s := range RunStatuses {
		m[s] = 0
	}
	return m
}
