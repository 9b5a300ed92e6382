package task

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // a Thursday

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func tp(s string) *time.Time { t := ts(s); return &t }

func TestScheduleValidate(t *testing.T) {
	tests := []struct {
		name  string
		s     Schedule
		field string
	}{
		{"manual", Schedule{Type: ScheduleManual}, ""},
		{"manual with seconds", Schedule{Type: ScheduleManual, Seconds: 5}, "seconds"},
		{"manual with expression", Schedule{Type: ScheduleManual, Expression: "* * * * *"}, "expression"},
		{"manual with run_at", Schedule{Type: ScheduleManual, RunAt: &t0}, "run_at"},
		{"unknown type", Schedule{Type: "hourly"}, "type"},
		{"interval", Schedule{Type: ScheduleInterval, Seconds: 0.5}, ""},
		{"interval zero", Schedule{Type: ScheduleInterval}, "seconds"},
		{"interval negative", Schedule{Type: ScheduleInterval, Seconds: -1}, "seconds"},
		{"interval with expression", Schedule{Type: ScheduleInterval, Seconds: 1, Expression: "* * * * *"}, "expression"},
		{"cron", Schedule{Type: ScheduleCron, Expression: "*/5 9-17 * * MON-FRI"}, ""},
		{"cron descriptor", Schedule{Type: ScheduleCron, Expression: "@daily"}, ""},
		{"cron descriptor upper case", Schedule{Type: ScheduleCron, Expression: "@Hourly"}, ""},
		{"cron @every", Schedule{Type: ScheduleCron, Expression: "@every 1h"}, "expression"},
		{"cron missing", Schedule{Type: ScheduleCron}, "expression"},
		{"cron six fields", Schedule{Type: ScheduleCron, Expression: "0 0 9 * * *"}, "expression"},
		{"cron four fields", Schedule{Type: ScheduleCron, Expression: "0 9 * *"}, "expression"},
		{"cron TZ prefix", Schedule{Type: ScheduleCron, Expression: "TZ=UTC 0 9 * *"}, "expression"},
		{"cron TZ prefix without space", Schedule{Type: ScheduleCron, Expression: "TZ=UTC"}, "expression"},
		{"cron out of range", Schedule{Type: ScheduleCron, Expression: "60 * * * *"}, "expression"},
		{"cron never matches", Schedule{Type: ScheduleCron, Expression: "0 0 30 2 *"}, "expression"},
		{"cron zero step", Schedule{Type: ScheduleCron, Expression: "*/0 * * * *"}, "expression"},
		{"cron dow 7", Schedule{Type: ScheduleCron, Expression: "0 9 * * 7"}, ""},
		{"cron wrap-around", Schedule{Type: ScheduleCron, Expression: "0 22-2 * * 5-1"}, ""},
		{"cron with seconds set", Schedule{Type: ScheduleCron, Expression: "@daily", Seconds: 1}, "seconds"},
		{"once", Schedule{Type: ScheduleOnce, RunAt: &t0}, ""},
		{"once without run_at", Schedule{Type: ScheduleOnce}, "run_at"},
		{"timezone", Schedule{Type: ScheduleManual, Timezone: "Africa/Lagos"}, ""},
		{"unknown timezone", Schedule{Type: ScheduleManual, Timezone: "Mars/Olympus"}, "timezone"},
		{"Local timezone", Schedule{Type: ScheduleManual, Timezone: "Local"}, "timezone"},
		{"end before start", Schedule{Type: ScheduleInterval, Seconds: 1, StartAt: tp("2026-01-02T00:00:00Z"), EndAt: tp("2026-01-01T00:00:00Z")}, "end_at"},
		{"end equals start", Schedule{Type: ScheduleInterval, Seconds: 1, StartAt: &t0, EndAt: &t0}, "end_at"},
		{"negative jitter", Schedule{Type: ScheduleInterval, Seconds: 1, JitterSeconds: -1}, "jitter_seconds"},
		{"misfire", Schedule{Type: ScheduleInterval, Seconds: 1, MisfirePolicy: "catch_up"}, "misfire_policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.s.WithDefaults()
			checkField(t, s.Validate(), tt.field)
		})
	}
}

func FuzzCronExpression(f *testing.F) {
	for _, s := range []string{"* * * * *", "0 9 * * 7", "5-2 * * * *", "@daily", "TZ=UTC", "*/0 * * * *", "1-2-3 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		// Must never panic; an accepted expression must name a time.
		s := Schedule{Type: ScheduleCron, Expression: expr}
		if s.Validate() != nil {
			return
		}
		z, err := newSlots("t", 1, s)
		if err != nil {
			t.Fatalf("validated expression %q: %v", expr, err)
		}
		if z.first(t0) == nil {
			t.Errorf("validated expression %q has no first slot", expr)
		}
	})
}

func TestNormalizeCronField(t *testing.T) {
	tests := []struct {
		in     string
		lo, hi int
		dow    bool
		want   string
	}{
		{"*", 0, 59, false, "*"},
		{"*/5", 0, 59, false, "*/5"},
		{"1,2", 0, 59, false, "1,2"},
		{"22-2", 0, 23, false, "22-23,0-2"},
		{"10-20/2", 0, 59, false, "10-20/2"},
		{"7", 0, 6, true, "0"},
		{"5-7", 0, 6, true, "5-6,0"},
		{"7-2", 0, 6, true, "0-2"},
		{"0-7", 0, 6, true, "0-6,0"},
		{"7-7", 0, 6, true, "0"},
		{"5-1", 0, 6, true, "5-6,0-1"},
		{"MON-FRI", 0, 6, true, "MON-FRI"},
		{"7", 0, 59, false, "7"},
		{"1,7", 0, 6, true, "1,0"},
	}
	for _, tt := range tests {
		if got := normalizeCronField(tt.in, tt.lo, tt.hi, tt.dow); got != tt.want {
			t.Errorf("normalizeCronField(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestOccurrenceID(t *testing.T) {
	tests := []struct {
		typ  ScheduleType
		rev  int64
		at   time.Time
		want string
	}{
		{ScheduleOnce, 3, t0, "once:3:2026-01-01T00:00:00+00:00"},
		{ScheduleCron, 1, ts("2026-01-01T08:00:00+01:00"), "cron:1:2026-01-01T07:00:00+00:00"},
		{ScheduleInterval, 12, ts("2026-01-01T00:00:00.5Z"), "interval:12:2026-01-01T00:00:00.500000+00:00"},
	}
	for _, tt := range tests {
		if got := OccurrenceID(tt.typ, tt.rev, tt.at); got != tt.want {
			t.Errorf("OccurrenceID = %q, want %q", got, tt.want)
		}
	}
}

func TestJitterBoundedAndStable(t *testing.T) {
	spread := map[time.Duration]bool{}
	for i := range 500 {
		occ := OccurrenceID(ScheduleInterval, 1, t0.Add(time.Duration(i)*time.Minute))
		j := Jitter("task", occ, 10)
		if j < 0 || j > 10*time.Second {
			t.Fatalf("jitter %v out of [0, 10s]", j)
		}
		if Jitter("task", occ, 10) != j {
			t.Fatal("jitter is not stable")
		}
		spread[j] = true
	}
	if len(spread) < 100 {
		t.Errorf("jitter takes only %d distinct values over 500 occurrences", len(spread))
	}
	if Jitter("task", "once:1:x", 0) != 0 {
		t.Error("zero jitter_seconds gives a delay")
	}
	a, b := Jitter("a", "once:1:x", 3600), Jitter("b", "once:1:x", 3600)
	if a == b {
		t.Errorf("different tasks got the same jitter %v (unlikely)", a)
	}
}

func TestFirstDue(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		now  time.Time
		want *time.Time // nil: no due time
	}{
		{"manual has none", Schedule{Type: ScheduleManual}, t0, nil},
		{"interval from now", Schedule{Type: ScheduleInterval, Seconds: 60}, t0, tp("2026-01-01T00:01:00Z")},
		{"interval from a later start", Schedule{Type: ScheduleInterval, Seconds: 60, StartAt: tp("2026-01-02T00:00:00Z")}, t0, tp("2026-01-02T00:01:00Z")},
		{"interval past start ignored", Schedule{Type: ScheduleInterval, Seconds: 60, StartAt: tp("2025-01-01T00:00:00Z")}, t0, tp("2026-01-01T00:01:00Z")},
		{"interval past end", Schedule{Type: ScheduleInterval, Seconds: 60, EndAt: tp("2026-01-01T00:00:30Z")}, t0, nil},
		{"cron next minute", Schedule{Type: ScheduleCron, Expression: "*/15 * * * *"}, ts("2026-01-01T10:07:30Z"), tp("2026-01-01T10:15:00Z")},
		{"cron at reference minute", Schedule{Type: ScheduleCron, Expression: "0 9 * * *"}, ts("2026-01-01T09:00:00Z"), tp("2026-01-01T09:00:00Z")},
		{"cron reference inside the minute", Schedule{Type: ScheduleCron, Expression: "* * * * *"}, ts("2026-01-01T09:00:00.5Z"), tp("2026-01-01T09:01:00Z")},
		{"cron 09:00 Africa/Lagos is 08:00 UTC", Schedule{Type: ScheduleCron, Expression: "0 9 * * *", Timezone: "Africa/Lagos"}, t0, tp("2026-01-01T08:00:00Z")},
		{"cron New York in summer", Schedule{Type: ScheduleCron, Expression: "30 6 * * *", Timezone: "America/New_York"}, ts("2026-07-01T00:00:00Z"), tp("2026-07-01T10:30:00Z")},
		{"cron from start", Schedule{Type: ScheduleCron, Expression: "@daily", StartAt: tp("2026-03-05T12:00:00Z")}, t0, tp("2026-03-06T00:00:00Z")},
		{"cron day-of-month OR day-of-week", Schedule{Type: ScheduleCron, Expression: "0 9 13 * 5"}, t0, tp("2026-01-02T09:00:00Z")},
		{"cron sunday as 7", Schedule{Type: ScheduleCron, Expression: "0 0 * * 7"}, t0, tp("2026-01-04T00:00:00Z")},
		{"once at run_at", Schedule{Type: ScheduleOnce, RunAt: tp("2026-06-01T12:00:00Z")}, t0, tp("2026-06-01T12:00:00Z")},
		{"once in the past is due now", Schedule{Type: ScheduleOnce, RunAt: tp("2025-06-01T12:00:00Z")}, t0, tp("2025-06-01T12:00:00Z")},
		{"once after end", Schedule{Type: ScheduleOnce, RunAt: tp("2026-06-01T12:00:00Z"), EndAt: tp("2026-05-01T00:00:00Z")}, t0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := Task{TaskID: "t", Schedule: tt.s}
			st, err := NewScheduleState(&task, tt.now)
			if err != nil {
				t.Fatal(err)
			}
			if !timePtrEqual(st.NextDueAt, tt.want) || !timePtrEqual(st.MisfireCursor, tt.want) {
				t.Errorf("next due %v, cursor %v; want %v", fmtTime(st.NextDueAt), fmtTime(st.MisfireCursor), fmtTime(tt.want))
			}
			if st.ScheduleRevision != 1 {
				t.Errorf("revision %d", st.ScheduleRevision)
			}
		})
	}
}

func TestJitteredDueRespectsEndAt(t *testing.T) {
	// Find, by search, an occurrence whose jitter is large, then end the
	// schedule between its slot and its jittered time: it must not exist.
	s := Schedule{Type: ScheduleOnce, RunAt: &t0, JitterSeconds: 600}
	j := Jitter("t", OccurrenceID(ScheduleOnce, 1, t0), 600)
	if j == 0 {
		t.Skip("jitter happens to be zero")
	}
	task := Task{TaskID: "t", Schedule: s}
	st, err := NewScheduleState(&task, t0)
	if err != nil {
		t.Fatal(err)
	}
	if want := t0.Add(j); !st.NextDueAt.Equal(want) || !st.MisfireCursor.Equal(t0) {
		t.Errorf("due %v cursor %v, want due %v cursor %v", st.NextDueAt, st.MisfireCursor, want, t0)
	}
	end := t0.Add(j - time.Millisecond)
	task.Schedule.EndAt = &end
	st, _ = NewScheduleState(&task, t0)
	if st.NextDueAt != nil || st.MisfireCursor != nil {
		t.Errorf("jittered past end_at but due at %v", fmtTime(st.NextDueAt))
	}
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
