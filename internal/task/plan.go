package task

import (
	"fmt"
	"time"
)

// ScheduleState is where a task's schedule stands. A store keeps one per
// task, created with the task.
type ScheduleState struct {
	// TaskID is the task the state belongs to.
	TaskID string `json:"task_id"`
	// NextDueAt is when the next occurrence fires, jitter included; nil
	// for a manual schedule or one that has no more occurrences.
	NextDueAt *time.Time `json:"next_due_at"`
	// LastDueAt is when the last dispatched occurrence was due.
	LastDueAt *time.Time `json:"last_due_at"`
	// LastDispatchedAt is when the last occurrence was dispatched.
	LastDispatchedAt *time.Time `json:"last_dispatched_at"`
	// LastOccurrenceID is the id of the last dispatched occurrence.
	LastOccurrenceID string `json:"last_occurrence_id,omitempty"`
	// Paused schedules are not dispatched; manual runs still work.
	// Pausing keeps the cursor.
	Paused bool `json:"paused"`
	// PausedReason says why the schedule was paused, when the system
	// rather than a person paused it.
	PausedReason string `json:"paused_reason,omitempty"`
	// ScheduleRevision starts at 1 and grows by one whenever the task's
	// schedule changes. Occurrence ids include it.
	ScheduleRevision int64 `json:"schedule_revision"`
	// MisfireCursor is the slot (the unjittered time) of the next
	// occurrence; NextDueAt is it plus its jitter. Under
	// [MisfireQueueAll] it stays in the past while a backlog drains.
	MisfireCursor *time.Time `json:"misfire_cursor"`
	// UpdatedAt is set by the store on every write.
	UpdatedAt time.Time `json:"updated_at"`
}

// Occurrence is one firing of a schedule.
type Occurrence struct {
	// ID is unique per task; see [OccurrenceID].
	ID string `json:"occurrence_id"`
	// ScheduledAt is the occurrence's slot: the time the schedule names,
	// before jitter.
	ScheduledAt time.Time `json:"scheduled_at"`
	// DueAt is when the occurrence fires: ScheduledAt plus its jitter.
	DueAt time.Time `json:"due_at"`
	// Next is the slot the schedule's cursor moves to once this
	// occurrence is dispatched; nil when the schedule has no more.
	Next *time.Time `json:"next"`
}

// DuePlan is what the scheduler does with one due schedule; see
// [PlanDue].
type DuePlan struct {
	// Revision is the schedule revision the plan was computed for.
	Revision int64 `json:"schedule_revision"`
	// Occurrences are dispatched in order with
	// [Store.RunDispatchScheduled], each advancing the cursor.
	Occurrences []Occurrence `json:"occurrences"`
	// Next is the slot the cursor ends at after the plan; nil when the
	// schedule has no more occurrences. With no Occurrences, the
	// scheduler moves the cursor there with [Store.ScheduleAdvance].
	Next *time.Time `json:"next"`
	// Misfired reports that more than one occurrence had come due, so the
	// misfire policy decided the plan.
	Misfired bool `json:"misfired"`
}

// DefaultDueLimit bounds the schedules one [Store.ScheduleDueList] call
// returns and the occurrences one [MisfireQueueAll] plan holds.
const DefaultDueLimit = 25

// NewScheduleState returns the state of a newly saved task t: revision 1
// and the first occurrence computed from now (none for manual).
func NewScheduleState(t *Task, now time.Time) (ScheduleState, error) {
	st := ScheduleState{TaskID: t.TaskID, ScheduleRevision: 1, UpdatedAt: normTime(now)}
	if err := st.restart(t, now); err != nil {
		return ScheduleState{}, err
	}
	return st, nil
}

// restart points the cursor at the first occurrence of the current
// revision, computed from now.
func (st *ScheduleState) restart(t *Task, now time.Time) error {
	z, err := newSlots(t.TaskID, st.ScheduleRevision, t.Schedule)
	if err != nil {
		return prefixField("schedule", err)
	}
	st.MisfireCursor = z.first(normTime(now))
	st.NextDueAt = z.nextDue(st.MisfireCursor)
	return nil
}

// nextDue returns when the occurrence at slot fires, or nil.
func (z *slots) nextDue(slot *time.Time) *time.Time {
	if slot == nil {
		return nil
	}
	o, ok := z.occurrence(*slot)
	if !ok {
		return nil
	}
	return &o.DueAt
}

// PlanDue decides what the scheduler does at now with task t's schedule in
// state st. It is pure: the same inputs give the same plan.
//
// Nothing is due while NextDueAt is nil or after now; the plan is then
// empty and Next is the current cursor. When exactly one occurrence has
// come due it is dispatched whatever the misfire policy, and the cursor
// moves to the slot after it. When more have, st.MisfireCursor names the
// oldest and [Schedule.MisfirePolicy] decides: see [MisfireSkipMissed],
// [MisfireRunOnce] and [MisfireQueueAll]. limit bounds a queue_all plan;
// zero or less means [DefaultDueLimit].
func PlanDue(t *Task, st *ScheduleState, now time.Time, limit int) (DuePlan, error) {
	now = normTime(now)
	plan := DuePlan{Revision: st.ScheduleRevision, Next: st.MisfireCursor}
	if st.MisfireCursor == nil || st.NextDueAt == nil || st.NextDueAt.After(now) {
		return plan, nil
	}
	z, err := newSlots(t.TaskID, st.ScheduleRevision, t.Schedule)
	if err != nil {
		return DuePlan{}, fmt.Errorf("plan task %s: %w", t.TaskID, prefixField("schedule", err))
	}
	if limit <= 0 {
		limit = DefaultDueLimit
	}
	cur := normTime(*st.MisfireCursor)
	first, ok := z.occurrence(cur)
	if !ok {
		// EndAt moved before the cursor: the schedule is over.
		plan.Next = nil
		return plan, nil
	}
	next := z.after(cur)
	if next == nil || z.nextDue(next).After(now) {
		first.Next = next
		plan.Occurrences, plan.Next = []Occurrence{first}, next
		return plan, nil
	}
	plan.Misfired = true
	switch t.Schedule.MisfirePolicy {
	case MisfireRunOnce:
		first.Next = z.fromNow(now)
		plan.Occurrences, plan.Next = []Occurrence{first}, first.Next
	case MisfireQueueAll:
		slot := &cur
		for slot != nil && len(plan.Occurrences) < limit {
			o, ok := z.occurrence(*slot)
			if !ok || o.DueAt.After(now) {
				break
			}
			o.Next = z.after(*slot)
			plan.Occurrences = append(plan.Occurrences, o)
			slot = o.Next
		}
		plan.Next = slot
	default:
		plan.Next = z.fromNow(now)
	}
	return plan, nil
}

// CheckOccurrence reports whether o is an occurrence of revision revision
// of task t's schedule, so a store never records an occurrence the
// schedule does not name: its id, firing time and next slot must match.
func CheckOccurrence(t *Task, revision int64, o *Occurrence) error {
	z, err := newSlots(t.TaskID, revision, t.Schedule)
	if err != nil {
		return prefixField("schedule", err)
	}
	want, ok := z.occurrence(normTime(o.ScheduledAt))
	switch {
	case !ok || want.ID != o.ID:
		return invalid("occurrence_id", "%s is not an occurrence of revision %d", o.ID, revision)
	case !want.DueAt.Equal(o.DueAt):
		return invalid("due_at", "does not match occurrence %s", o.ID)
	case o.Next != nil && !o.Next.After(o.ScheduledAt):
		return invalid("next", "must be after the occurrence")
	}
	return nil
}

// applyAdvance moves st's cursor forward to next for revision revision of
// t's schedule. A stale revision is refused; a cursor that would move back
// (another dispatcher got further first) is left alone. It reports whether
// st changed.
func (st *ScheduleState) applyAdvance(t *Task, revision int64, next *time.Time, now time.Time) (bool, error) {
	if revision != st.ScheduleRevision {
		return false, fmt.Errorf("advance task %s to revision %d, current %d: %w", t.TaskID, revision, st.ScheduleRevision, ErrStaleRevision)
	}
	if st.MisfireCursor == nil {
		// The schedule is over (or manual); nothing moves it again but a
		// schedule change.
		return false, nil
	}
	if next != nil && !next.After(*st.MisfireCursor) {
		return false, nil
	}
	z, err := newSlots(t.TaskID, revision, t.Schedule)
	if err != nil {
		return false, prefixField("schedule", err)
	}
	st.MisfireCursor = normTimePtr(next)
	st.NextDueAt = z.nextDue(st.MisfireCursor)
	if st.NextDueAt == nil {
		st.MisfireCursor = nil
	}
	st.UpdatedAt = normTime(now)
	return true, nil
}
