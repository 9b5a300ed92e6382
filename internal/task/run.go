package task

import (
	"slices"
	"time"
)

// RunStatus is where a run stands in its life.
type RunStatus string

// Run statuses, named as the original names them.
const (
	// RunQueued waits to be claimed; its QueuedAt may lie in the future
	// while a retry delay runs.
	RunQueued RunStatus = "queued"
	// RunClaimed is held by a worker under a lease, not yet started.
	RunClaimed RunStatus = "claimed"
	// RunRunning is executing an attempt under a lease.
	RunRunning RunStatus = "running"
	// RunRetrying is between a failed attempt and its requeue. Stores
	// here requeue in the same write, so it is never persisted; it is
	// kept for the state machine and the original's records.
	RunRetrying RunStatus = "retrying"
	// RunCompleted ended with a result.
	RunCompleted RunStatus = "completed"
	// RunFailed ended with an error and no retry left.
	RunFailed RunStatus = "failed"
	// RunCancelled ended because its cancellation was requested.
	RunCancelled RunStatus = "cancelled"
	// RunTimeout ended because its last attempt outlived the task's
	// timeout.
	RunTimeout RunStatus = "timeout"
	// RunSkipped was recorded but never ran, because of the task's
	// overlap policy.
	RunSkipped RunStatus = "skipped"
)

// RunStatuses lists every run status in lifecycle order.
var RunStatuses = []RunStatus{RunQueued, RunClaimed, RunRunning, RunRetrying, RunCompleted, RunFailed, RunCancelled, RunTimeout, RunSkipped}

// ActiveStatuses are the statuses of unfinished runs.
var ActiveStatuses = []RunStatus{RunQueued, RunClaimed, RunRunning, RunRetrying}

// transitions is the state machine: the statuses each status may move to.
// Terminal statuses move nowhere.
var transitions = map[RunStatus][]RunStatus{
	RunQueued:   {RunClaimed, RunCancelled, RunSkipped},
	RunClaimed:  {RunQueued, RunRunning, RunCancelled, RunFailed},
	RunRunning:  {RunRetrying, RunCompleted, RunFailed, RunTimeout, RunCancelled},
	RunRetrying: {RunQueued, RunCancelled},
}

// CanTransition reports whether a run may move from status from to status
// to.
func CanTransition(from, to RunStatus) bool { return slices.Contains(transitions[from], to) }

// Valid reports whether s is a known status.
func (s RunStatus) Valid() bool { return slices.Contains(RunStatuses, s) }

// Terminal reports whether s ends a run: completed, failed, cancelled,
// timeout or skipped.
func (s RunStatus) Terminal() bool { return s.Valid() && !s.Active() }

// Active reports whether s is an unfinished status: queued, claimed,
// running or retrying.
func (s RunStatus) Active() bool { return slices.Contains(ActiveStatuses, s) }

// Held reports whether a run in status s is held under a lease: claimed,
// running or retrying.
func (s RunStatus) Held() bool { return s == RunClaimed || s == RunRunning || s == RunRetrying }

// TriggerType says what created a run: a manual request or the schedule
// type that fired.
type TriggerType string

// Trigger types.
const (
	TriggerManual   TriggerType = "manual"
	TriggerInterval TriggerType = "interval"
	TriggerCron     TriggerType = "cron"
	TriggerOnce     TriggerType = "once"
)

// Scheduled reports whether a schedule, not a person, created the run.
func (t TriggerType) Scheduled() bool { return t != TriggerManual }

// Run is one execution of a task, made of one or more attempts.
type Run struct {
	// RunID identifies the run; a safe id.
	RunID string `json:"run_id"`
	// TaskID is the task the run belongs to.
	TaskID string `json:"task_id"`
	// AgentID is the agent that runs it.
	AgentID string `json:"agent_id"`
	// Status is where the run stands.
	Status RunStatus `json:"status"`
	// Attempt is the number of the current attempt; 0 before the first.
	Attempt int `json:"attempt"`
	// MaxAttempts is the task's max_retries + 1 when the run was created.
	MaxAttempts int `json:"max_attempts"`
	// QuerySnapshot is what the run executes; never the task's current
	// query.
	QuerySnapshot string `json:"query_snapshot"`
	// TriggerType says what created the run.
	TriggerType TriggerType `json:"trigger_type"`
	// TriggeredAt is when the run was created.
	TriggeredAt time.Time `json:"triggered_at"`
	// DueAt is when the schedule occurrence that created the run was due;
	// nil for manual runs.
	DueAt *time.Time `json:"due_at"`
	// OccurrenceID names that occurrence; empty for manual runs.
	OccurrenceID string `json:"occurrence_id,omitempty"`
	// TriggerMetadata describes the trigger, such as the schedule
	// revision and slot.
	TriggerMetadata map[string]any `json:"trigger_metadata,omitempty"`
	// OverlapPolicy is the task's overlap policy when the run was
	// created; a queue_next run waits for earlier unfinished runs.
	OverlapPolicy OverlapPolicy `json:"overlap_policy"`
	// SessionID is the conversation session the run uses.
	SessionID string `json:"session_id"`
	// WorkspacePath is the run's directory in the workspace's files area.
	WorkspacePath string `json:"workspace_path"`
	// LeaseOwner is the worker holding the lease; empty when none does.
	LeaseOwner string `json:"lease_owner,omitempty"`
	// LeaseToken is the current holding's token; every execution-state
	// write must present it. Empty when no one holds the lease.
	LeaseToken string `json:"lease_token,omitempty"`
	// LeaseGeneration counts the leases ever taken on the run, recovery's
	// included.
	LeaseGeneration int64 `json:"lease_generation"`
	// LeaseExpiresAt is when the lease lapses unless renewed.
	LeaseExpiresAt *time.Time `json:"lease_expires_at"`
	// HeartbeatAt is the holder's last sign of life.
	HeartbeatAt *time.Time `json:"heartbeat_at"`
	// QueuedAt orders claims; a run is claimable from then on.
	QueuedAt time.Time `json:"queued_at"`
	// ClaimedAt is when the run was last claimed.
	ClaimedAt *time.Time `json:"claimed_at"`
	// StartedAt is when the run first started.
	StartedAt *time.Time `json:"started_at"`
	// FinishedAt is when the run reached a terminal status.
	FinishedAt *time.Time `json:"finished_at"`
	// CancelRequestedAt is when cancellation was first requested.
	CancelRequestedAt *time.Time `json:"cancel_requested_at"`
	// Error is the last failure's message; cleared by a success.
	Error string `json:"error,omitempty"`
	// ResultPreview is the first [MaxResultPreview] characters of the
	// response.
	ResultPreview string `json:"result_preview,omitempty"`
	// Metadata is free-form; the holder merges keys into it.
	Metadata map[string]any `json:"metadata,omitempty"`
}

// MaxResultPreview is how many characters of a response
// [Run.ResultPreview] keeps.
const MaxResultPreview = 1000

// AttemptStatus is where an attempt stands.
type AttemptStatus string

// Attempt statuses.
const (
	AttemptRunning   AttemptStatus = "running"
	AttemptCompleted AttemptStatus = "completed"
	AttemptFailed    AttemptStatus = "failed"
	AttemptTimeout   AttemptStatus = "timeout"
	AttemptCancelled AttemptStatus = "cancelled"
)

// AttemptReason says why an attempt was made, or, for one closed by
// recovery, that its lease expired.
type AttemptReason string

// Attempt reasons.
const (
	AttemptInitial      AttemptReason = "initial"
	AttemptRetry        AttemptReason = "retry"
	AttemptRecovery     AttemptReason = "recovery"
	AttemptLeaseExpired AttemptReason = "lease_expired"
)

// Attempt is one call of the agent for a run.
type Attempt struct {
	// AttemptID identifies the attempt; a safe id.
	AttemptID string `json:"attempt_id"`
	// RunID is the run the attempt belongs to.
	RunID string `json:"run_id"`
	// AttemptNumber is 1-based.
	AttemptNumber int `json:"attempt_number"`
	// Reason says why the attempt was made.
	Reason AttemptReason `json:"reason"`
	// Status is where the attempt stands.
	Status AttemptStatus `json:"status"`
	// WorkerID is the worker that made the attempt.
	WorkerID string `json:"worker_id"`
	// LeaseToken is the lease the attempt was made under.
	LeaseToken string `json:"lease_token"`
	// StartedAt is when the attempt began.
	StartedAt time.Time `json:"started_at"`
	// FinishedAt is when the attempt ended.
	FinishedAt *time.Time `json:"finished_at"`
	// Error is the failure's message.
	Error string `json:"error,omitempty"`
	// RetryDelaySeconds is the delay before the retry this failure
	// caused.
	RetryDelaySeconds *float64 `json:"retry_delay_seconds"`
}

// Open reports whether the attempt has not ended.
func (a *Attempt) Open() bool { return a.Status == AttemptRunning }

// ParseRunStatus returns the status named s, or a [*ValidationError] for
// field "status" naming the bad value as the original does.
func ParseRunStatus(s string) (RunStatus, error) {
	if st := RunStatus(s); st.Valid() {
		return st, nil
	}
	return "", invalid("status", "'%s' is not a valid RunStatus", s)
}
