package task

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// stateAt returns the state of a schedule whose cursor is at slot.
func stateAt(task *Task, slot *time.Time) *ScheduleState {
	z, err := newSlots(task.TaskID, 1, task.Schedule)
	if err != nil {
		panic(err)
	}
	return &ScheduleState{TaskID: task.TaskID, ScheduleRevision: 1, MisfireCursor: slot, NextDueAt: z.nextDue(slot)}
}

func TestPlanDue(t *testing.T) {
	slot := ts("2026-01-01T10:00:00Z")
	interval := func(p MisfirePolicy) Schedule {
		return Schedule{Type: ScheduleInterval, Seconds: 60, MisfirePolicy: p}
	}
	occ := func(typ ScheduleType, at string) string { return OccurrenceID(typ, 1, ts(at)) }
	tests := []struct {
		name     string
		s        Schedule
		cursor   *time.Time
		now      string
		limit    int
		wantOccs []string // occurrence ids
		wantNext *time.Time
		misfired bool
	}{
		{"manual is never due", Schedule{Type: ScheduleManual}, nil, "2026-01-01T10:00:00Z", 0, nil, nil, false},
		{"not yet due", interval(""), &slot, "2026-01-01T09:59:59Z", 0, nil, &slot, false},
		{"due exactly now", interval(""), &slot, "2026-01-01T10:00:00Z", 0,
			[]string{occ(ScheduleInterval, "2026-01-01T10:00:00Z")}, tp("2026-01-01T10:01:00Z"), false},
		{"one late occurrence runs under skip_missed", interval(MisfireSkipMissed), &slot, "2026-01-01T10:00:59Z", 0,
			[]string{occ(ScheduleInterval, "2026-01-01T10:00:00Z")}, tp("2026-01-01T10:01:00Z"), false},
		{"skip_missed runs nothing and moves from now", interval(MisfireSkipMissed), &slot, "2026-01-01T10:05:30Z", 0,
			nil, tp("2026-01-01T10:06:30Z"), true},
		{"run_once runs the stale occurrence once", interval(MisfireRunOnce), &slot, "2026-01-01T10:05:30Z", 0,
			[]string{occ(ScheduleInterval, "2026-01-01T10:00:00Z")}, tp("2026-01-01T10:06:30Z"), true},
		{"queue_all runs every missed occurrence", interval(MisfireQueueAll), &slot, "2026-01-01T10:02:30Z", 0,
			[]string{occ(ScheduleInterval, "2026-01-01T10:00:00Z"), occ(ScheduleInterval, "2026-01-01T10:01:00Z"), occ(ScheduleInterval, "2026-01-01T10:02:00Z")},
			tp("2026-01-01T10:03:00Z"), true},
		{"queue_all stops at the limit with the cursor in the past", interval(MisfireQueueAll), &slot, "2026-01-01T10:05:30Z", 2,
			[]string{occ(ScheduleInterval, "2026-01-01T10:00:00Z"), occ(ScheduleInterval, "2026-01-01T10:01:00Z")},
			tp("2026-01-01T10:02:00Z"), true},
		{"cron skip_missed moves to the next match after now", Schedule{Type: ScheduleCron, Expression: "0 * * * *"}, &slot, "2026-01-01T13:30:00Z", 0,
			nil, tp("2026-01-01T14:00:00Z"), true},
		{"cron run_once", Schedule{Type: ScheduleCron, Expression: "0 * * * *", MisfirePolicy: MisfireRunOnce}, &slot, "2026-01-01T13:30:00Z", 0,
			[]string{occ(ScheduleCron, "2026-01-01T10:00:00Z")}, tp("2026-01-01T14:00:00Z"), true},
		{"once ends the schedule", Schedule{Type: ScheduleOnce, RunAt: &slot}, &slot, "2026-01-05T00:00:00Z", 0,
			[]string{occ(ScheduleOnce, "2026-01-01T10:00:00Z")}, nil, false},
		{"last occurrence before end_at", Schedule{Type: ScheduleInterval, Seconds: 60, EndAt: tp("2026-01-01T10:00:30Z")}, &slot, "2026-01-01T10:00:10Z", 0,
			[]string{occ(ScheduleInterval, "2026-01-01T10:00:00Z")}, nil, false},
		{"skip_missed past end_at ends", Schedule{Type: ScheduleInterval, Seconds: 60, EndAt: tp("2026-01-01T10:03:00Z")}, &slot, "2026-01-01T11:00:00Z", 0,
			nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := &Task{TaskID: "t", Schedule: tt.s.WithDefaults()}
			st := stateAt(task, tt.cursor)
			plan, err := PlanDue(task, st, ts(tt.now), tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, o := range plan.Occurrences {
				ids = append(ids, o.ID)
				if err := CheckOccurrence(task, 1, &o); err != nil {
					t.Errorf("planned occurrence %s fails its check: %v", o.ID, err)
				}
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.wantOccs) {
				t.Errorf("occurrences %v, want %v", ids, tt.wantOccs)
			}
			if !timePtrEqual(plan.Next, tt.wantNext) {
				t.Errorf("next %s, want %s", fmtTime(plan.Next), fmtTime(tt.wantNext))
			}
			if plan.Misfired != tt.misfired {
				t.Errorf("misfired %v, want %v", plan.Misfired, tt.misfired)
			}
			if n := len(plan.Occurrences); n > 0 && !timePtrEqual(plan.Occurrences[n-1].Next, plan.Next) {
				t.Errorf("last occurrence's next %s differs from the plan's %s", fmtTime(plan.Occurrences[n-1].Next), fmtTime(plan.Next))
			}
		})
	}
}

func TestPlanQueueAllDrainsAcrossPasses(t *testing.T) {
	task := &Task{TaskID: "t", Schedule: Schedule{Type: ScheduleInterval, Seconds: 60, MisfirePolicy: MisfireQueueAll}.WithDefaults()}
	st := stateAt(task, tp("2026-01-01T10:00:00Z"))
	now := ts("2026-01-01T10:06:30Z")
	seen := map[string]bool{}
	for pass := 0; ; pass++ {
		if pass > 10 {
			t.Fatal("backlog never drained")
		}
		plan, err := PlanDue(task, st, now, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Occurrences) == 0 {
			break
		}
		for _, o := range plan.Occurrences {
			if seen[o.ID] {
				t.Fatalf("occurrence %s planned twice", o.ID)
			}
			seen[o.ID] = true
			if _, err := st.applyAdvance(task, 1, o.Next, now); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(seen) != 7 {
		t.Errorf("dispatched %d occurrences, want 7 (10:00 to 10:06)", len(seen))
	}
	if !st.NextDueAt.Equal(ts("2026-01-01T10:07:00Z")) {
		t.Errorf("next due %s", fmtTime(st.NextDueAt))
	}
}

func TestPlanJitter(t *testing.T) {
	task := &Task{TaskID: "t", Schedule: Schedule{Type: ScheduleInterval, Seconds: 3600, JitterSeconds: 1800}.WithDefaults()}
	slot := ts("2026-01-01T10:00:00Z")
	st := stateAt(task, &slot)
	j := Jitter("t", OccurrenceID(ScheduleInterval, 1, slot), 1800)
	if !st.NextDueAt.Equal(slot.Add(j)) {
		t.Fatalf("next due %s, want slot + %v", fmtTime(st.NextDueAt), j)
	}
	if plan, _ := PlanDue(task, st, slot.Add(j-time.Millisecond), 0); len(plan.Occurrences) != 0 {
		t.Error("due before its jittered time")
	}
	plan, _ := PlanDue(task, st, slot.Add(j), 0)
	if len(plan.Occurrences) != 1 {
		t.Fatalf("not due at its jittered time: %+v", plan)
	}
	o := plan.Occurrences[0]
	if !o.ScheduledAt.Equal(slot) || !o.DueAt.Equal(slot.Add(j)) || !strings.HasSuffix(o.ID, "10:00:00+00:00") {
		t.Errorf("occurrence %+v", o)
	}
	bad := o
	bad.DueAt = slot
	if err := CheckOccurrence(task, 1, &bad); j != 0 && err == nil {
		t.Error("an occurrence with the wrong due time passed its check")
	}
}

func TestApplyAdvance(t *testing.T) {
	task := &Task{TaskID: "t", Schedule: Schedule{Type: ScheduleInterval, Seconds: 60}.WithDefaults()}
	st := stateAt(task, tp("2026-01-01T10:00:00Z"))
	if _, err := st.applyAdvance(task, 2, tp("2026-01-01T10:01:00Z"), t0); !errors.Is(err, ErrStaleRevision) || !errors.Is(err, ErrConflict) {
		t.Errorf("stale revision: %v", err)
	}
	if changed, err := st.applyAdvance(task, 1, tp("2026-01-01T09:59:00Z"), t0); changed || err != nil {
		t.Errorf("moving back: changed %v, %v", changed, err)
	}
	if changed, _ := st.applyAdvance(task, 1, tp("2026-01-01T10:05:00Z"), t0); !changed || !st.NextDueAt.Equal(ts("2026-01-01T10:05:00Z")) {
		t.Errorf("forward: changed %v, due %s", changed, fmtTime(st.NextDueAt))
	}
	if changed, _ := st.applyAdvance(task, 1, nil, t0); !changed || st.NextDueAt != nil || st.MisfireCursor != nil {
		t.Error("advancing to nil does not end the schedule")
	}
	if changed, _ := st.applyAdvance(task, 1, tp("2026-01-02T00:00:00Z"), t0); changed {
		t.Error("an ended schedule moved")
	}
}
