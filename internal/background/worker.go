package background

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// workLoop claims queued runs while a slot is free and hands each to an
// execution goroutine. It sleeps when nothing is claimable, until a kick
// from this process (a run enqueued, one finished) or the poll interval,
// which finds work enqueued by other processes.
func (m *Manager) workLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case m.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		r, err := m.cfg.Store.RunClaim(ctx, &task.RunClaimParams{WorkerID: m.cfg.WorkerID, LeaseDuration: m.cfg.LeaseDuration})
		if err == nil && r != nil {
			exCtx, ex := m.registerClaimed(ctx, r.RunID)
			m.startExecution(exCtx, r, ex, func() {
				<-m.slots
				m.kick()
			})
			continue
		}
		<-m.slots
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.logger.WarnContext(ctx, "claim run", "error", err)
		}
		timer.Reset(m.idleWait())
		select {
		case <-m.wake:
		case <-timer.C:
		case <-ctx.Done():
			return
		}
	}
}

// execution is one run this process holds. Its fields belong to the
// execution goroutine, which lends them to the heartbeat goroutine while
// the handler runs.
type execution struct {
	runID string
	// cancel cancels the handler's context with the reason the run must
	// stop.
	cancel context.CancelCauseFunc

	// gen is the lease generation of the claim; math.MaxInt64 until an
	// inline claim is made.
	gen   int64
	run   *task.Run
	token string
	task  *task.Task
	// last is the last sequence number emitted; reserved the highest
	// recorded in the run's metadata.
	last, reserved int64
}

// registerClaimed records that this process executes runID, which its
// worker loop just claimed, and returns the handler's context and the
// execution. The claim proves that an older execution of the run here, if
// any, lost its lease: the new one replaces it as the one cancellation
// reaches. The worker loop registers only before Stop waits for it; a run
// it claims while stopping is released instead of started. parent
// carries values to the handler; its cancellation does not reach it.
func (m *Manager) registerClaimed(parent context.Context, runID string) (context.Context, *execution) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ctx, ex := m.addLocked(parent, runID)
	if m.stopping {
		ex.cancel(errWorkerShutdown)
	}
	return ctx, ex
}

// registerInline is registerClaimed for a run about to be claimed
// inline. It returns a nil execution when the manager is stopping or this
// process already executes the run.
func (m *Manager) registerInline(parent context.Context, runID string) (context.Context, *execution) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, busy := m.byRun[runID]; busy || m.stopping {
		return nil, nil
	}
	return m.addLocked(parent, runID)
}

// addLocked records a new execution of runID. m.mu must be held.
func (m *Manager) addLocked(parent context.Context, runID string) (context.Context, *execution) {
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(parent))
	ex := &execution{runID: runID, cancel: cancel, gen: math.MaxInt64}
	m.execs[ex] = struct{}{}
	m.byRun[runID] = ex
	return ctx, ex
}

// unregister forgets ex and, once Stop waits and nothing executes,
// tells it.
func (m *Manager) unregister(ex *execution) {
	ex.cancel(context.Canceled)
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.execs, ex)
	if m.byRun[ex.runID] == ex {
		delete(m.byRun, ex.runID)
	}
	if m.drained != nil && len(m.execs) == 0 {
		select {
		case <-m.drained:
		default:
			close(m.drained)
		}
	}
}

// startExecution runs claimed run r, registered as ex with handler
// context ctx, on its own goroutine; done, when not nil, is called when it
// ends.
func (m *Manager) startExecution(ctx context.Context, r *task.Run, ex *execution, done func()) {
	m.mu.Lock()
	ex.gen = r.LeaseGeneration
	m.mu.Unlock()
	ex.run, ex.token = r, r.LeaseToken
	go func() {
		defer func() {
			m.unregister(ex)
			if done != nil {
				done()
			}
			m.notify(ex.runID)
		}()
		m.execute(ctx, ex)
	}()
}

// execute holds a claimed run to the end of its attempt: it records the
// claim, starts the run and opens an attempt (then emits started), calls
// the handler under heartbeats and records the outcome. ctx is the handler's context; store
// writes outlive its cancellation.
func (m *Manager) execute(ctx context.Context, ex *execution) {
	wctx := context.WithoutCancel(ctx)
	t, err := m.storeTask(wctx, ex.run.TaskID)
	if err != nil {
		m.abandon(wctx, ex, "read task", err)
		return
	}
	ex.task = t
	ex.last = seqAfterClaim(ex.run) - 1
	ex.reserved = ex.last
	// Reserve the claimed event and the one after it, whichever it is:
	// started, queued (released), cancelled or failed.
	if err := m.reserveClaim(wctx, ex); err != nil {
		m.abandon(wctx, ex, "record claim", err)
		return
	}
	m.awaitCreation(ex.runID)
	m.emitHeld(wctx, ex, EventRunClaimed, ex.run, eventExtra{})

	switch cause := context.Cause(ctx); {
	case t == nil:
		m.finish(wctx, ex, task.RunFailed, "task missing", "")
		return
	case errors.Is(cause, errRunCancelled):
		m.finish(wctx, ex, task.RunCancelled, "", "")
		return
	case errors.Is(cause, errWorkerShutdown):
		m.release(wctx, ex)
		return
	case errors.Is(cause, errLeaseLost):
		m.abandon(wctx, ex, "start", cause)
		return
	}
	r, err := m.cfg.Store.RunStart(wctx, &task.RunStartParams{RunID: ex.runID, WorkerID: m.cfg.WorkerID, LeaseToken: ex.token})
	switch {
	case errors.Is(err, task.ErrCancelled):
		m.finish(wctx, ex, task.RunCancelled, "", "")
		return
	case err != nil:
		m.abandon(wctx, ex, "start", err)
		return
	}
	ex.run = r
	var reason task.AttemptReason
	if r.Attempt > 0 && r.Error == "lease expired" {
		// Recovery requeued the run after its holder was lost.
		reason = task.AttemptRecovery
	}
	a, err := m.cfg.Store.AttemptCreate(wctx, &task.AttemptCreateParams{
		RunID: ex.runID, WorkerID: m.cfg.WorkerID, LeaseToken: ex.token, Reason: reason,
	})
	switch {
	case errors.Is(err, task.ErrCancelled):
		m.finish(wctx, ex, task.RunCancelled, "", "")
		return
	case err != nil:
		m.abandon(wctx, ex, "open attempt", err)
		return
	}
	run := r.Clone()
	run.Attempt = a.AttemptNumber
	ex.run = run
	m.emitHeld(wctx, ex, EventRunStarted, run, eventExtra{})
	m.attempt(ctx, ex, a)
}

// attempt calls the handler for attempt a under heartbeats and records
// the outcome.
func (m *Manager) attempt(ctx context.Context, ex *execution, a *task.Attempt) {
	wctx := context.WithoutCancel(ctx)
	run := ex.run
	actx, cancelTimeout := ctx, context.CancelFunc(func() {})
	if ts := ex.task.TimeoutSeconds; ts != nil && *ts > 0 {
		actx, cancelTimeout = context.WithTimeoutCause(ctx, time.Duration(*ts)*time.Second, errAttemptTimeout)
	}
	// Heartbeats go on while a cancelled handler winds down.
	hbCtx, stopHeartbeat := context.WithCancel(wctx)
	var hb sync.WaitGroup
	hb.Go(func() { m.heartbeatLoop(hbCtx, ex) })

	var res RunResult
	herr := context.Cause(actx)
	if herr == nil {
		req := RunRequest{
			Run:           run.Clone(),
			Task:          ex.task.Clone(),
			Attempt:       a.Clone(),
			SessionID:     run.SessionID,
			WorkspacePath: run.WorkspacePath,
			Query:         m.cfg.PrepareQueryFunc(run.Clone(), ex.task.Clone()),
		}
		// The last checkpoint before the agent is called.
		if herr = context.Cause(actx); herr == nil {
			res, herr = m.call(actx, req)
		}
	}
	cause := context.Cause(actx)
	cancelTimeout()
	stopHeartbeat()
	hb.Wait()

	switch {
	case errors.Is(cause, errLeaseLost):
		m.abandon(wctx, ex, "finish attempt", cause)
	case errors.Is(cause, errRunCancelled):
		m.finish(wctx, ex, task.RunCancelled, "", "")
	case herr == nil:
		m.finish(wctx, ex, task.RunCompleted, "", cmp.Or(res.Preview, res.Response))
	case errors.Is(cause, errAttemptTimeout):
		m.fail(wctx, ex, a, task.FailureTimeout, fmt.Sprintf("attempt timed out after %ds", *ex.task.TimeoutSeconds))
	case errors.Is(cause, errWorkerShutdown):
		m.fail(wctx, ex, a, task.FailureException, errWorkerShutdown.Error())
	default:
		m.fail(wctx, ex, a, task.FailureException, herr.Error())
	}
}

// call calls the handler, turning a panic into an error so one bad run
// cannot take the server down.
func (m *Manager) call(ctx context.Context, req RunRequest) (res RunResult, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("run handler panicked: %v", p)
		}
	}()
	return m.cfg.Handler.Run(ctx, req)
}

// heartbeatLoop renews the lease every lease/4 while the handler runs,
// emits a heartbeat event for each renewal, and cancels the handler when
// the run's cancellation was requested or the lease was lost.
func (m *Manager) heartbeatLoop(ctx context.Context, ex *execution) {
	tick := time.NewTicker(m.heartbeat)
	defer tick.Stop()
	wctx := context.WithoutCancel(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		err := m.reserve(wctx, ex, 1)
		switch {
		case errors.Is(err, task.ErrLeaseLost):
			m.logger.WarnContext(ctx, "heartbeat lost the lease", "run_id", ex.runID, "error", err)
			ex.cancel(errLeaseLost)
			return
		case err != nil:
			// The lease may still hold; the next tick tries again.
			m.logger.WarnContext(ctx, "heartbeat", "run_id", ex.runID, "error", err)
			continue
		}
		m.emitHeld(wctx, ex, EventRunHeartbeat, ex.run, eventExtra{})
		if ex.run.CancelRequestedAt != nil {
			ex.cancel(errRunCancelled)
		}
	}
}

// reserve writes a heartbeat that renews the lease and records in the
// run's metadata that n sequence numbers after the last one emitted are
// taken. It is also the checkpoint that reveals a cancellation.
func (m *Manager) reserve(ctx context.Context, ex *execution, n int64) error {
	target := max(ex.reserved, ex.last+n)
	r, err := m.cfg.Store.RunHeartbeat(ctx, &task.RunHeartbeatParams{
		RunID: ex.runID, WorkerID: m.cfg.WorkerID, LeaseToken: ex.token,
		LeaseDuration: m.cfg.LeaseDuration,
		Metadata:      seqMetadata(target, ex.run.LeaseGeneration),
	})
	if err != nil {
		return err
	}
	r.Attempt = max(r.Attempt, ex.run.Attempt)
	ex.run, ex.reserved = r, target
	return nil
}

// claimTries bounds the tries of the first write after a claim; they are
// a heartbeat apart, so all fit in the lease.
const claimTries = 3

// reserveClaim is the first write after a claim: reserve 2, tried again
// a heartbeat later after a failure other than a lost lease, since
// giving up leaves the run claimed until its lease expires.
func (m *Manager) reserveClaim(ctx context.Context, ex *execution) error {
	var err error
	for try := range claimTries {
		if try > 0 {
			m.logger.WarnContext(ctx, "record claim; trying again", "run_id", ex.runID, "error", err)
			time.Sleep(m.heartbeat)
		}
		if err = m.reserve(ctx, ex, 2); err == nil || errors.Is(err, task.ErrLeaseLost) {
			return err
		}
	}
	return err
}

// emitHeld emits the next event of a held run.
func (m *Manager) emitHeld(ctx context.Context, ex *execution, name string, r *task.Run, x eventExtra) {
	ex.last++
	m.emit(ctx, name, ex.last, r, ex.task, x)
}

// fail records a failed attempt: requeued after the retry policy's delay
// when it allows, else the run ends failed or timeout. A cancellation
// requested meanwhile ends it cancelled instead.
func (m *Manager) fail(ctx context.Context, ex *execution, a *task.Attempt, reason task.FailureReason, msg string) {
	retry, delay := ex.task.RetryPolicy.Decide(a.AttemptNumber, reason)
	final, attemptStatus := task.RunFailed, task.AttemptFailed
	if reason == task.FailureTimeout {
		final, attemptStatus = task.RunTimeout, task.AttemptTimeout
	}
	var n int64
	if retry {
		n = 2 // retrying, queued
	}
	// The checkpoint after the attempt: renews the lease, reveals a
	// cancellation and reserves the retry's events.
	if err := m.reserve(ctx, ex, n); err != nil {
		m.abandon(ctx, ex, "record failure", err)
		return
	}
	switch {
	case ex.run.CancelRequestedAt != nil:
		m.finish(ctx, ex, task.RunCancelled, "", "")
		return
	case !retry:
		m.finish(ctx, ex, final, msg, "")
		return
	}
	before := ex.run
	r, err := m.cfg.Store.RunRetry(ctx, &task.RunRetryParams{
		RunID: ex.runID, WorkerID: m.cfg.WorkerID, LeaseToken: ex.token,
		Delay: delay, Error: msg, AttemptStatus: attemptStatus,
	})
	switch {
	case errors.Is(err, task.ErrCancelled):
		m.finish(ctx, ex, task.RunCancelled, "", "")
		return
	case err != nil:
		m.abandon(ctx, ex, "retry", err)
		return
	}
	ex.run = r
	secs := delay.Seconds()
	m.emitHeld(ctx, ex, EventRunRetrying, before, eventExtra{status: task.RunRetrying, err: msg, retryDelay: &secs})
	m.emitHeld(ctx, ex, EventRunQueued, r, eventExtra{})
	if delay > 0 {
		m.wakeLater(m.cfg.ClockFunc().Add(delay))
	}
	m.kick()
}

// finish ends the run as status. A completion refused because the run's
// cancellation was requested ends it cancelled instead.
func (m *Manager) finish(ctx context.Context, ex *execution, status task.RunStatus, msg, preview string) {
	p := &task.RunFinishParams{
		RunID: ex.runID, WorkerID: m.cfg.WorkerID, LeaseToken: ex.token,
		Status: status, Error: msg, ResultPreview: preview,
	}
	r, err := m.cfg.Store.RunFinish(ctx, p)
	if status == task.RunCompleted && errors.Is(err, task.ErrCancelled) {
		p.Status, p.ResultPreview = task.RunCancelled, ""
		r, err = m.cfg.Store.RunFinish(ctx, p)
	}
	if err != nil {
		m.abandon(ctx, ex, "finish", err)
		return
	}
	ex.run = r
	m.emitHeld(ctx, ex, terminalEvent(r.Status), r, eventExtra{err: msg})
}

// release returns a claimed run this worker will not start, because it is
// stopping, to the queue in its place.
func (m *Manager) release(ctx context.Context, ex *execution) {
	r, err := m.cfg.Store.RunRelease(ctx, &task.RunReleaseParams{RunID: ex.runID, WorkerID: m.cfg.WorkerID, LeaseToken: ex.token})
	switch {
	case errors.Is(err, task.ErrCancelled):
		m.finish(ctx, ex, task.RunCancelled, "", "")
		return
	case err != nil:
		m.abandon(ctx, ex, "release", err)
		return
	}
	ex.run = r
	m.emitHeld(ctx, ex, EventRunQueued, r, eventExtra{})
}

// abandon stops working on a run whose state this worker can no longer
// write. Its lease expires and recovery, in any process, takes it over.
func (m *Manager) abandon(ctx context.Context, ex *execution, op string, err error) {
	lvl := m.logger.ErrorContext
	if errors.Is(err, task.ErrLeaseLost) || errors.Is(err, errLeaseLost) {
		lvl = m.logger.WarnContext
	}
	lvl(ctx, "abandon background run; recovery takes it over when its lease expires",
		"run_id", ex.runID, "op", op, "error", err)
}
