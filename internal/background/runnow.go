package background

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// RunNowParams are the parameters of [Manager.RunNow].
type RunNowParams struct {
	// TaskID names the task; required.
	TaskID string
	// Query overrides the task's query for this run; empty means the
	// task's.
	Query string
	// TriggerMetadata describes the request, kept on the run.
	TriggerMetadata map[string]any
	// Wait makes RunNow return only when the run has ended, or when
	// WaitBudget is spent.
	Wait bool
	// WaitBudget bounds the wait; zero means no bound. Without a bound
	// and without a running worker, RunNow returns as soon as the inline
	// attempt ends with the run delayed (a retry delay) or blocked (an
	// earlier queue_next run), as the original does.
	WaitBudget time.Duration
}

// RunNow creates a manual run of a task through its overlap policy and
// returns it, queued or skipped. A disabled task is [task.ErrTaskDisabled]
// and a missing one [task.ErrNotFound].
//
// With Wait it returns once the run is terminal. While this process's
// worker runs, it waits for the run to be executed by any worker,
// watching this process's events and reading the store every
// WaitPollInterval. Without a running worker it executes the run inline:
// it claims that run, and no other, and runs its attempt here, again
// after a retry delay while the budget lasts. When the budget is spent
// it returns the run's latest state and [ErrWaitTimeout]; the run keeps
// executing. When ctx ends first it returns the latest state and ctx's
// cause.
func (m *Manager) RunNow(ctx context.Context, p RunNowParams) (*task.Run, error) {
	if m.isStopping() {
		return nil, fmt.Errorf("run task %s: %w", p.TaskID, ErrStopped)
	}
	t, err := m.cfg.Store.TaskGet(ctx, &task.TaskGetParams{TaskID: p.TaskID})
	if err != nil {
		return nil, fmt.Errorf("run task %s: %w", p.TaskID, err)
	}
	// The run is named here so its creation events go out before any
	// other event of it in this process.
	runID := task.NewRunID()
	created := m.creation(runID)
	res, err := m.cfg.Store.RunCreateManual(ctx, &task.RunCreateManualParams{
		TaskID:          p.TaskID,
		RunID:           runID,
		Query:           p.Query,
		TriggerMetadata: p.TriggerMetadata,
		Metadata:        createdMetadata(false),
	})
	if err != nil {
		created()
		return nil, fmt.Errorf("run task %s: %w", p.TaskID, err)
	}
	m.emitCreated(ctx, res, t)
	created()
	r := res.Run
	if !p.Wait || r.Status.Terminal() {
		return r, nil
	}
	return m.wait(ctx, r, p.WaitBudget)
}

// wait waits for run r to end; see [Manager.RunNow].
func (m *Manager) wait(ctx context.Context, r *task.Run, budget time.Duration) (*task.Run, error) {
	var expired <-chan time.Time
	if budget > 0 {
		timer := time.NewTimer(budget)
		defer timer.Stop()
		expired = timer.C
	}
	poll := time.NewTicker(m.cfg.WaitPollInterval)
	defer poll.Stop()
	latest := r
	for {
		w := m.watch(r.RunID)
		done, err := m.waitStep(ctx, r.RunID, budget, &latest)
		if done || err != nil {
			m.unwatch(r.RunID, w)
			return latest, err
		}
		select {
		case <-w.ch:
		case <-poll.C:
		case <-expired:
			m.unwatch(r.RunID, w)
			if cur, err := m.cfg.Store.RunGet(context.WithoutCancel(ctx), &task.RunGetParams{RunID: r.RunID}); err == nil {
				latest = cur
			}
			return latest, fmt.Errorf("wait for run %s after %s: %w", r.RunID, budget, ErrWaitTimeout)
		case <-ctx.Done():
			m.unwatch(r.RunID, w)
			return latest, fmt.Errorf("wait for run %s: %w", r.RunID, context.Cause(ctx))
		}
		m.unwatch(r.RunID, w)
	}
}

// waitStep reads the run into *latest and, without a running worker,
// executes it inline when it is claimable. It reports whether waiting is
// over.
func (m *Manager) waitStep(ctx context.Context, runID string, budget time.Duration, latest **task.Run) (bool, error) {
	cur, err := m.cfg.Store.RunGet(ctx, &task.RunGetParams{RunID: runID})
	if err != nil {
		return false, fmt.Errorf("wait for run %s: %w", runID, err)
	}
	*latest = cur
	if cur.Status.Terminal() {
		// An execution here ends after its terminal event: wait for it,
		// so the caller never sees the end before the event.
		return !m.executing(runID), nil
	}
	if m.isRunning() || cur.Status != task.RunQueued {
		return false, nil
	}
	started, err := m.runInline(ctx, runID)
	switch {
	case errors.Is(err, ErrStopped):
		return false, fmt.Errorf("wait for run %s: %w", runID, err)
	case err != nil:
		// A failed claim is retried at the next poll.
		m.logger.WarnContext(ctx, "claim run inline", "run_id", runID, "error", err)
	case !started && budget <= 0 && !m.executing(runID):
		// Delayed or blocked, and no budget to wait it out.
		return true, nil
	}
	return false, nil
}

// runInline claims run runID and executes it on a goroutine of its own,
// which outlives ctx. It reports false when the run is not claimable now
// or already executes here.
func (m *Manager) runInline(ctx context.Context, runID string) (bool, error) {
	if m.isStopping() {
		return false, ErrStopped
	}
	exCtx, ex := m.registerInline(ctx, runID)
	if ex == nil {
		return false, nil
	}
	r, err := m.cfg.Store.RunClaim(ctx, &task.RunClaimParams{WorkerID: m.cfg.WorkerID, LeaseDuration: m.cfg.LeaseDuration, RunID: runID})
	if err != nil || r == nil {
		m.unregister(ex)
		return false, err
	}
	m.startExecution(exCtx, r, ex, nil)
	return true, nil
}

func (m *Manager) isStopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopping
}

func (m *Manager) isRunning() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

func (m *Manager) executing(runID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.byRun[runID]
	return ok
}
