package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// Interface guard.
var _ task.Store = (*TaskStore)(nil)

// defaultRecoverLimit bounds one RunRecoverExpired call.
const defaultRecoverLimit = 50

// TaskStore is the in-memory [task.Store]: the original's default. One
// mutex makes every method atomic; the rules come from package task, so
// this type only finds, copies and keeps records. Nothing survives a
// restart, and run history is kept until its task is deleted with its
// runs. The zero value is not usable; call [NewTaskStore].
type TaskStore struct {
	now func() time.Time

	mu       sync.RWMutex
	agents   map[string]*task.AgentSpec
	tasks    map[string]*task.Task
	states   map[string]*task.ScheduleState
	runs     map[string]*task.Run
	attempts map[string]*task.Attempt
	// runAttempts lists each run's attempt ids by attempt number.
	runAttempts map[string][]string
	// taskRuns indexes run ids by task id.
	taskRuns map[string]map[string]struct{}
	// occurrences maps a task id and occurrence id to the run it created.
	occurrences map[string]map[string]string
	// queued and held index the run ids in those states, so claims and
	// recovery do not scan the whole history.
	queued map[string]struct{}
	held   map[string]struct{}
}

// NewTaskStore returns an empty task store that reads the time from
// clock; nil means [time.Now].
func NewTaskStore(clock func() time.Time) *TaskStore {
	if clock == nil {
		clock = time.Now
	}
	return &TaskStore{
		now:         clock,
		agents:      make(map[string]*task.AgentSpec),
		tasks:       make(map[string]*task.Task),
		states:      make(map[string]*task.ScheduleState),
		runs:        make(map[string]*task.Run),
		attempts:    make(map[string]*task.Attempt),
		runAttempts: make(map[string][]string),
		taskRuns:    make(map[string]map[string]struct{}),
		occurrences: make(map[string]map[string]string),
		queued:      make(map[string]struct{}),
		held:        make(map[string]struct{}),
	}
}

// AgentUpsert implements [task.Store].
func (s *TaskStore) AgentUpsert(_ context.Context, p *task.AgentUpsertParams) (*task.AgentSpec, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := task.PrepareAgentUpsert(p, s.agents[p.Spec.AgentID], s.now())
	if err != nil {
		return nil, err
	}
	s.agents[a.AgentID] = a
	return a.Clone(), nil
}

// AgentGet implements [task.Store].
func (s *TaskStore) AgentGet(_ context.Context, p *task.AgentGetParams) (*task.AgentSpec, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.agents[p.AgentID]
	if !ok {
		return nil, &task.NotFoundError{Kind: "agent", ID: p.AgentID}
	}
	return a.Clone(), nil
}

// AgentList implements [task.Store].
func (s *TaskStore) AgentList(context.Context, *task.AgentListParams) ([]*task.AgentSpec, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*task.AgentSpec, 0, len(s.agents))
	for _, a := range s.agents {
		out = append(out, a.Clone())
	}
	slices.SortFunc(out, func(a, b *task.AgentSpec) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.AgentID, b.AgentID))
	})
	return out, nil
}

// AgentDelete implements [task.Store].
func (s *TaskStore) AgentDelete(_ context.Context, p *task.AgentDeleteParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.agents[p.AgentID]; !ok {
		return &task.NotFoundError{Kind: "agent", ID: p.AgentID}
	}
	active := 0
	for _, r := range s.runs {
		if r.AgentID == p.AgentID && r.Status.Active() {
			active++
		}
	}
	if err := task.CheckAgentDelete(p, active); err != nil {
		return err
	}
	delete(s.agents, p.AgentID)
	return nil
}

// TaskCreate implements [task.Store].
func (s *TaskStore) TaskCreate(_ context.Context, p *task.TaskCreateParams) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, agentExists := s.agents[p.Task.AgentID]
	t, st, err := task.PrepareTaskCreate(p, agentExists, s.tasks[p.Task.TaskID], s.states[p.Task.TaskID], s.now())
	if err != nil {
		return nil, err
	}
	s.tasks[t.TaskID], s.states[t.TaskID] = t, st
	return t.Clone(), nil
}

// TaskGet implements [task.Store].
func (s *TaskStore) TaskGet(_ context.Context, p *task.TaskGetParams) (*task.Task, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.task(p.TaskID)
	if err != nil {
		return nil, err
	}
	return t.Clone(), nil
}

// TaskList implements [task.Store].
func (s *TaskStore) TaskList(_ context.Context, p *task.TaskListParams) ([]*task.Task, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*task.Task
	for _, t := range s.tasks {
		if p.AgentID == "" || t.AgentID == p.AgentID {
			out = append(out, t.Clone())
		}
	}
	slices.SortFunc(out, func(a, b *task.Task) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.TaskID, b.TaskID))
	})
	return out, nil
}

// TaskUpdate implements [task.Store].
func (s *TaskStore) TaskUpdate(_ context.Context, p *task.TaskUpdateParams) (*task.Task, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, st, err := s.taskAndState(p.TaskID)
	if err != nil {
		return nil, err
	}
	nt, ns, err := task.PrepareTaskUpdate(t, st, p, s.now())
	if err != nil {
		return nil, err
	}
	s.tasks[nt.TaskID], s.states[nt.TaskID] = nt, ns
	return nt.Clone(), nil
}

// TaskDelete implements [task.Store].
func (s *TaskStore) TaskDelete(_ context.Context, p *task.TaskDeleteParams) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.task(p.TaskID); err != nil {
		return err
	}
	delete(s.tasks, p.TaskID)
	delete(s.states, p.TaskID)
	delete(s.occurrences, p.TaskID)
	if p.DeleteRuns {
		for id := range s.taskRuns[p.TaskID] {
			for _, aid := range s.runAttempts[id] {
				delete(s.attempts, aid)
			}
			delete(s.runAttempts, id)
			delete(s.runs, id)
			delete(s.queued, id)
			delete(s.held, id)
		}
		delete(s.taskRuns, p.TaskID)
	}
	return nil
}

// ScheduleStateGet implements [task.Store].
func (s *TaskStore) ScheduleStateGet(_ context.Context, p *task.ScheduleStateGetParams) (*task.ScheduleState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, st, err := s.taskAndState(p.TaskID)
	if err != nil {
		return nil, err
	}
	return st.Clone(), nil
}

// ScheduleSetPaused implements [task.Store].
func (s *TaskStore) ScheduleSetPaused(_ context.Context, p *task.ScheduleSetPausedParams) (*task.ScheduleState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, st, err := s.taskAndState(p.TaskID)
	if err != nil {
		return nil, err
	}
	ns := task.PrepareScheduleSetPaused(st, p, s.now())
	s.states[p.TaskID] = ns
	return ns.Clone(), nil
}

// ScheduleDueList implements [task.Store].
func (s *TaskStore) ScheduleDueList(_ context.Context, p *task.ScheduleDueListParams) ([]*task.DueSchedule, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	now := s.now()
	limit := p.Limit
	if limit <= 0 {
		limit = task.DefaultDueLimit
	}
	var due []*task.ScheduleState
	for id, st := range s.states {
		if t := s.tasks[id]; t != nil && task.ScheduleDue(t, st, now) {
			due = append(due, st)
		}
	}
	slices.SortFunc(due, task.CompareDue)
	due = due[:min(len(due), limit)]
	out := make([]*task.DueSchedule, 0, len(due))
	for _, st := range due {
		t := s.tasks[st.TaskID]
		plan, err := task.PlanDue(t, st, now, limit)
		if err != nil {
			return nil, fmt.Errorf("list due schedules: %w", err)
		}
		out = append(out, &task.DueSchedule{Task: *t.Clone(), State: *st.Clone(), Plan: plan.Clone()})
	}
	return out, nil
}

// ScheduleAdvance implements [task.Store].
func (s *TaskStore) ScheduleAdvance(_ context.Context, p *task.ScheduleAdvanceParams) (*task.ScheduleState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, st, err := s.taskAndState(p.TaskID)
	if err != nil {
		return nil, err
	}
	ns, err := task.PrepareScheduleAdvance(t, st, p, s.now())
	if err != nil {
		return nil, err
	}
	s.states[p.TaskID] = ns
	return ns.Clone(), nil
}

// RunDispatchScheduled implements [task.Store].
func (s *TaskStore) RunDispatchScheduled(_ context.Context, p *task.RunDispatchScheduledParams) (*task.RunCreateResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, st, err := s.taskAndState(p.TaskID)
	if err != nil {
		return nil, err
	}
	if id, ok := s.occurrences[p.TaskID][p.Occurrence.ID]; ok {
		if r := s.runs[id]; r != nil {
			return &task.RunCreateResult{Run: r.Clone()}, nil
		}
	}
	if err := s.runIDFree(p.RunID); err != nil {
		return nil, err
	}
	res, ns, err := task.PrepareDispatch(t, st, p, s.activeRuns(p.TaskID), s.now())
	if err != nil {
		return nil, err
	}
	if err := s.runIDFree(res.Run.RunID); err != nil {
		return nil, err
	}
	s.states[p.TaskID] = ns
	if s.occurrences[p.TaskID] == nil {
		s.occurrences[p.TaskID] = make(map[string]string)
	}
	s.occurrences[p.TaskID][p.Occurrence.ID] = res.Run.RunID
	return s.keepCreated(res), nil
}

// RunCreateManual implements [task.Store].
func (s *TaskStore) RunCreateManual(_ context.Context, p *task.RunCreateManualParams) (*task.RunCreateResult, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.task(p.TaskID)
	if err != nil {
		return nil, err
	}
	if err := s.runIDFree(p.RunID); err != nil {
		return nil, err
	}
	res, err := task.PrepareManualRun(t, p, s.activeRuns(p.TaskID), s.now())
	if err != nil {
		return nil, err
	}
	if err := s.runIDFree(res.Run.RunID); err != nil {
		return nil, err
	}
	return s.keepCreated(res), nil
}

// keepCreated stores a new run and the runs its overlap policy changed,
// and returns copies of them.
func (s *TaskStore) keepCreated(res *task.RunCreateResult) *task.RunCreateResult {
	r := res.Run
	s.put(r)
	if s.taskRuns[r.TaskID] == nil {
		s.taskRuns[r.TaskID] = make(map[string]struct{})
	}
	s.taskRuns[r.TaskID][r.RunID] = struct{}{}
	out := &task.RunCreateResult{Run: r.Clone(), Created: true}
	for _, c := range res.Cancelled {
		s.put(c)
		out.Cancelled = append(out.Cancelled, c.Clone())
	}
	return out
}

// RunClaim implements [task.Store].
func (s *TaskStore) RunClaim(_ context.Context, p *task.RunClaimParams) (*task.Run, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var candidates []*task.Run
	if p.RunID != "" {
		if r := s.runs[p.RunID]; r != nil && task.Claimable(r, now) {
			candidates = append(candidates, r)
		}
	} else {
		for id := range s.queued {
			if r := s.runs[id]; task.Claimable(r, now) {
				candidates = append(candidates, r)
			}
		}
		slices.SortFunc(candidates, task.CompareRunOrder)
	}
	for _, c := range candidates {
		if c.OverlapPolicy == task.OverlapQueueNext && task.Blocked(c, s.activeRuns(c.TaskID)) {
			continue
		}
		r := c.Clone()
		if err := task.ApplyClaim(r, p, now); err != nil {
			return nil, err
		}
		s.put(r)
		return r.Clone(), nil
	}
	return nil, nil
}

// LeaseRenew implements [task.Store].
func (s *TaskStore) LeaseRenew(_ context.Context, p *task.LeaseRenewParams) (*task.Run, error) {
	return s.updateRun(p.RunID, func(r *task.Run, now time.Time) error { return task.ApplyLeaseRenew(r, p, now) })
}

// RunStart implements [task.Store].
func (s *TaskStore) RunStart(_ context.Context, p *task.RunStartParams) (*task.Run, error) {
	return s.updateRun(p.RunID, func(r *task.Run, now time.Time) error { return task.ApplyStart(r, p, now) })
}

// RunHeartbeat implements [task.Store].
func (s *TaskStore) RunHeartbeat(_ context.Context, p *task.RunHeartbeatParams) (*task.Run, error) {
	return s.updateRun(p.RunID, func(r *task.Run, now time.Time) error { return task.ApplyHeartbeat(r, p, now) })
}

// RunFinish implements [task.Store].
func (s *TaskStore) RunFinish(_ context.Context, p *task.RunFinishParams) (*task.Run, error) {
	return s.updateRunAndAttempt(p.RunID, func(r *task.Run, a *task.Attempt, now time.Time) error {
		return task.ApplyFinish(r, a, p, now)
	})
}

// RunRetry implements [task.Store].
func (s *TaskStore) RunRetry(_ context.Context, p *task.RunRetryParams) (*task.Run, error) {
	return s.updateRunAndAttempt(p.RunID, func(r *task.Run, a *task.Attempt, now time.Time) error {
		return task.ApplyRetry(r, a, p, now)
	})
}

// RunRelease implements [task.Store].
func (s *TaskStore) RunRelease(_ context.Context, p *task.RunReleaseParams) (*task.Run, error) {
	return s.updateRun(p.RunID, func(r *task.Run, now time.Time) error { return task.ApplyRelease(r, p, now) })
}

// RunCancel implements [task.Store].
func (s *TaskStore) RunCancel(_ context.Context, p *task.RunCancelParams) (*task.Run, error) {
	return s.updateRun(p.RunID, func(r *task.Run, now time.Time) error {
		task.ApplyCancel(r, now)
		return nil
	})
}

// RunRecoverExpired implements [task.Store].
func (s *TaskStore) RunRecoverExpired(_ context.Context, p *task.RunRecoverExpiredParams) ([]*task.RunRecovery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	var expired []*task.Run
	for id := range s.held {
		if r := s.runs[id]; task.Expired(r, now) {
			expired = append(expired, r)
		}
	}
	slices.SortFunc(expired, func(a, b *task.Run) int {
		return cmp.Or(a.LeaseExpiresAt.Compare(*b.LeaseExpiresAt), cmp.Compare(a.RunID, b.RunID))
	})
	limit := p.Limit
	if limit <= 0 {
		limit = defaultRecoverLimit
	}
	var out []*task.RunRecovery
	for _, e := range expired[:min(len(expired), limit)] {
		r, a := e.Clone(), s.currentAttempt(e.RunID).Clone()
		_, taskExists := s.tasks[r.TaskID]
		outcome, ok := task.ApplyRecover(r, a, taskExists, now)
		if !ok {
			continue
		}
		s.keepRunAndAttempt(r, a)
		out = append(out, &task.RunRecovery{Run: r.Clone(), PreviousStatus: e.Status, Outcome: outcome})
	}
	return out, nil
}

// RunGet implements [task.Store].
func (s *TaskStore) RunGet(_ context.Context, p *task.RunGetParams) (*task.Run, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, err := s.run(p.RunID)
	if err != nil {
		return nil, err
	}
	return r.Clone(), nil
}

// RunList implements [task.Store].
func (s *TaskStore) RunList(_ context.Context, p *task.RunListParams) ([]*task.Run, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*task.Run
	for _, r := range s.runs {
		if p.Matches(r) {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, task.CompareRunOrder)
	if p.Limit > 0 && len(out) > p.Limit {
		out = out[:p.Limit]
	}
	for i, r := range out {
		out[i] = r.Clone()
	}
	return out, nil
}

// RunCountByStatus implements [task.Store].
func (s *TaskStore) RunCountByStatus(_ context.Context, p *task.RunCountByStatusParams) (map[task.RunStatus]int, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	counts := task.NewStatusCounts()
	for _, r := range s.runs {
		if (p.TaskID == "" || r.TaskID == p.TaskID) && (p.AgentID == "" || r.AgentID == p.AgentID) {
			counts[r.Status]++
		}
	}
	return counts, nil
}

// AttemptCreate implements [task.Store].
func (s *TaskStore) AttemptCreate(_ context.Context, p *task.AttemptCreateParams) (*task.Attempt, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.run(p.RunID)
	if err != nil {
		return nil, err
	}
	r := cur.Clone()
	a, err := task.PrepareAttempt(r, s.currentAttempt(r.RunID), p, s.now())
	if err != nil {
		return nil, err
	}
	if _, taken := s.attempts[a.AttemptID]; taken {
		return nil, &task.AlreadyExistsError{Kind: "attempt", ID: a.AttemptID}
	}
	s.put(r)
	s.attempts[a.AttemptID] = a
	s.runAttempts[r.RunID] = append(s.runAttempts[r.RunID], a.AttemptID)
	return a.Clone(), nil
}

// AttemptList implements [task.Store].
func (s *TaskStore) AttemptList(_ context.Context, p *task.AttemptListParams) ([]*task.Attempt, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if _, err := s.run(p.RunID); err != nil {
		return nil, err
	}
	ids := s.runAttempts[p.RunID]
	out := make([]*task.Attempt, 0, len(ids))
	for _, id := range ids {
		out = append(out, s.attempts[id].Clone())
	}
	slices.SortFunc(out, func(a, b *task.Attempt) int { return cmp.Compare(a.AttemptNumber, b.AttemptNumber) })
	return out, nil
}

// task returns the stored task id. The caller holds s.mu.
func (s *TaskStore) task(id string) (*task.Task, error) {
	t, ok := s.tasks[id]
	if !ok {
		return nil, &task.NotFoundError{Kind: "task", ID: id}
	}
	return t, nil
}

// taskAndState returns the stored task id and its schedule state. The
// caller holds s.mu.
func (s *TaskStore) taskAndState(id string) (*task.Task, *task.ScheduleState, error) {
	t, err := s.task(id)
	if err != nil {
		return nil, nil, err
	}
	st, ok := s.states[id]
	if !ok {
		return nil, nil, &task.NotFoundError{Kind: "schedule state", ID: id}
	}
	return t, st, nil
}

// run returns the stored run id. The caller holds s.mu.
func (s *TaskStore) run(id string) (*task.Run, error) {
	r, ok := s.runs[id]
	if !ok {
		return nil, &task.NotFoundError{Kind: "run", ID: id}
	}
	return r, nil
}

// runIDFree reports whether id may name a new run; empty means a
// generated id. The caller holds s.mu.
func (s *TaskStore) runIDFree(id string) error {
	if _, taken := s.runs[id]; id != "" && taken {
		return &task.AlreadyExistsError{Kind: "run", ID: id}
	}
	return nil
}

// activeRuns returns copies of the active runs of task taskID. The caller
// holds s.mu.
func (s *TaskStore) activeRuns(taskID string) []*task.Run {
	var out []*task.Run
	for id := range s.taskRuns[taskID] {
		if r := s.runs[id]; r != nil && r.Status.Active() {
			out = append(out, r.Clone())
		}
	}
	return out
}

// currentAttempt returns the stored latest attempt of run runID, or nil.
// The caller holds s.mu.
func (s *TaskStore) currentAttempt(runID string) *task.Attempt {
	ids := s.runAttempts[runID]
	if len(ids) == 0 {
		return nil
	}
	return s.attempts[ids[len(ids)-1]]
}

// put stores r and files it in the status indexes. The caller holds s.mu.
func (s *TaskStore) put(r *task.Run) {
	s.runs[r.RunID] = r
	delete(s.queued, r.RunID)
	delete(s.held, r.RunID)
	switch {
	case r.Status == task.RunQueued:
		s.queued[r.RunID] = struct{}{}
	case r.Status.Held():
		s.held[r.RunID] = struct{}{}
	}
}

// keepRunAndAttempt stores r and, when not nil, a. The caller holds s.mu.
func (s *TaskStore) keepRunAndAttempt(r *task.Run, a *task.Attempt) {
	s.put(r)
	if a != nil {
		s.attempts[a.AttemptID] = a
	}
}

// updateRun applies fn to a copy of run id and stores it on success.
func (s *TaskStore) updateRun(id string, fn func(*task.Run, time.Time) error) (*task.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.run(id)
	if err != nil {
		return nil, err
	}
	r := cur.Clone()
	if err := fn(r, s.now()); err != nil {
		return nil, err
	}
	s.put(r)
	return r.Clone(), nil
}

// updateRunAndAttempt applies fn to copies of run id and its latest
// attempt and stores both on success.
func (s *TaskStore) updateRunAndAttempt(id string, fn func(*task.Run, *task.Attempt, time.Time) error) (*task.Run, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.run(id)
	if err != nil {
		return nil, err
	}
	r, a := cur.Clone(), s.currentAttempt(id).Clone()
	if err := fn(r, a, s.now()); err != nil {
		return nil, err
	}
	s.keepRunAndAttempt(r, a)
	return r.Clone(), nil
}
