// Package tasktest is the contract suite every [task.Store] backend runs:
// records and their deterministic order, schedules and their dispatch,
// overlap policies, claims, leases and fencing, attempts, retries,
// cancellation precedence, recovery of expired leases, and atomicity under
// concurrent callers.
//
// A backend's test calls [Run] with a constructor for a fresh, empty store
// that reads time from the [Clock] it is given, and declares what else it
// can do in [Capabilities]:
//
//	func TestTaskContract(t *testing.T) {
//		tasktest.Run(t, func(t *testing.T, c *tasktest.Clock) task.Store {
//			return memstore.NewTaskStore(c.Now)
//		}, tasktest.Capabilities{})
//	}
package tasktest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// Start is the time every store's clock starts at: a Thursday.
var Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// Clock is a manual clock a store under test reads its time from. Tests
// move it; nothing sleeps. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing now.
func NewClock(now time.Time) *Clock { return &Clock{now: now.UTC()} }

// Now returns the clock's time. Pass the method value to a store as its
// clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d and returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to now.
func (c *Clock) Set(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = now.UTC()
}

// Capabilities declares what a backend can do beyond the common contract;
// tests needing a capability the backend lacks are skipped.
type Capabilities struct {
	// ReopenFunc returns a new store over the same persisted state as s,
	// as a process restart would see it, reading time from clock. Nil
	// for backends that keep nothing across a restart; their persistence
	// tests are skipped.
	ReopenFunc func(t *testing.T, s task.Store, clock *Clock) task.Store
}

// Run runs the suite. newStore returns a fresh, empty store per subtest
// that reads its time from clock; each subtest runs in parallel with the
// others.
func Run(t *testing.T, newStore func(t *testing.T, clock *Clock) task.Store, caps Capabilities) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*bundle)
	}{
		// Records.
		{"AgentRecords", testAgentRecords},
		{"AgentDeleteRefusedWithActiveRuns", testAgentDeleteBusy},
		{"TaskRecordsAndDeterministicLists", testTaskRecords},
		{"TaskValidationNamesTheField", testTaskValidation},
		{"ScheduleStateCreatedWithTask", testScheduleStateOnCreate},
		{"TaskUpdate", testTaskUpdate},
		{"TaskReplaceBumpsRevisionOnScheduleChange", testTaskReplace},
		{"TaskDeleteKeepsOrDeletesRuns", testTaskDelete},
		{"ReturnedRecordsAreCopies", testCopies},
		// Schedules.
		{"DueSchedulesAndAdvance", testDueSchedules},
		{"DispatchIsIdempotentPerOccurrence", testDispatchIdempotent},
		{"DispatchIsRevisionChecked", testDispatchRevision},
		{"PauseKeepsTheCursor", testPause},
		{"MisfirePolicies", testMisfire},
		// Overlap.
		{"SkipPersistsASkippedRun", testOverlapSkip},
		{"QueueNextBlocksClaim", testOverlapQueueNext},
		{"CancelPreviousMarksTheEarlierRun", testOverlapCancelPrevious},
		// Runs.
		{"ManualRuns", testManualRuns},
		{"ClaimableOrderByQueuedAt", testClaimOrder},
		{"ClaimLeaseAttemptCancelFlow", testClaimFlow},
		{"FinishRules", testFinishRules},
		{"AttemptsListedByNumber", testAttemptsByNumber},
		{"DuplicateRunAndAttemptIDsRejected", testDuplicateIDs},
		{"LeaseTokenRequired", testLeaseTokenRequired},
		{"ExpiredLeaseBlocksStaleWrites", testExpiredLease},
		{"RetryDelaySetsFutureQueuedAtAndBlocksClaim", testRetryDelay},
		{"ReleaseReturnsClaimToQueue", testRelease},
		{"CancellationPrecedence", testCancellation},
		{"RecoverExpiredLeases", testRecover},
		{"QueueNextExpiredLeaseStealThenNextClaim", testQueueNextSteal},
		{"RunListFiltersOrderAndPages", testRunList},
		{"StatusCounts", testStatusCounts},
		// Atomicity.
		{"ConcurrentClaimsClaimEachRunOnce", testConcurrentClaims},
		{"ConcurrentDispatchOfOneOccurrence", testConcurrentDispatch},
		{"ConcurrentManualRunsThroughSkipGuard", testConcurrentOverlap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(setup(t, newStore))
		})
	}
	t.Run("PersistsAcrossReopen", func(t *testing.T) {
		t.Parallel()
		if caps.ReopenFunc == nil {
			t.Skip("backend keeps nothing across a restart")
		}
		b := setup(t, newStore)
		testPersistence(b, func() task.Store { return caps.ReopenFunc(t, b.s, b.clock) })
	})
}

// bundle is what one subtest works with.
type bundle struct {
	t     *testing.T
	s     task.Store
	clock *Clock
	ctx   context.Context
}

func setup(t *testing.T, newStore func(*testing.T, *Clock) task.Store) *bundle {
	clock := NewClock(Start)
	return &bundle{t: t, s: newStore(t, clock), clock: clock, ctx: t.Context()}
}

// agent registers an agent with a model config.
func (b *bundle) agent(id string) *task.AgentSpec {
	b.t.Helper()
	a, err := b.s.AgentUpsert(b.ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{
		AgentID:     id,
		ModelConfig: &task.ModelConfig{Provider: "echo"},
	}})
	if err != nil {
		b.t.Fatalf("register agent %s: %v", id, err)
	}
	return a
}

// newTask returns an enabled manual task of agent "agent" that allows
// parallel runs; modify adjusts it.
func newTask(id string, modify ...func(*task.Task)) task.Task {
	tk := task.Task{
		TaskID:        id,
		AgentID:       "agent",
		Query:         "do " + id,
		Schedule:      task.Schedule{Type: task.ScheduleManual},
		Enabled:       true,
		OverlapPolicy: task.OverlapAllowParallel,
	}
	for _, m := range modify {
		m(&tk)
	}
	return tk
}

// task creates tk, registering its agent if needed.
func (b *bundle) task(tk task.Task) *task.Task {
	b.t.Helper()
	if _, err := b.s.AgentGet(b.ctx, &task.AgentGetParams{AgentID: tk.AgentID}); errors.Is(err, task.ErrNotFound) {
		b.agent(tk.AgentID)
	}
	got, err := b.s.TaskCreate(b.ctx, &task.TaskCreateParams{Task: tk})
	if err != nil {
		b.t.Fatalf("create task %s: %v", tk.TaskID, err)
	}
	return got
}

// manual creates a manual run of taskID, named runID when not empty.
func (b *bundle) manual(taskID, runID string) *task.Run {
	b.t.Helper()
	res, err := b.s.RunCreateManual(b.ctx, &task.RunCreateManualParams{TaskID: taskID, RunID: runID})
	if err != nil {
		b.t.Fatalf("create manual run of %s: %v", taskID, err)
	}
	return res.Run
}

// claim claims the next run for worker with the default lease, failing
// when nothing is claimable.
func (b *bundle) claim(worker string) *task.Run {
	b.t.Helper()
	r, err := b.s.RunClaim(b.ctx, &task.RunClaimParams{WorkerID: worker})
	if err != nil {
		b.t.Fatalf("claim for %s: %v", worker, err)
	}
	if r == nil {
		b.t.Fatalf("claim for %s: nothing claimable", worker)
	}
	return r
}

// noClaim fails when anything is claimable.
func (b *bundle) noClaim(worker string) {
	b.t.Helper()
	r, err := b.s.RunClaim(b.ctx, &task.RunClaimParams{WorkerID: worker})
	if err != nil || r != nil {
		b.t.Fatalf("claim for %s: got %v, %v; want nothing", worker, runID(r), err)
	}
}

// start starts a claimed run and opens its next attempt.
func (b *bundle) start(r *task.Run) (*task.Run, *task.Attempt) {
	b.t.Helper()
	if r.Status == task.RunClaimed {
		var err error
		r, err = b.s.RunStart(b.ctx, &task.RunStartParams{RunID: r.RunID, WorkerID: r.LeaseOwner, LeaseToken: r.LeaseToken})
		if err != nil {
			b.t.Fatalf("start run %s: %v", r.RunID, err)
		}
	}
	a, err := b.s.AttemptCreate(b.ctx, &task.AttemptCreateParams{RunID: r.RunID, WorkerID: r.LeaseOwner, LeaseToken: r.LeaseToken})
	if err != nil {
		b.t.Fatalf("open attempt of run %s: %v", r.RunID, err)
	}
	return b.get(r.RunID), a
}

// finish ends a held run as status.
func (b *bundle) finish(r *task.Run, status task.RunStatus) *task.Run {
	b.t.Helper()
	got, err := b.s.RunFinish(b.ctx, &task.RunFinishParams{RunID: r.RunID, WorkerID: r.LeaseOwner, LeaseToken: r.LeaseToken, Status: status})
	if err != nil {
		b.t.Fatalf("finish run %s as %s: %v", r.RunID, status, err)
	}
	return got
}

func (b *bundle) get(id string) *task.Run {
	b.t.Helper()
	r, err := b.s.RunGet(b.ctx, &task.RunGetParams{RunID: id})
	if err != nil {
		b.t.Fatalf("get run %s: %v", id, err)
	}
	return r
}

func (b *bundle) state(taskID string) *task.ScheduleState {
	b.t.Helper()
	st, err := b.s.ScheduleStateGet(b.ctx, &task.ScheduleStateGetParams{TaskID: taskID})
	if err != nil {
		b.t.Fatalf("get schedule state of %s: %v", taskID, err)
	}
	return st
}

func (b *bundle) attempts(runID string) []*task.Attempt {
	b.t.Helper()
	as, err := b.s.AttemptList(b.ctx, &task.AttemptListParams{RunID: runID})
	if err != nil {
		b.t.Fatalf("list attempts of %s: %v", runID, err)
	}
	return as
}

func (b *bundle) due(limit int) []*task.DueSchedule {
	b.t.Helper()
	ds, err := b.s.ScheduleDueList(b.ctx, &task.ScheduleDueListParams{Limit: limit})
	if err != nil {
		b.t.Fatalf("list due schedules: %v", err)
	}
	return ds
}

// dispatch dispatches occ of taskID at revision rev.
func (b *bundle) dispatch(taskID string, rev int64, occ task.Occurrence) *task.RunCreateResult {
	b.t.Helper()
	res, err := b.s.RunDispatchScheduled(b.ctx, &task.RunDispatchScheduledParams{TaskID: taskID, ScheduleRevision: rev, Occurrence: occ})
	if err != nil {
		b.t.Fatalf("dispatch %s of %s: %v", occ.ID, taskID, err)
	}
	return res
}

// wantErr fails unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error = %v, want %v", what, err, target)
	}
}

// wantField fails unless err is a validation error naming field.
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	var ve *task.ValidationError
	if !errors.As(err, &ve) || ve.Field != field {
		t.Errorf("%s: error = %v, want a validation error naming %s", what, err, field)
	}
	wantErr(t, what, err, task.ErrInvalid)
}

// wantNotFound fails unless err is a NotFoundError of kind.
func wantNotFound(t *testing.T, what string, err error, kind string) {
	t.Helper()
	var nf *task.NotFoundError
	if !errors.As(err, &nf) || nf.Kind != kind {
		t.Errorf("%s: error = %v, want %s not found", what, err, kind)
	}
	wantErr(t, what, err, task.ErrNotFound)
}

func runID(r *task.Run) string {
	if r == nil {
		return "<nil>"
	}
	return r.RunID
}

func runIDs(rs []*task.Run) []string {
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.RunID
	}
	return ids
}

func timeEq(a *time.Time, b time.Time) bool { return a != nil && a.Equal(b) }
