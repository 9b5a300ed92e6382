package background

import (
	"context"
	"errors"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// scheduleLoop dispatches due schedule occurrences: at start, every
// SchedulerInterval, when woken by [Manager.WakeScheduler], and at once
// again while a full pass made progress (a queue_all backlog or more due
// schedules than DueLimit).
func (m *Manager) scheduleLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-m.schedWake:
		case <-ctx.Done():
			return
		}
		wait := m.cfg.SchedulerInterval
		if m.schedulePass(ctx) {
			wait = 0
		}
		timer.Reset(wait)
	}
}

// WakeScheduler makes the scheduler look for due schedules now rather
// than at its next interval, as after a task was created or its schedule
// changed. It never blocks.
func (m *Manager) WakeScheduler() {
	select {
	case m.schedWake <- struct{}{}:
	default:
	}
}

// schedulePass dispatches what is due now and reports whether another
// pass should follow at once.
func (m *Manager) schedulePass(ctx context.Context) bool {
	due, err := m.cfg.Store.ScheduleDueList(ctx, &task.ScheduleDueListParams{Limit: m.cfg.DueLimit})
	if err != nil {
		if ctx.Err() == nil {
			m.logger.WarnContext(ctx, "list due schedules", "error", err)
		}
		return false
	}
	progress := false
	for _, d := range due {
		if ctx.Err() != nil {
			return false
		}
		if m.dispatch(ctx, d) {
			progress = true
		}
	}
	full := len(due) >= m.cfg.DueLimit
	for _, d := range due {
		full = full || len(d.Plan.Occurrences) >= m.cfg.DueLimit
	}
	return full && progress
}

// dispatch records the occurrences of one due schedule, or moves its
// cursor when its plan has none (missed occurrences skipped). Another
// process may dispatch the same occurrences at the same time: the store
// records each once, and only the process that created a run emits its
// events. It reports whether the schedule moved.
func (m *Manager) dispatch(ctx context.Context, d *task.DueSchedule) bool {
	t := &d.Task
	log := m.logger.With("task_id", t.TaskID, "schedule_revision", d.Plan.Revision)
	if len(d.Plan.Occurrences) == 0 {
		if d.Plan.Misfired {
			log.InfoContext(ctx, "missed schedule occurrences skipped", "misfire_policy", t.Schedule.MisfirePolicy)
		}
		_, err := m.cfg.Store.ScheduleAdvance(ctx, &task.ScheduleAdvanceParams{
			TaskID: t.TaskID, ScheduleRevision: d.Plan.Revision, Next: d.Plan.Next,
		})
		if err != nil {
			m.logDispatchError(ctx, log, "advance schedule", err)
			return false
		}
		return true
	}
	moved := false
	for _, occ := range d.Plan.Occurrences {
		runID := task.NewRunID()
		created := m.creation(runID)
		res, err := m.cfg.Store.RunDispatchScheduled(ctx, &task.RunDispatchScheduledParams{
			TaskID:           t.TaskID,
			ScheduleRevision: d.Plan.Revision,
			Occurrence:       occ,
			RunID:            runID,
			Metadata:         createdMetadata(true),
		})
		if err != nil {
			created()
			m.logDispatchError(ctx, log, "dispatch occurrence "+occ.ID, err)
			return moved
		}
		moved = true
		if !res.Created {
			created()
			continue
		}
		log.InfoContext(ctx, "schedule occurrence dispatched", "occurrence_id", occ.ID, "run_id", res.Run.RunID, "status", res.Run.Status)
		m.emitCreated(ctx, res, t)
		created()
	}
	return moved
}

// logDispatchError logs a dispatch failure: quietly when another writer
// changed the schedule or task first, which the next pass resolves.
func (m *Manager) logDispatchError(ctx context.Context, log interface {
	DebugContext(context.Context, string, ...any)
	WarnContext(context.Context, string, ...any)
}, op string, err error,
) {
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, task.ErrConflict), errors.Is(err, task.ErrTaskDisabled), errors.Is(err, task.ErrNotFound):
		log.DebugContext(ctx, op+" skipped", "error", err)
	default:
		log.WarnContext(ctx, op, "error", err)
	}
}
