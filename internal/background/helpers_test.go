package background

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/task"
)

// testBundle is one test's store, sink and manager. Tests run inside a
// synctest bubble, where time is fake and the store and the manager read
// it through time.Now.
type testBundle struct {
	t       *testing.T
	ctx     context.Context
	store   task.Store
	sink    *recorder
	files   *fileRecorder
	handler *scriptHandler
	m       *Manager
}

// setup returns a bundle whose manager is not started, with agent
// "agent" registered. opts change the manager's config.
func setup(t *testing.T, opts ...func(*Config)) *testBundle {
	t.Helper()
	b := &testBundle{
		t:       t,
		ctx:     t.Context(),
		store:   memstore.NewTaskStore(time.Now),
		sink:    newRecorder(),
		files:   &fileRecorder{},
		handler: &scriptHandler{},
	}
	if _, err := b.store.AgentUpsert(b.ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{AgentID: "agent"}}); err != nil {
		t.Fatal(err)
	}
	b.m = b.manager(opts...)
	return b
}

// manager returns another manager on the bundle's store, sink and
// handler, stopped at cleanup.
func (b *testBundle) manager(opts ...func(*Config)) *Manager {
	b.t.Helper()
	cfg := Config{
		Store:         b.store,
		Handler:       b.handler,
		Events:        b.sink,
		Workspace:     b.files,
		LeaseDuration: 8 * time.Second,
	}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() {
		if err := m.Stop(context.Background()); err != nil {
			b.t.Errorf("stop: %v", err)
		}
	})
	return m
}

func (b *testBundle) start(m *Manager) {
	b.t.Helper()
	if err := m.Start(b.ctx); err != nil {
		b.t.Fatal(err)
	}
}

// task creates a manual task with id, changed by mut.
func (b *testBundle) task(id string, mut ...func(*task.Task)) *task.Task {
	b.t.Helper()
	tk := task.Task{
		TaskID:   id,
		AgentID:  "agent",
		Query:    "report for " + id,
		Schedule: task.Schedule{Type: task.ScheduleManual},
		Enabled:  true,
	}
	for _, f := range mut {
		f(&tk)
	}
	out, err := b.store.TaskCreate(b.ctx, &task.TaskCreateParams{Task: tk})
	if err != nil {
		b.t.Fatal(err)
	}
	return out
}

func retries(n int, delay float64) func(*task.Task) {
	return func(t *task.Task) {
		t.RetryPolicy.MaxRetries = n
		t.RetryPolicy.InitialDelaySeconds = &delay
	}
}

func parallel(t *task.Task) { t.OverlapPolicy = task.OverlapAllowParallel }

// enqueue creates a manual run through m without waiting.
func (b *testBundle) enqueue(m *Manager, taskID string) *task.Run {
	b.t.Helper()
	r, err := m.RunNow(b.ctx, RunNowParams{TaskID: taskID})
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

func (b *testBundle) run(id string) *task.Run {
	b.t.Helper()
	r, err := b.store.RunGet(b.ctx, &task.RunGetParams{RunID: id})
	if err != nil {
		b.t.Fatal(err)
	}
	return r
}

func (b *testBundle) attempts(id string) []*task.Attempt {
	b.t.Helper()
	as, err := b.store.AttemptList(b.ctx, &task.AttemptListParams{RunID: id})
	if err != nil {
		b.t.Fatal(err)
	}
	return as
}

// wantEvents checks the names of runID's events and that their sequences
// run from 1 without a gap.
func (b *testBundle) wantEvents(runID string, want ...string) []*RunEvent {
	b.t.Helper()
	evs := b.sink.events(runID)
	var names []string
	for i, ev := range evs {
		names = append(names, ev.Event)
		if ev.Sequence != int64(i+1) {
			b.t.Errorf("%s event %d (%s) has sequence %d", runID, i+1, ev.Event, ev.Sequence)
		}
	}
	if diff := cmp.Diff(want, names); diff != "" {
		b.t.Errorf("%s events (-want +got):\n%s", runID, diff)
	}
	return evs
}

// wantStatus checks runID's status.
func (b *testBundle) wantStatus(runID string, want task.RunStatus) *task.Run {
	b.t.Helper()
	r := b.run(runID)
	if r.Status != want {
		b.t.Errorf("%s status %s, want %s (error %q)", runID, r.Status, want, r.Error)
	}
	return r
}

// wantAttempts checks the statuses and reasons of runID's attempts.
func (b *testBundle) wantAttempts(runID string, want ...string) []*task.Attempt {
	b.t.Helper()
	as := b.attempts(runID)
	var got []string
	for _, a := range as {
		got = append(got, string(a.Status)+"/"+string(a.Reason))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		b.t.Errorf("%s attempts (-want +got):\n%s", runID, diff)
	}
	return as
}

// recorder is an [EventSink] that keeps events by run, in arrival order.
// onEvent, when set, is called with each event before it is kept.
type recorder struct {
	mu      sync.Mutex
	byRun   map[string][]*RunEvent
	onEvent func(ev *RunEvent)
}

func newRecorder() *recorder { return &recorder{byRun: make(map[string][]*RunEvent)} }

func (r *recorder) RunEventAppend(_ context.Context, ev *RunEvent) error {
	r.mu.Lock()
	hook := r.onEvent
	r.mu.Unlock()
	if hook != nil {
		hook(ev)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.byRun[ev.RunID] = append(r.byRun[ev.RunID], ev)
	return nil
}

func (r *recorder) setHook(f func(ev *RunEvent)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.onEvent = f
}

// events returns runID's events ordered by sequence.
func (r *recorder) events(runID string) []*RunEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := slices.Clone(r.byRun[runID])
	slices.SortStableFunc(evs, func(a, b *RunEvent) int { return int(a.Sequence - b.Sequence) })
	return evs
}

func (r *recorder) count(runID, name string) int {
	n := 0
	for _, ev := range r.events(runID) {
		if ev.Event == name {
			n++
		}
	}
	return n
}

// fileRecorder is a [RunFiles] that keeps what was written. broken makes
// every write fail.
type fileRecorder struct {
	mu      sync.Mutex
	runJSON map[string]*task.Run
	lines   map[string][]string
	broken  bool
}

func (f *fileRecorder) WriteRunJSON(_ context.Context, run *task.Run) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken {
		return errors.New("workspace unavailable")
	}
	if f.runJSON == nil {
		f.runJSON = make(map[string]*task.Run)
	}
	f.runJSON[run.RunID] = run
	return nil
}

func (f *fileRecorder) AppendEvent(_ context.Context, run *task.Run, line []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken {
		return errors.New("workspace unavailable")
	}
	if f.lines == nil {
		f.lines = make(map[string][]string)
	}
	f.lines[run.RunID] = append(f.lines[run.RunID], string(line))
	return nil
}

func (f *fileRecorder) eventNames(t *testing.T, runID string) []string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, l := range f.lines[runID] {
		var ev struct {
			Event string `json:"event"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("events.jsonl line %q: %v", l, err)
		}
		names = append(names, ev.Event)
	}
	return names
}

// scriptHandler is a [RunHandler] whose behaviour a test sets with fn;
// without fn it completes with "completed:" and the query snapshot. It
// counts calls per run.
type scriptHandler struct {
	mu    sync.Mutex
	fn    func(ctx context.Context, req RunRequest) (RunResult, error)
	calls map[string]int
	reqs  []RunRequest
}

func (h *scriptHandler) Run(ctx context.Context, req RunRequest) (RunResult, error) {
	h.mu.Lock()
	if h.calls == nil {
		h.calls = make(map[string]int)
	}
	h.calls[req.Run.RunID]++
	h.reqs = append(h.reqs, req)
	fn := h.fn
	h.mu.Unlock()
	if fn != nil {
		return fn(ctx, req)
	}
	return RunResult{Response: "completed:" + req.Run.QuerySnapshot}, nil
}

func (h *scriptHandler) set(fn func(ctx context.Context, req RunRequest) (RunResult, error)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.fn = fn
}

func (h *scriptHandler) callsOf(runID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[runID]
}

func (h *scriptHandler) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.calls {
		n += c
	}
	return n
}

// blockUntilCancelled is a handler that signals entered and returns its
// context's cause once cancelled.
func blockUntilCancelled(entered chan<- string) func(ctx context.Context, req RunRequest) (RunResult, error) {
	return func(ctx context.Context, req RunRequest) (RunResult, error) {
		if entered != nil {
			entered <- req.Run.RunID
		}
		<-ctx.Done()
		return RunResult{}, context.Cause(ctx)
	}
}

// flakyStore is a [task.Store] whose methods fail while their Func field
// says so.
type flakyStore struct {
	task.Store
	ScheduleDueListFunc func() error
	RunClaimFunc        func() error
	RunHeartbeatFunc    func(p *task.RunHeartbeatParams) error
	RunRecoverFunc      func() error
	// BeforeRunRetryFunc runs before RunRetry reaches the store.
	BeforeRunRetryFunc func(runID string)
}

func (s *flakyStore) RunRetry(ctx context.Context, p *task.RunRetryParams) (*task.Run, error) {
	if s.BeforeRunRetryFunc != nil {
		s.BeforeRunRetryFunc(p.RunID)
	}
	return s.Store.RunRetry(ctx, p)
}

func (s *flakyStore) ScheduleDueList(ctx context.Context, p *task.ScheduleDueListParams) ([]*task.DueSchedule, error) {
	if s.ScheduleDueListFunc != nil {
		if err := s.ScheduleDueListFunc(); err != nil {
			return nil, err
		}
	}
	return s.Store.ScheduleDueList(ctx, p)
}

func (s *flakyStore) RunClaim(ctx context.Context, p *task.RunClaimParams) (*task.Run, error) {
	if s.RunClaimFunc != nil {
		if err := s.RunClaimFunc(); err != nil {
			return nil, err
		}
	}
	return s.Store.RunClaim(ctx, p)
}

func (s *flakyStore) RunHeartbeat(ctx context.Context, p *task.RunHeartbeatParams) (*task.Run, error) {
	if s.RunHeartbeatFunc != nil {
		if err := s.RunHeartbeatFunc(p); err != nil {
			return nil, err
		}
	}
	return s.Store.RunHeartbeat(ctx, p)
}

func (s *flakyStore) RunRecoverExpired(ctx context.Context, p *task.RunRecoverExpiredParams) ([]*task.RunRecovery, error) {
	if s.RunRecoverFunc != nil {
		if err := s.RunRecoverFunc(); err != nil {
			return nil, err
		}
	}
	return s.Store.RunRecoverExpired(ctx, p)
}

// failTimes returns a Func that fails n times, then succeeds.
func failTimes(n int) func() error {
	var mu sync.Mutex
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		if n > 0 {
			n--
			return errors.New("store unavailable")
		}
		return nil
	}
}
