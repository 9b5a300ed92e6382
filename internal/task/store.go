package task

import (
	"context"
	"time"
)

// Store keeps agents, tasks, schedule states, runs and attempts. Every
// backend runs the contract suite in package tasktest.
//
// Each method is atomic. The rules — validation, the state machine, lease
// fencing, cancellation precedence, overlap and occurrence dedupe — live in
// this package's Prepare and Apply functions, which a backend calls inside
// its atomic section on the records it loaded, then writes back what they
// changed; a backend only loads, locks and writes. Times come from the
// store's clock: the database's for durable backends, an injected one for
// the in-memory backend and tests.
//
// Errors match this package's sentinels: [ErrNotFound] (as a
// [*NotFoundError]), [ErrAlreadyExists], [ErrConflict] and its kin,
// [ErrLeaseLost], [ErrInvalidTransition], [ErrCancelled], [ErrTaskDisabled]
// and [ErrInvalid] (as a [*ValidationError] naming the field).
type Store interface {
	// AgentUpsert stores an agent spec. An existing agent is an
	// [*AlreadyExistsError] unless Replace is set; replacing keeps
	// CreatedAt.
	AgentUpsert(ctx context.Context, p *AgentUpsertParams) (*AgentSpec, error)
	// AgentGet returns one agent spec.
	AgentGet(ctx context.Context, p *AgentGetParams) (*AgentSpec, error)
	// AgentList returns every agent spec ordered by CreatedAt, then
	// AgentID.
	AgentList(ctx context.Context, p *AgentListParams) ([]*AgentSpec, error)
	// AgentDelete deletes an agent spec. An agent with active runs is
	// [ErrAgentBusy] unless Force is set. Its tasks and runs are kept.
	AgentDelete(ctx context.Context, p *AgentDeleteParams) error

	// TaskCreate stores a task and its schedule state (revision 1, first
	// occurrence computed from now). The agent must exist. An existing
	// task is an [*AlreadyExistsError] unless Replace is set; replacing
	// keeps CreatedAt, unpauses the schedule, and keeps the schedule
	// state unless the schedule changed, in which case the revision grows
	// and the next occurrence is computed afresh.
	TaskCreate(ctx context.Context, p *TaskCreateParams) (*Task, error)
	// TaskGet returns one task.
	TaskGet(ctx context.Context, p *TaskGetParams) (*Task, error)
	// TaskList returns tasks, of one agent when AgentID is set, ordered
	// by CreatedAt, then TaskID.
	TaskList(ctx context.Context, p *TaskListParams) ([]*Task, error)
	// TaskUpdate changes the set fields of a task and re-validates it. A
	// changed schedule bumps the schedule revision and recomputes the
	// next occurrence from now.
	TaskUpdate(ctx context.Context, p *TaskUpdateParams) (*Task, error)
	// TaskDelete deletes a task and its schedule state; its runs and
	// attempts too when DeleteRuns is set. Kept runs no longer dedupe
	// occurrences, so a task re-created under the same id starts afresh.
	TaskDelete(ctx context.Context, p *TaskDeleteParams) error

	// ScheduleStateGet returns a task's schedule state.
	ScheduleStateGet(ctx context.Context, p *ScheduleStateGetParams) (*ScheduleState, error)
	// ScheduleSetPaused pauses or resumes a task's schedule, keeping its
	// cursor.
	ScheduleSetPaused(ctx context.Context, p *ScheduleSetPausedParams) (*ScheduleState, error)
	// ScheduleDueList returns the schedules of enabled tasks that are not
	// paused and whose NextDueAt is at or before now, ordered by
	// NextDueAt, then TaskID, each with its [DuePlan] computed at now.
	ScheduleDueList(ctx context.Context, p *ScheduleDueListParams) ([]*DueSchedule, error)
	// ScheduleAdvance moves a schedule's cursor forward without
	// dispatching, as a plan with no occurrences says. A stale revision is
	// [ErrStaleRevision]; a cursor that would move back is left alone.
	ScheduleAdvance(ctx context.Context, p *ScheduleAdvanceParams) (*ScheduleState, error)

	// RunDispatchScheduled records one occurrence of a task's schedule,
	// atomically: it dedupes the occurrence, creates the run through the
	// overlap policy and advances the schedule. Dispatching an occurrence
	// already recorded returns its run with Created false and changes
	// nothing. A stale revision is [ErrStaleRevision]; a paused schedule
	// [ErrSchedulePaused]; a disabled task [ErrTaskDisabled].
	RunDispatchScheduled(ctx context.Context, p *RunDispatchScheduledParams) (*RunCreateResult, error)
	// RunCreateManual creates a manual run through the overlap policy. A
	// disabled task is [ErrTaskDisabled].
	RunCreateManual(ctx context.Context, p *RunCreateManualParams) (*RunCreateResult, error)
	// RunClaim claims the oldest claimable run, by QueuedAt then RunID: a
	// queued run whose QueuedAt is at or before now, whose cancellation
	// was not requested, and which no earlier unfinished run of its task
	// blocks under [OverlapQueueNext]. The run becomes claimed under a
	// new lease (new token, generation + 1, expiry now + LeaseDuration).
	// It returns nil and no error when nothing is claimable; concurrent
	// claims never get the same run.
	RunClaim(ctx context.Context, p *RunClaimParams) (*Run, error)
	// LeaseRenew extends a held lease to now + LeaseDuration.
	LeaseRenew(ctx context.Context, p *LeaseRenewParams) (*Run, error)
	// RunStart moves a claimed run to running; a pending cancellation is
	// [ErrCancelled].
	RunStart(ctx context.Context, p *RunStartParams) (*Run, error)
	// RunHeartbeat records that a held run's holder is alive, extends its
	// lease and merges Metadata into the run's metadata (the holder's only
	// metadata write). The returned run tells the holder whether
	// cancellation was requested.
	RunHeartbeat(ctx context.Context, p *RunHeartbeatParams) (*Run, error)
	// RunFinish ends a held run as completed, failed, timeout or
	// cancelled, closing its open attempt the same way. Completing a run
	// whose cancellation was requested is [ErrCancelled].
	RunFinish(ctx context.Context, p *RunFinishParams) (*Run, error)
	// RunRetry closes the open attempt as failed or timeout and requeues
	// the running run with QueuedAt = now + Delay, clearing its lease. It
	// is refused when no attempt is left and, with [ErrCancelled], when
	// cancellation was requested.
	RunRetry(ctx context.Context, p *RunRetryParams) (*Run, error)
	// RunRelease returns a claimed, unstarted run to the queue in its
	// place, clearing its lease; a pending cancellation is [ErrCancelled].
	RunRelease(ctx context.Context, p *RunReleaseParams) (*Run, error)
	// RunCancel requests a run's cancellation; see [ApplyCancel].
	RunCancel(ctx context.Context, p *RunCancelParams) (*Run, error)
	// RunRecoverExpired takes over held runs whose lease expired at or
	// before now and resolves them; see [ApplyRecover].
	RunRecoverExpired(ctx context.Context, p *RunRecoverExpiredParams) ([]*RunRecovery, error)
	// RunGet returns one run.
	RunGet(ctx context.Context, p *RunGetParams) (*Run, error)
	// RunList returns runs ordered by QueuedAt, then RunID.
	RunList(ctx context.Context, p *RunListParams) ([]*Run, error)
	// RunCountByStatus counts runs by status, with a key for every
	// status.
	RunCountByStatus(ctx context.Context, p *RunCountByStatusParams) (map[RunStatus]int, error)

	// AttemptCreate opens the next attempt of a running run and makes it
	// the run's current attempt. It is refused while the previous attempt
	// is open ([ErrAttemptOpen]), when all attempts are used, when
	// cancellation was requested ([ErrCancelled]), and for an attempt id
	// already taken.
	AttemptCreate(ctx context.Context, p *AttemptCreateParams) (*Attempt, error)
	// AttemptList returns a run's attempts ordered by AttemptNumber.
	AttemptList(ctx context.Context, p *AttemptListParams) ([]*Attempt, error)
}

// DefaultLeaseDuration is the lease a claim or renewal takes when its
// LeaseDuration is zero.
const DefaultLeaseDuration = 30 * time.Second

// AgentUpsertParams are the parameters of [Store.AgentUpsert].
type AgentUpsertParams struct {
	Spec AgentSpec
	// Replace allows overwriting an existing agent.
	Replace bool
}

// AgentGetParams are the parameters of [Store.AgentGet].
type AgentGetParams struct{ AgentID string }

// AgentListParams are the parameters of [Store.AgentList].
type AgentListParams struct{}

// AgentDeleteParams are the parameters of [Store.AgentDelete].
type AgentDeleteParams struct {
	AgentID string
	// Force deletes the agent even while it has active runs.
	Force bool
}

// TaskCreateParams are the parameters of [Store.TaskCreate].
type TaskCreateParams struct {
	Task Task
	// Replace allows overwriting an existing task.
	Replace bool
}

// TaskGetParams are the parameters of [Store.TaskGet].
type TaskGetParams struct{ TaskID string }

// TaskListParams are the parameters of [Store.TaskList].
type TaskListParams struct {
	// AgentID, when set, keeps that agent's tasks.
	AgentID string
}

// TaskUpdateParams are the parameters of [Store.TaskUpdate]. Nil fields
// are left unchanged.
type TaskUpdateParams struct {
	TaskID   string
	Query    *string
	Schedule *Schedule
	Enabled  *bool
	// TimeoutSeconds sets the timeout; a pointer to 0 clears it.
	TimeoutSeconds  *int
	RetryPolicy     *RetryPolicy
	OverlapPolicy   *OverlapPolicy
	SessionPolicy   *SessionPolicy
	WorkspacePolicy *WorkspacePolicy
	// Metadata replaces the metadata as a whole; an empty map clears it.
	Metadata map[string]any
}

// TaskDeleteParams are the parameters of [Store.TaskDelete].
type TaskDeleteParams struct {
	TaskID string
	// DeleteRuns deletes the task's runs and their attempts too.
	DeleteRuns bool
}

// ScheduleStateGetParams are the parameters of [Store.ScheduleStateGet].
type ScheduleStateGetParams struct{ TaskID string }

// ScheduleSetPausedParams are the parameters of [Store.ScheduleSetPaused].
type ScheduleSetPausedParams struct {
	TaskID string
	Paused bool
	// Reason is recorded when pausing and cleared when resuming.
	Reason string
}

// ScheduleDueListParams are the parameters of [Store.ScheduleDueList].
type ScheduleDueListParams struct {
	// Limit caps the schedules returned and the occurrences of each plan;
	// zero means [DefaultDueLimit].
	Limit int
}

// DueSchedule is one due schedule with what to do about it.
type DueSchedule struct {
	Task  Task
	State ScheduleState
	Plan  DuePlan
}

// ScheduleAdvanceParams are the parameters of [Store.ScheduleAdvance].
type ScheduleAdvanceParams struct {
	TaskID string
	// ScheduleRevision is the revision the plan was computed for.
	ScheduleRevision int64
	// Next is the slot to move to; nil ends the schedule.
	Next *time.Time
}

// RunDispatchScheduledParams are the parameters of
// [Store.RunDispatchScheduled].
type RunDispatchScheduledParams struct {
	TaskID string
	// ScheduleRevision is the revision the plan was computed for.
	ScheduleRevision int64
	// Occurrence is one of the plan's occurrences.
	Occurrence Occurrence
	// RunID names the new run; empty means a fresh [NewRunID].
	RunID string
	// Metadata is the new run's metadata.
	Metadata map[string]any
}

// RunCreateManualParams are the parameters of [Store.RunCreateManual].
type RunCreateManualParams struct {
	TaskID string
	// RunID names the new run; empty means a fresh [NewRunID].
	RunID string
	// Query overrides the task's query for this run; empty means the
	// task's.
	Query string
	// TriggerMetadata describes the request.
	TriggerMetadata map[string]any
	// Metadata is the new run's metadata.
	Metadata map[string]any
}

// RunCreateResult is what creating a run did.
type RunCreateResult struct {
	// Run is the new run, queued or skipped, or for a dispatch already
	// recorded the run recorded then.
	Run *Run
	// Created is false when the occurrence had already been dispatched.
	Created bool
	// Cancelled are the earlier runs whose cancellation
	// [OverlapCancelPrevious] requested, as they now stand.
	Cancelled []*Run
}

// RunClaimParams are the parameters of [Store.RunClaim].
type RunClaimParams struct {
	// WorkerID names the claiming worker; required.
	WorkerID string
	// LeaseDuration is the lease's length; zero means
	// [DefaultLeaseDuration].
	LeaseDuration time.Duration
	// RunID, when set, claims that run only; the claim returns nil when it
	// is not claimable or does not exist.
	RunID string
}

// LeaseRenewParams are the parameters of [Store.LeaseRenew].
type LeaseRenewParams struct {
	RunID, WorkerID, LeaseToken string
	// LeaseDuration is the renewed lease's length; zero means
	// [DefaultLeaseDuration].
	LeaseDuration time.Duration
}

// RunStartParams are the parameters of [Store.RunStart].
type RunStartParams struct {
	RunID, WorkerID, LeaseToken string
}

// RunHeartbeatParams are the parameters of [Store.RunHeartbeat].
type RunHeartbeatParams struct {
	RunID, WorkerID, LeaseToken string
	// LeaseDuration is the renewed lease's length; zero means
	// [DefaultLeaseDuration].
	LeaseDuration time.Duration
	// Metadata keys are merged into the run's metadata.
	Metadata map[string]any
}

// RunFinishParams are the parameters of [Store.RunFinish].
type RunFinishParams struct {
	RunID, WorkerID, LeaseToken string
	// Status is completed, failed, timeout or cancelled.
	Status RunStatus
	// ResultPreview is the response; only its first [MaxResultPreview]
	// characters are kept.
	ResultPreview string
	// Error is the failure's message; a completion clears the run's.
	Error string
}

// RunRetryParams are the parameters of [Store.RunRetry].
type RunRetryParams struct {
	RunID, WorkerID, LeaseToken string
	// Delay is how long the run waits before it is claimable again; see
	// [RetryPolicy.Decide].
	Delay time.Duration
	// Error is the failure's message.
	Error string
	// AttemptStatus closes the attempt: failed (the default) or timeout.
	AttemptStatus AttemptStatus
}

// RunReleaseParams are the parameters of [Store.RunRelease].
type RunReleaseParams struct {
	RunID, WorkerID, LeaseToken string
}

// RunCancelParams are the parameters of [Store.RunCancel].
type RunCancelParams struct{ RunID string }

// RunRecoverExpiredParams are the parameters of [Store.RunRecoverExpired].
type RunRecoverExpiredParams struct {
	// Limit caps the runs recovered in one call; zero means 50.
	Limit int
}

// RecoveryOutcome says how recovery resolved a run.
type RecoveryOutcome string

// Recovery outcomes.
const (
	// RecoveryRequeued put the run back in the queue.
	RecoveryRequeued RecoveryOutcome = "requeued"
	// RecoveryFailed ended the run as failed.
	RecoveryFailed RecoveryOutcome = "failed"
	// RecoveryCancelled ended the run as cancelled, honouring a pending
	// cancellation.
	RecoveryCancelled RecoveryOutcome = "cancelled"
)

// RunRecovery is one run [Store.RunRecoverExpired] resolved.
type RunRecovery struct {
	// Run is the run as it now stands.
	Run *Run
	// PreviousStatus is its status when its lease expired.
	PreviousStatus RunStatus
	// Outcome is what recovery did.
	Outcome RecoveryOutcome
}

// RunGetParams are the parameters of [Store.RunGet].
type RunGetParams struct{ RunID string }

// RunListParams are the parameters of [Store.RunList]. Every set field
// must match.
type RunListParams struct {
	TaskID  string
	AgentID string
	// Statuses, when not empty, keeps runs in these statuses.
	Statuses []RunStatus
	// After resumes after a page: pass the last run's [Run.Cursor].
	After *RunCursor
	// Limit caps the result; zero means no cap.
	Limit int
}

// RunCursor is a position in the (QueuedAt, RunID) order of runs.
type RunCursor struct {
	QueuedAt time.Time
	RunID    string
}

// Cursor returns r's position in the order [Store.RunList] uses.
func (r *Run) Cursor() *RunCursor { return &RunCursor{QueuedAt: r.QueuedAt, RunID: r.RunID} }

// RunCountByStatusParams are the parameters of [Store.RunCountByStatus].
// Every set field must match.
type RunCountByStatusParams struct {
	TaskID  string
	AgentID string
}

// AttemptCreateParams are the parameters of [Store.AttemptCreate].
type AttemptCreateParams struct {
	RunID, WorkerID, LeaseToken string
	// AttemptID names the attempt; empty means a fresh [NewAttemptID].
	AttemptID string
	// Reason defaults to initial for the first attempt and retry after.
	Reason AttemptReason
}

// AttemptListParams are the parameters of [Store.AttemptList].
type AttemptListParams struct{ RunID string }
