package task

import (
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
)

// ScheduleType says how a task becomes due.
type ScheduleType string

// Schedule types.
const (
	// ScheduleManual never becomes due; the task only runs on request.
	ScheduleManual ScheduleType = "manual"
	// ScheduleInterval is due every [Schedule.Seconds].
	ScheduleInterval ScheduleType = "interval"
	// ScheduleCron is due at the minutes [Schedule.Expression] matches.
	ScheduleCron ScheduleType = "cron"
	// ScheduleOnce is due once, at [Schedule.RunAt].
	ScheduleOnce ScheduleType = "once"
)

// MisfirePolicy says what the scheduler does when it finds that more than
// one occurrence of a schedule has come due since it last looked, as after
// downtime. A single late occurrence is not a misfire: it is dispatched
// under every policy.
type MisfirePolicy string

// Misfire policies.
const (
	// MisfireSkipMissed dispatches none of the missed occurrences and
	// moves the schedule to its next occurrence after now. The default.
	MisfireSkipMissed MisfirePolicy = "skip_missed"
	// MisfireRunOnce dispatches the oldest missed occurrence once, then
	// moves the schedule to its next occurrence after now.
	MisfireRunOnce MisfirePolicy = "run_once"
	// MisfireQueueAll dispatches every missed occurrence in order, a
	// bounded number per pass; the schedule's cursor stays in the past
	// until the backlog is drained.
	MisfireQueueAll MisfirePolicy = "queue_all"
)

// Schedule says when a task runs by itself. Only the field of its Type may
// be set: Seconds for interval, Expression for cron, RunAt for once.
type Schedule struct {
	// Type is required.
	Type ScheduleType `json:"type"`
	// Seconds is the interval's period; greater than 0.
	Seconds float64 `json:"seconds,omitzero"`
	// Expression is the cron expression: five fields (minute hour
	// day-of-month month day-of-week) or a descriptor such as @daily;
	// see the package documentation for the dialect.
	Expression string `json:"expression,omitempty"`
	// RunAt is when a once schedule is due.
	RunAt *time.Time `json:"run_at,omitempty"`
	// Timezone is the IANA zone cron expressions are evaluated in.
	// Defaults to UTC.
	Timezone string `json:"timezone"`
	// StartAt, when set, is the earliest time the schedule starts from.
	StartAt *time.Time `json:"start_at,omitempty"`
	// EndAt, when set, ends the schedule: an occurrence due after it
	// (jitter included) is never dispatched.
	EndAt *time.Time `json:"end_at,omitempty"`
	// JitterSeconds delays each occurrence by a deterministic amount in
	// [0, JitterSeconds], derived from the task and the occurrence, so it
	// is stable across restarts and processes.
	JitterSeconds float64 `json:"jitter_seconds,omitzero"`
	// MisfirePolicy defaults to [MisfireSkipMissed].
	MisfirePolicy MisfirePolicy `json:"misfire_policy"`
}

// maxScheduleSeconds bounds intervals and jitter at about 100 years, far
// beyond use and far below overflow.
const maxScheduleSeconds = 100 * 366 * 24 * 3600

// WithDefaults returns a copy of s with its defaults filled in and its
// times in UTC at microsecond precision, the finest every backend keeps.
func (s Schedule) WithDefaults() Schedule {
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	if s.MisfirePolicy == "" {
		s.MisfirePolicy = MisfireSkipMissed
	}
	s.RunAt = normTimePtr(s.RunAt)
	s.StartAt = normTimePtr(s.StartAt)
	s.EndAt = normTimePtr(s.EndAt)
	return s
}

// Validate checks s, naming the first invalid field (relative to the
// schedule) in a [*ValidationError].
func (s *Schedule) Validate() error {
	mustNotSet := func(field string, set bool) error {
		if set {
			return invalid(field, "must not be set for a %s schedule", s.Type)
		}
		return nil
	}
	seconds, expr, runAt := s.Seconds != 0, s.Expression != "", s.RunAt != nil
	var err error
	switch s.Type {
	case ScheduleManual:
		err = firstErr(mustNotSet("seconds", seconds), mustNotSet("expression", expr), mustNotSet("run_at", runAt))
	case ScheduleInterval:
		err = firstErr(mustNotSet("expression", expr), mustNotSet("run_at", runAt))
		if err == nil && (!finite(s.Seconds) || s.Seconds <= 0 || s.Seconds > maxScheduleSeconds) {
			err = invalid("seconds", "must be greater than 0")
		}
	case ScheduleCron:
		err = firstErr(mustNotSet("seconds", seconds), mustNotSet("run_at", runAt))
		if err == nil {
			_, err = parseCron(s.Expression)
		}
	case ScheduleOnce:
		err = firstErr(mustNotSet("seconds", seconds), mustNotSet("expression", expr))
		if err == nil && !runAt {
			err = invalid("run_at", "is required for a once schedule")
		}
	default:
		err = invalid("type", "must be one of manual, interval, cron, once")
	}
	if err != nil {
		return err
	}
	if _, err := s.location(); err != nil {
		return err
	}
	if s.StartAt != nil && s.EndAt != nil && !s.EndAt.After(*s.StartAt) {
		return invalid("end_at", "must be after start_at")
	}
	if !finite(s.JitterSeconds) || s.JitterSeconds < 0 || s.JitterSeconds > maxScheduleSeconds {
		return invalid("jitter_seconds", "must not be negative")
	}
	switch s.MisfirePolicy {
	case "", MisfireSkipMissed, MisfireRunOnce, MisfireQueueAll:
	default:
		return invalid("misfire_policy", "must be one of skip_missed, run_once, queue_all")
	}
	return nil
}

// Equal reports whether s and o describe the same schedule.
func (s Schedule) Equal(o Schedule) bool {
	s, o = s.WithDefaults(), o.WithDefaults()
	return s.Type == o.Type && s.Seconds == o.Seconds && s.Expression == o.Expression &&
		timePtrEqual(s.RunAt, o.RunAt) && s.Timezone == o.Timezone &&
		timePtrEqual(s.StartAt, o.StartAt) && timePtrEqual(s.EndAt, o.EndAt) &&
		s.JitterSeconds == o.JitterSeconds && s.MisfirePolicy == o.MisfirePolicy
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// locations caches loaded zones; loading reads the zone database.
var locations sync.Map // string -> *time.Location

// location returns the schedule's time zone.
func (s *Schedule) location() (*time.Location, error) {
	name := s.Timezone
	if name == "" {
		name = "UTC"
	}
	if loc, ok := locations.Load(name); ok {
		return loc.(*time.Location), nil
	}
	// "Local" would make due times depend on the host.
	if name == "Local" {
		return nil, invalid("timezone", "unknown time zone %s", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, invalid("timezone", "unknown time zone %s", name)
	}
	locations.Store(name, loc)
	return loc, nil
}

// cronParser reads five-field expressions and descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronDescriptors are the descriptors accepted; @every is not, since an
// interval schedule says the same.
var cronDescriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// cronFieldBounds are the numeric bounds of the five fields.
var cronFieldBounds = [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}}

// parseCron parses a cron expression in this package's dialect; errors
// name the expression field.
func parseCron(expr string) (cron.Schedule, error) {
	const field = "expression"
	e := strings.TrimSpace(expr)
	if e == "" {
		return nil, invalid(field, "is required for a cron schedule")
	}
	if strings.HasPrefix(e, "@") {
		e = strings.ToLower(e)
		if !slices.Contains(cronDescriptors, e) {
			return nil, invalid(field, "unknown descriptor %s; want one of %s", e, strings.Join(cronDescriptors, ", "))
		}
	} else {
		// Checking the count first also keeps robfig's "TZ=" prefix,
		// which would override Timezone, away from the parser.
		fields := strings.Fields(e)
		if len(fields) != 5 {
			return nil, invalid(field, "must have exactly 5 fields (minute hour day-of-month month day-of-week), found %d", len(fields))
		}
		for i, f := range fields {
			fields[i] = normalizeCronField(f, cronFieldBounds[i][0], cronFieldBounds[i][1], i == 4)
		}
		e = strings.Join(fields, " ")
	}
	sched, err := cronParser.Parse(e)
	if err != nil {
		return nil, invalid(field, "%v", err)
	}
	// Any expression that ever matches does so within five years of any
	// instant, so a fixed reference keeps validation pure.
	if sched.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return nil, invalid(field, "never matches")
	}
	return sched, nil
}

// normalizeCronField rewrites what the original's dialect accepts and the
// parser does not: 7 as Sunday in the day-of-week field and wrap-around
// ranges such as 22-2. Items with steps or names are left to the parser.
func normalizeCronField(f string, lo, hi int, dow bool) string {
	items := strings.Split(f, ",")
	for i, item := range items {
		if strings.Contains(item, "/") {
			continue
		}
		a, b, isRange := strings.Cut(item, "-")
		from, err1 := strconv.Atoi(a)
		to, err2 := strconv.Atoi(b)
		if !isRange {
			to, err2 = from, err1
		}
		if err1 != nil || err2 != nil {
			continue
		}
		var extra string
		if dow {
			if from == 7 && to == 7 {
				items[i] = "0"
				continue
			}
			if from == 7 {
				from = 0
			}
			if to == 7 {
				to, extra = 6, ",0"
			}
		}
		switch {
		case from > to && from <= hi && to >= lo:
			items[i] = strconv.Itoa(from) + "-" + strconv.Itoa(hi) + "," + strconv.Itoa(lo) + "-" + strconv.Itoa(to)
		case isRange:
			items[i] = strconv.Itoa(from) + "-" + strconv.Itoa(to)
		default:
			items[i] = strconv.Itoa(from)
		}
		items[i] += extra
	}
	return strings.Join(items, ",")
}

// OccurrenceID returns the id of the occurrence of a schedule of type typ
// at revision revision scheduled at at: "{type}:{revision}:{at}", the time
// in ISO 8601 UTC as the original writes it, such as
// "once:3:2026-01-01T00:00:00+00:00". It is unique per task.
func OccurrenceID(typ ScheduleType, revision int64, at time.Time) string {
	return string(typ) + ":" + strconv.FormatInt(revision, 10) + ":" + isoUTC(at)
}

// isoUTC formats t like Python's datetime.isoformat in UTC: microseconds
// only when not zero, and "+00:00" rather than "Z".
func isoUTC(t time.Time) string {
	t = t.UTC()
	if t.Nanosecond()/1000 == 0 {
		return t.Format("2006-01-02T15:04:05") + "+00:00"
	}
	return t.Format("2006-01-02T15:04:05.000000") + "+00:00"
}

// Jitter returns the delay of the occurrence occurrenceID of task taskID
// under a schedule allowing jitterSeconds: a value in [0, jitterSeconds]
// at millisecond resolution, derived only from its inputs.
func Jitter(taskID, occurrenceID string, jitterSeconds float64) time.Duration {
	if !(jitterSeconds > 0) {
		return 0
	}
	span := uint64(min(jitterSeconds, maxScheduleSeconds) * 1000)
	h := fnv.New64a()
	h.Write([]byte(taskID))
	h.Write([]byte{0})
	h.Write([]byte(occurrenceID))
	return time.Duration(h.Sum64()%(span+1)) * time.Millisecond
}

// slots walks one revision of one task's schedule. Slots are the raw,
// unjittered times the schedule names; an occurrence fires at its slot plus
// its jitter. A slot whose firing time passes EndAt does not exist.
type slots struct {
	taskID   string
	revision int64
	s        Schedule
	loc      *time.Location
	cron     cron.Schedule
}

func newSlots(taskID string, revision int64, s Schedule) (*slots, error) {
	s = s.WithDefaults()
	z := &slots{taskID: taskID, revision: revision, s: s}
	var err error
	if z.loc, err = s.location(); err != nil {
		return nil, err
	}
	if s.Type == ScheduleCron {
		if z.cron, err = parseCron(s.Expression); err != nil {
			return nil, err
		}
	}
	return z, nil
}

// occurrence returns the occurrence at slot at and when it fires; ok is
// false when it fires after EndAt.
func (z *slots) occurrence(at time.Time) (o Occurrence, ok bool) {
	id := OccurrenceID(z.s.Type, z.revision, at)
	due := normTime(at.Add(Jitter(z.taskID, id, z.s.JitterSeconds)))
	if z.s.EndAt != nil && due.After(*z.s.EndAt) {
		return Occurrence{}, false
	}
	return Occurrence{ID: id, ScheduledAt: at, DueAt: due}, true
}

// valid returns &at when the slot at exists, else nil.
func (z *slots) valid(at time.Time) *time.Time {
	at = normTime(at)
	if _, ok := z.occurrence(at); !ok {
		return nil
	}
	return &at
}

// first returns the schedule's first slot for a schedule saved at now: an
// interval's is max(now, StartAt) + Seconds, a cron's the first matching
// minute at or after max(now, StartAt), a once's RunAt; nil for manual or
// when EndAt has already passed.
func (z *slots) first(now time.Time) *time.Time {
	ref := now
	if z.s.StartAt != nil && z.s.StartAt.After(ref) {
		ref = *z.s.StartAt
	}
	switch z.s.Type {
	case ScheduleInterval:
		return z.valid(ref.Add(seconds(z.s.Seconds)))
	case ScheduleCron:
		// Next looks strictly after the whole second it is given; step
		// back one from the ceiling to include ref itself.
		ceil := ref.Truncate(time.Second)
		if ceil.Before(ref) {
			ceil = ceil.Add(time.Second)
		}
		return z.cronNext(ceil.Add(-time.Second))
	case ScheduleOnce:
		return z.valid(*z.s.RunAt)
	default:
		return nil
	}
}

// after returns the slot following at, or nil.
func (z *slots) after(at time.Time) *time.Time {
	switch z.s.Type {
	case ScheduleInterval:
		return z.valid(at.Add(seconds(z.s.Seconds)))
	case ScheduleCron:
		return z.cronNext(at)
	default:
		return nil
	}
}

// fromNow returns the slot a schedule that misfired moves to: computed
// afresh from now, and strictly after it.
func (z *slots) fromNow(now time.Time) *time.Time {
	if z.s.Type == ScheduleCron && (z.s.StartAt == nil || !z.s.StartAt.After(now)) {
		return z.cronNext(now)
	}
	if z.s.Type == ScheduleOnce {
		return nil
	}
	return z.first(now)
}

func (z *slots) cronNext(t time.Time) *time.Time {
	next := z.cron.Next(t.In(z.loc))
	if next.IsZero() {
		return nil
	}
	return z.valid(next)
}

// normTime returns t in UTC truncated to microseconds, the precision every
// backend keeps, so times round-trip through any store unchanged.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}

func timePtrEqual(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a.Equal(*b)
}
