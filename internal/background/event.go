package background

import (
	"context"
	"encoding/json"
	"math"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// Lifecycle event names, as the original names them. The terminal ones
// mirror the terminal run statuses.
const (
	EventTaskScheduled = "background_task_scheduled"
	EventRunQueued     = "background_run_queued"
	EventRunSkipped    = "background_run_skipped"
	EventRunClaimed    = "background_run_claimed"
	EventRunStarted    = "background_run_started"
	EventRunHeartbeat  = "background_run_heartbeat"
	EventRunRetrying   = "background_run_retrying"
	EventRunCompleted  = "background_run_completed"
	EventRunFailed     = "background_run_failed"
	EventRunCancelled  = "background_run_cancelled"
	EventRunTimeout    = "background_run_timeout"
	EventRunRecovered  = "background_run_recovered"
)

// terminalEvent returns the event that ends a run in status s.
func terminalEvent(s task.RunStatus) string { return "background_run_" + string(s) }

// RunEvent is one lifecycle event of a run. Events are emitted only after
// the store write they report succeeded. Sequence numbers are contiguous
// per run from 1, across processes and restarts; see the package
// documentation for how they are kept.
type RunEvent struct {
	// Event is one of the Event* names.
	Event string `json:"event"`
	// Timestamp is when the event was emitted, in UTC.
	Timestamp time.Time `json:"timestamp"`
	// Sequence is the event's position in its run, from 1.
	Sequence int64  `json:"sequence"`
	AgentID  string `json:"agent_id"`
	TaskID   string `json:"task_id"`
	RunID    string `json:"run_id"`
	// SessionID is the run's conversation session.
	SessionID string `json:"session_id"`
	// Status is the run's status after the write the event reports;
	// "retrying" for [EventRunRetrying], a status stores never persist.
	Status task.RunStatus `json:"status"`
	// Attempt is the run's current attempt number; 0 before the first.
	Attempt       int    `json:"attempt"`
	WorkspacePath string `json:"workspace_path"`
	// WorkerID is the run's lease owner or, when no one holds the lease,
	// the worker that emitted the event.
	WorkerID        string     `json:"worker_id"`
	LeaseGeneration int64      `json:"lease_generation"`
	HeartbeatAt     *time.Time `json:"heartbeat_at"`
	LeaseExpiresAt  *time.Time `json:"lease_expires_at"`
	// OccurrenceID and DueAt name the schedule occurrence that created
	// the run; empty for manual runs.
	OccurrenceID string     `json:"occurrence_id,omitempty"`
	DueAt        *time.Time `json:"due_at,omitempty"`
	// QueuedAt is when a queued run becomes claimable; set on
	// [EventRunQueued].
	QueuedAt *time.Time `json:"queued_at,omitempty"`
	// Error is the failure's message on retrying, failed, timeout and
	// recovered events.
	Error string `json:"error,omitempty"`
	// ResultPreview is set on [EventRunCompleted].
	ResultPreview string `json:"result_preview,omitempty"`
	// RetryDelaySeconds is set on [EventRunRetrying].
	RetryDelaySeconds *float64 `json:"retry_delay_seconds,omitempty"`
	// PreviousStatus and RecoveryOutcome are set on [EventRunRecovered].
	PreviousStatus  task.RunStatus       `json:"previous_status,omitempty"`
	RecoveryOutcome task.RecoveryOutcome `json:"recovery_outcome,omitempty"`

	// Run is the run as the event left it, for run.json; not part of the
	// event's JSON.
	Run *task.Run `json:"-"`
}

// Terminal reports whether e ends its run.
func (e *RunEvent) Terminal() bool {
	switch e.Event {
	case EventRunCompleted, EventRunFailed, EventRunCancelled, EventRunTimeout, EventRunSkipped:
		return true
	}
	return false
}

// Run metadata keys that carry the event sequence across processes; see
// the package documentation.
const (
	// MetaEventSequence is the highest sequence number a creator or a
	// lease holder has used or reserved for the run.
	MetaEventSequence = "background_event_sequence"
	// MetaEventGeneration is the lease generation under which
	// MetaEventSequence was written; 0 at creation.
	MetaEventGeneration = "background_event_lease_generation"
)

// seqMetadata returns the metadata that records seq under generation gen.
func seqMetadata(seq, gen int64) map[string]any {
	return map[string]any{MetaEventSequence: seq, MetaEventGeneration: gen}
}

// seqMark reads the sequence mark of r and how many lease generations
// were taken since it was written.
func seqMark(r *task.Run) (seq, since int64) {
	seq = metaInt(r.Metadata[MetaEventSequence])
	since = max(r.LeaseGeneration-metaInt(r.Metadata[MetaEventGeneration]), 0)
	return seq, since
}

// Only claims and recoveries take lease generations, and a holder records
// the mark as its first write, before any event. So after the mark's
// generation g the generations alternate: claims that never wrote (their
// holders emitted nothing and were recovered) and recoveries (each
// emitted exactly one event, background_run_recovered, when it requeued
// the run; a recovery that ended the run leaves nothing to number).
// Either the mark's holder ended its holding normally and the next
// generation is a claim, or it was recovered and the next generation is a
// recovery. The three functions below count the recoveries in both cases.

// seqAfterClaim returns the sequence of the claimed event of r, just
// claimed: one past the mark and the recoveries since.
func seqAfterClaim(r *task.Run) int64 {
	seq, since := seqMark(r)
	return seq + since/2 + 1
}

// seqWhileQueued returns the next sequence of r, queued or just cancelled
// from the queue by someone holding no lease.
func seqWhileQueued(r *task.Run) int64 {
	seq, since := seqMark(r)
	return seq + (since+1)/2 + 1
}

// seqAfterRecovery returns the sequence of the recovered event of r, just
// recovered.
func seqAfterRecovery(r *task.Run) int64 {
	seq, since := seqMark(r)
	return seq + max(since-1, 0)/2 + 1
}

// metaInt reads an integer stored in metadata, whichever number type the
// store's encoding gave back.
func metaInt(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case int32:
		return int64(n)
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return 0
		}
		return int64(n)
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			f, _ := n.Float64()
			return int64(f)
		}
		return i
	}
	return 0
}

// eventExtra holds the fields only some events carry.
type eventExtra struct {
	status          task.RunStatus
	err             string
	retryDelay      *float64
	previousStatus  task.RunStatus
	recoveryOutcome task.RecoveryOutcome
	// unheld marks an event emitted by someone holding no lease on the
	// run (its creator, a canceller, recovery): another process may have
	// moved the run on already, so run.json is written from a fresh read.
	unheld bool
}

// newEvent builds event name number seq of r.
func (m *Manager) newEvent(name string, seq int64, r *task.Run, x eventExtra) *RunEvent {
	ev := &RunEvent{
		Event:             name,
		Timestamp:         m.cfg.ClockFunc().UTC(),
		Sequence:          seq,
		AgentID:           r.AgentID,
		TaskID:            r.TaskID,
		RunID:             r.RunID,
		SessionID:         r.SessionID,
		Status:            r.Status,
		Attempt:           r.Attempt,
		WorkspacePath:     r.WorkspacePath,
		WorkerID:          r.LeaseOwner,
		LeaseGeneration:   r.LeaseGeneration,
		HeartbeatAt:       timeCopy(r.HeartbeatAt),
		LeaseExpiresAt:    timeCopy(r.LeaseExpiresAt),
		OccurrenceID:      r.OccurrenceID,
		DueAt:             timeCopy(r.DueAt),
		Error:             x.err,
		RetryDelaySeconds: x.retryDelay,
		PreviousStatus:    x.previousStatus,
		RecoveryOutcome:   x.recoveryOutcome,
		Run:               r.Clone(),
	}
	if ev.WorkerID == "" {
		ev.WorkerID = m.cfg.WorkerID
	}
	if x.status != "" {
		ev.Status = x.status
	}
	switch name {
	case EventRunQueued:
		ev.QueuedAt = timeCopy(&r.QueuedAt)
	case EventRunCompleted:
		ev.ResultPreview = r.ResultPreview
	case EventRunFailed, EventRunTimeout:
		if ev.Error == "" {
			ev.Error = r.Error
		}
	}
	return ev
}

// emit hands event name number seq of r to the workspace and the sink.
// t is r's task, for its workspace policy; nil writes both files. The
// writes outlive ctx's cancellation, each bounded by EventTimeout, and
// their failures are logged, never returned.
func (m *Manager) emit(ctx context.Context, name string, seq int64, r *task.Run, t *task.Task, x eventExtra) {
	ev := m.newEvent(name, seq, r, x)
	ctx = context.WithoutCancel(ctx)
	if files := m.cfg.Workspace; files != nil {
		runJSON, eventsJSONL := true, true
		if t != nil {
			runJSON, eventsJSONL = t.WorkspacePolicy.RunJSON(), t.WorkspacePolicy.EventsJSONL()
		}
		// run.json is rewritten after every event but heartbeats, and
		// before a terminal event is appended, so a reader who sees the
		// end finds the final record.
		if runJSON && ev.Terminal() {
			m.writeRunJSON(ctx, files, ev, x.unheld)
		}
		if eventsJSONL {
			m.appendEvent(ctx, files, ev)
		}
		if runJSON && !ev.Terminal() && name != EventRunHeartbeat {
			m.writeRunJSON(ctx, files, ev, x.unheld)
		}
	}
	if sink := m.cfg.Events; sink != nil {
		wctx, cancel := context.WithTimeout(ctx, m.cfg.EventTimeout)
		err := sink.RunEventAppend(wctx, ev)
		cancel()
		if err != nil {
			m.logger.WarnContext(ctx, "append background event", "run_id", r.RunID, "event", name, "sequence", seq, "error", err)
		}
	}
	m.logger.DebugContext(ctx, "background event", "run_id", r.RunID, "event", name, "sequence", seq, "status", ev.Status)
	m.notify(r.RunID)
}

// writeRunJSON writes run.json: the event's run or, when reread is set,
// the run as the store has it now.
func (m *Manager) writeRunJSON(ctx context.Context, files RunFiles, ev *RunEvent, reread bool) {
	wctx, cancel := context.WithTimeout(ctx, m.cfg.EventTimeout)
	defer cancel()
	run := ev.Run.Clone()
	if reread {
		cur, err := m.cfg.Store.RunGet(wctx, &task.RunGetParams{RunID: ev.RunID})
		if err != nil {
			m.logger.WarnContext(ctx, "read run for run.json", "run_id", ev.RunID, "error", err)
			return
		}
		run = cur
	}
	if err := files.WriteRunJSON(wctx, run); err != nil {
		m.logger.WarnContext(ctx, "write run.json", "run_id", ev.RunID, "error", err)
	}
}

func (m *Manager) appendEvent(ctx context.Context, files RunFiles, ev *RunEvent) {
	line, err := json.Marshal(ev)
	if err != nil {
		m.logger.WarnContext(ctx, "encode background event", "run_id", ev.RunID, "event", ev.Event, "error", err)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.EventTimeout)
	defer cancel()
	if err := files.AppendEvent(wctx, ev.Run.Clone(), append(line, '\n')); err != nil {
		m.logger.WarnContext(ctx, "append events.jsonl", "run_id", ev.RunID, "error", err)
	}
}

// emitCreated emits the events of a run a creator just recorded: for a
// schedule occurrence background_task_scheduled first, then queued or
// skipped. It then handles the runs whose cancellation the overlap policy
// requested.
func (m *Manager) emitCreated(ctx context.Context, res *task.RunCreateResult, t *task.Task) {
	r := res.Run
	seq := int64(1)
	x := eventExtra{unheld: true}
	if r.TriggerType.Scheduled() {
		m.emit(ctx, EventTaskScheduled, seq, r, t, x)
		seq++
	}
	if r.Status == task.RunSkipped {
		m.emit(ctx, EventRunSkipped, seq, r, t, x)
	} else {
		m.emit(ctx, EventRunQueued, seq, r, t, x)
		m.kick()
	}
	m.cancelled(ctx, res.Cancelled, t)
}

// createdMetadata returns the sequence mark of a run about to be created:
// the events its creator emits.
func createdMetadata(scheduled bool) map[string]any {
	if scheduled {
		return seqMetadata(2, 0)
	}
	return seqMetadata(1, 0)
}

// cancelled handles runs whose cancellation was just requested by the
// overlap policy or by [Manager.Cancel]: a queued run was cancelled at
// once and its event is emitted here; a held run executing in this process
// is told now instead of at its next heartbeat.
func (m *Manager) cancelled(ctx context.Context, runs []*task.Run, t *task.Task) {
	for _, c := range runs {
		switch {
		case c.Status == task.RunCancelled:
			m.emit(ctx, EventRunCancelled, seqWhileQueued(c), c, t, eventExtra{unheld: true})
		case c.Status.Held():
			m.signal(c.RunID, errRunCancelled)
		}
	}
}

func timeCopy(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
