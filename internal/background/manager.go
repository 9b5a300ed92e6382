package background

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// Errors callers branch on.
var (
	// ErrStopped reports a call on a manager that was stopped.
	ErrStopped = errors.New("background: manager stopped")
	// ErrWaitTimeout reports that [Manager.RunNow] with Wait gave up
	// before the run ended; the run keeps executing. The run returned
	// with it is its latest state.
	ErrWaitTimeout = errors.New("background: run did not finish within the wait budget")
)

// Causes given to cancelled contexts, so an ending execution knows why.
var (
	// errStopped ends the loops.
	errStopped = errors.New("background manager stopped")
	// errWorkerShutdown ends a handler the manager stopped waiting for.
	errWorkerShutdown = errors.New("worker shutdown")
	// errRunCancelled ends a handler whose run's cancellation was
	// requested.
	errRunCancelled = errors.New("run cancelled")
	// errLeaseLost ends a handler whose run's lease this worker lost.
	errLeaseLost = errors.New("lease lost")
	// errAttemptTimeout ends a handler that outlived the task's timeout.
	errAttemptTimeout = errors.New("attempt timed out")
)

// Manager runs background work over a [task.Store]: a scheduler that
// dispatches due schedule occurrences, a worker that claims queued runs
// and executes them through a [RunHandler] under renewed leases, and a
// recovery loop that takes over runs whose holder died. Any number of
// managers, in one process or many, may share a store. Create one with
// [New]; it is safe for concurrent use.
type Manager struct {
	cfg    Config
	logger *slog.Logger
	// heartbeat is how often a held run's lease is renewed.
	heartbeat time.Duration

	// wake wakes the worker loop and schedWake the scheduler loop; sends
	// never block.
	wake, schedWake chan struct{}
	// slots holds one token per run the worker loop is executing.
	slots chan struct{}

	mu sync.Mutex
	// started and stopping record Start and Stop; running is true while
	// the loops run.
	started, stopping, running bool
	cancelLoops                context.CancelCauseFunc
	// loopsDone is closed when the loops have ended; nil before Start.
	loopsDone chan struct{}
	// execs are the executions of this process, the ones winding down
	// after losing their lease included; byRun holds the newest per run,
	// the one cancellation reaches.
	execs map[*execution]struct{}
	byRun map[string]*execution
	// drained is made by Stop and closed when execs is empty.
	drained chan struct{}
	// watchers wake [Manager.RunNow] waiters when a run has an event.
	watchers map[string]*watcher
	// creating holds, per run id, a channel closed once the creator of
	// the run has emitted its creation events, so that this process never
	// emits a later event of the run before them.
	creating map[string]chan struct{}
	// wakeAt is the earliest time a run this process requeued becomes
	// claimable; zero when none is known.
	wakeAt time.Time
}

// New validates cfg and returns a manager that executes nothing until
// [Manager.Start], or [Manager.RunNow] with Wait.
func New(cfg Config) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("background config: %w", err)
	}
	m := &Manager{
		cfg:       cfg,
		logger:    cfg.Logger.With("component", "background", "worker_id", cfg.WorkerID),
		heartbeat: max(cfg.LeaseDuration/4, minHeartbeat),
		wake:      make(chan struct{}, 1),
		schedWake: make(chan struct{}, 1),
		slots:     make(chan struct{}, cfg.Concurrency),
		execs:     make(map[*execution]struct{}),
		byRun:     make(map[string]*execution),
		watchers:  make(map[string]*watcher),
		creating:  make(map[string]chan struct{}),
	}
	return m, nil
}

// WorkerID returns the id this manager's worker claims runs under.
func (m *Manager) WorkerID() string { return m.cfg.WorkerID }

// Start starts the scheduler, worker and recovery loops, unless
// [Config.WorkerDisabled] is set. They run until [Manager.Stop]; ctx only
// carries values to them. Start fails on a manager already started or
// stopped.
func (m *Manager) Start(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch {
	case m.stopping:
		return fmt.Errorf("start background manager: %w", ErrStopped)
	case m.started:
		return errors.New("start background manager: already started")
	}
	m.started = true
	if m.cfg.WorkerDisabled {
		m.logger.InfoContext(ctx, "background worker disabled; runs execute inline only")
		return nil
	}
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	done := make(chan struct{})
	m.cancelLoops, m.loopsDone, m.running = cancel, done, true
	var wg sync.WaitGroup
	wg.Go(func() { m.scheduleLoop(runCtx) })
	wg.Go(func() { m.recoveryLoop(runCtx) })
	wg.Go(func() { m.workLoop(runCtx) })
	go func() {
		wg.Wait()
		close(done)
	}()
	m.logger.InfoContext(ctx, "background manager started",
		"concurrency", m.cfg.Concurrency, "lease", m.cfg.LeaseDuration)
	return nil
}

// Stop stops claiming and scheduling, then waits for the runs this process
// is executing (inline ones included) until ctx is done; at once if it
// already is. It then cancels the handlers still running, so their runs
// end as failed "worker shutdown", or are requeued when their retry policy
// allows, and a claimed run not yet started goes back to the queue; it
// waits up to [Config.CancelWait] more for that to be recorded. Stop is
// safe before Start and more than once; it returns an error naming the
// runs that did not end in time.
func (m *Manager) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.stopping, m.running = true, false
	cancel, loopsDone := m.cancelLoops, m.loopsDone
	m.cancelLoops = nil
	m.mu.Unlock()
	if cancel != nil {
		cancel(errStopped)
	}
	if loopsDone != nil {
		// The loops end at once: their waits and store calls take the
		// cancelled context.
		<-loopsDone
	}

	// No execution starts from now on: the worker loop has ended and
	// inline runs are refused.
	m.mu.Lock()
	if m.drained == nil {
		m.drained = make(chan struct{})
		if len(m.execs) == 0 {
			close(m.drained)
		}
	}
	drained := m.drained
	m.mu.Unlock()

	select {
	case <-drained:
		return nil
	default:
	}
	if ctx.Err() == nil {
		select {
		case <-drained:
			return nil
		case <-ctx.Done():
		}
	}
	n := m.signalAll(errWorkerShutdown)
	m.logger.WarnContext(ctx, "cancelling in-flight background runs", "runs", n, "cause", context.Cause(ctx))
	timer := time.NewTimer(m.cfg.CancelWait)
	defer timer.Stop()
	select {
	case <-drained:
		return nil
	case <-timer.C:
		return fmt.Errorf("stop background manager: runs %v still executing: %w", m.activeIDs(), context.Cause(ctx))
	}
}

// Status is the manager's part of GET /background/status; the store's
// counts of agents, tasks and runs come from the store.
type Status struct {
	// Running reports whether the scheduler, worker and recovery loops
	// run.
	Running bool `json:"running"`
	// Initialized reports whether the manager accepts work: true until
	// Stop.
	Initialized bool `json:"initialized"`
	// WorkerID is the id this process's worker claims runs under.
	WorkerID string `json:"worker_id"`
	// LeaseSeconds is the lease a claim takes.
	LeaseSeconds float64 `json:"lease_seconds"`
	// ActiveRuns counts the runs this process is executing, inline ones
	// included.
	ActiveRuns int `json:"active_runs"`
	// Concurrency is how many queued runs this process executes at once.
	Concurrency int `json:"concurrency"`
}

// Status reports the manager's state.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	return Status{
		Running:      m.running,
		Initialized:  !m.stopping,
		WorkerID:     m.cfg.WorkerID,
		LeaseSeconds: m.cfg.LeaseDuration.Seconds(),
		ActiveRuns:   len(m.byRun),
		Concurrency:  m.cfg.Concurrency,
	}
}

// kick wakes the worker loop.
func (m *Manager) kick() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// wakeLater makes the idle worker look again at t, when a run this
// process requeued becomes claimable.
func (m *Manager) wakeLater(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.wakeAt.IsZero() || t.Before(m.wakeAt) {
		m.wakeAt = t
	}
}

// idleWait returns how long the idle worker sleeps: PollInterval, or less
// when a requeued run becomes claimable sooner.
func (m *Manager) idleWait() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.cfg.PollInterval
	if m.wakeAt.IsZero() {
		return d
	}
	until := m.wakeAt.Sub(m.cfg.ClockFunc())
	if until <= 0 {
		m.wakeAt = time.Time{}
		return 0
	}
	return min(d, until)
}

// watcher wakes the waiters on one run.
type watcher struct {
	ch chan struct{}
	n  int
}

// watch returns a channel closed at the run's next event in this process;
// call unwatch with it when done.
func (m *Manager) watch(runID string) *watcher {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.watchers[runID]
	if w == nil {
		w = &watcher{ch: make(chan struct{})}
		m.watchers[runID] = w
	}
	w.n++
	return w
}

func (m *Manager) unwatch(runID string, w *watcher) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.n--
	if w.n == 0 && m.watchers[runID] == w {
		delete(m.watchers, runID)
	}
}

// notify wakes the waiters on runID.
func (m *Manager) notify(runID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.watchers[runID]; w != nil {
		close(w.ch)
		delete(m.watchers, runID)
	}
}

// signal cancels the handler of runID, when this process executes it,
// with cause.
func (m *Manager) signal(runID string, cause error) {
	m.mu.Lock()
	ex := m.byRun[runID]
	m.mu.Unlock()
	if ex != nil {
		ex.cancel(cause)
	}
}

// signalBefore cancels with cause the handlers of runID that hold a lease
// generation before gen: those a recovery at gen took the run from.
func (m *Manager) signalBefore(runID string, gen int64, cause error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ex := range m.execs {
		if ex.runID == runID && ex.gen < gen {
			ex.cancel(cause)
		}
	}
}

// creation marks runID as being created by this process until the
// returned func is called, after its creation events.
func (m *Manager) creation(runID string) (done func()) {
	ch := make(chan struct{})
	m.mu.Lock()
	m.creating[runID] = ch
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.creating, runID)
		m.mu.Unlock()
		close(ch)
	}
}

// awaitCreation waits until this process's creator of runID, if any, has
// emitted the run's creation events.
func (m *Manager) awaitCreation(runID string) {
	m.mu.Lock()
	ch := m.creating[runID]
	m.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// signalAll cancels every handler with cause and returns how many runs
// are executing.
func (m *Manager) signalAll(cause error) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ex := range m.execs {
		ex.cancel(cause)
	}
	return len(m.execs)
}

func (m *Manager) activeIDs() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := make([]string, 0, len(m.execs))
	for ex := range m.execs {
		ids = append(ids, ex.runID)
	}
	return ids
}

// storeTask returns run r's task, nil when it was deleted.
func (m *Manager) storeTask(ctx context.Context, taskID string) (*task.Task, error) {
	t, err := m.cfg.Store.TaskGet(ctx, &task.TaskGetParams{TaskID: taskID})
	if errors.Is(err, task.ErrNotFound) {
		return nil, nil
	}
	return t, err
}
