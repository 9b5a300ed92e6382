package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/task"
	"github.com/omniserve/omniserve/internal/task/tasktest"
)

// Interface guard.
var _ BackgroundService = (*fakeBackground)(nil)

// fakeBackground is a [BackgroundService] over an in-memory task store and
// a manual clock. Waited runs execute inline, as the engine does without a
// worker: ExecFunc decides how (by default the agent answers
// "completed:{session}:{query}"). Func fields replace single methods.
type fakeBackground struct {
	store  *memstore.TaskStore
	clock  *tasktest.Clock
	served string

	// ExecFunc executes a waited, queued run and returns it as it then
	// stands; nil means [fakeBackground.complete].
	ExecFunc func(ctx context.Context, r *task.Run) (*task.Run, error)
	// RunTriggerFunc replaces RunTrigger.
	RunTriggerFunc func(ctx context.Context, p *BackgroundRunParams) (*task.Run, error)
	// StatusFunc replaces Status.
	StatusFunc func(ctx context.Context) BackgroundStatus
	// WorkspaceFunc replaces RunWorkspace.
	WorkspaceFunc func(ctx context.Context, r *task.Run) (string, []WorkspaceFile, error)
	// StoreOverride, when set, is returned by Store.
	StoreOverride task.Store

	mu       sync.Mutex
	triggers []BackgroundRunParams
	// triggerDeadline records whether RunTrigger's context had a deadline.
	triggerDeadline []bool
	local           map[string]bool // agent objects "in this process"
	events          map[string][]BackgroundEvent
}

const fakeWorker = "worker_fake"

func newFakeBackground(t testing.TB) *fakeBackground {
	t.Helper()
	clock := tasktest.NewClock(tasktest.Start)
	f := &fakeBackground{
		store:  memstore.NewTaskStore(clock.Now),
		clock:  clock,
		served: "served",
		local:  map[string]bool{},
		events: map[string][]BackgroundEvent{},
	}
	// The app registers the served agent at startup with replace.
	if _, err := f.AgentRegister(t.Context(), &BackgroundAgentParams{AgentID: f.served, Replace: true}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeBackground) Store() task.Store {
	if f.StoreOverride != nil {
		return f.StoreOverride
	}
	return f.store
}

func (f *fakeBackground) ServedAgentID() string { return f.served }

func (f *fakeBackground) Status(ctx context.Context) BackgroundStatus {
	if f.StatusFunc != nil {
		return f.StatusFunc(ctx)
	}
	return BackgroundStatus{Running: false, Initialized: true, WorkerID: fakeWorker, LeaseSeconds: 30}
}

func (f *fakeBackground) AgentRegister(ctx context.Context, p *BackgroundAgentParams) (*task.AgentSpec, error) {
	spec := task.AgentSpec{AgentID: p.AgentID, Name: "tester", SystemInstruction: "You test."}
	if p.Spec != nil {
		spec = *p.Spec
	}
	out, err := f.store.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: spec, Replace: p.Replace})
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.local[p.AgentID] = p.Spec == nil
	f.mu.Unlock()
	return out, nil
}

func (f *fakeBackground) AgentUnregister(ctx context.Context, p *task.AgentDeleteParams) error {
	if err := f.store.AgentDelete(ctx, p); err != nil {
		return err
	}
	f.mu.Lock()
	delete(f.local, p.AgentID)
	f.mu.Unlock()
	return nil
}

func (f *fakeBackground) RunTrigger(ctx context.Context, p *BackgroundRunParams) (*task.Run, error) {
	f.mu.Lock()
	f.triggers = append(f.triggers, *p)
	_, ok := ctx.Deadline()
	f.triggerDeadline = append(f.triggerDeadline, ok)
	f.mu.Unlock()
	if f.RunTriggerFunc != nil {
		return f.RunTriggerFunc(ctx, p)
	}
	res, err := f.store.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: p.TaskID, Query: p.Query})
	if err != nil {
		return nil, err
	}
	r := res.Run
	if r.Status == task.RunSkipped {
		f.emit(r, "background_run_skipped")
		return r, nil
	}
	f.emit(r, "background_run_queued")
	if !p.Wait {
		return r, nil
	}
	exec := f.ExecFunc
	if exec == nil {
		exec = f.complete
	}
	return exec(ctx, r)
}

// lastTrigger returns the parameters of the latest RunTrigger call.
func (f *fakeBackground) lastTrigger(t *testing.T) (BackgroundRunParams, bool) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.triggers) == 0 {
		t.Fatal("RunTrigger was not called")
	}
	return f.triggers[len(f.triggers)-1], f.triggerDeadline[len(f.triggerDeadline)-1]
}

// start claims and starts r and opens its attempt, as a worker does.
func (f *fakeBackground) start(ctx context.Context, r *task.Run) (*task.Run, error) {
	claimed, err := f.store.RunClaim(ctx, &task.RunClaimParams{WorkerID: fakeWorker, RunID: r.RunID})
	if err != nil {
		return nil, err
	}
	if claimed == nil {
		return r, nil // blocked or delayed: the caller sees it queued
	}
	f.emit(claimed, "background_run_claimed")
	started, err := f.store.RunStart(ctx, &task.RunStartParams{RunID: r.RunID, WorkerID: fakeWorker, LeaseToken: claimed.LeaseToken})
	if err != nil {
		return nil, err
	}
	if _, err := f.store.AttemptCreate(ctx, &task.AttemptCreateParams{RunID: r.RunID, WorkerID: fakeWorker, LeaseToken: started.LeaseToken}); err != nil {
		return nil, err
	}
	started, err = f.store.RunGet(ctx, &task.RunGetParams{RunID: r.RunID})
	if err != nil {
		return nil, err
	}
	f.emit(started, "background_run_started")
	return started, nil
}

// complete executes r to completion with a heartbeat on the way.
func (f *fakeBackground) complete(ctx context.Context, r *task.Run) (*task.Run, error) {
	r, err := f.start(ctx, r)
	if err != nil || r.Status != task.RunRunning {
		return r, err
	}
	f.clock.Advance(time.Second)
	hb, err := f.store.RunHeartbeat(ctx, &task.RunHeartbeatParams{RunID: r.RunID, WorkerID: fakeWorker, LeaseToken: r.LeaseToken})
	if err != nil {
		return nil, err
	}
	f.emit(hb, "background_run_heartbeat")
	done, err := f.store.RunFinish(ctx, &task.RunFinishParams{
		RunID: r.RunID, WorkerID: fakeWorker, LeaseToken: r.LeaseToken, Status: task.RunCompleted,
		ResultPreview: "completed:" + r.SessionID + ":" + r.QuerySnapshot,
	})
	if err != nil {
		return nil, err
	}
	f.emit(done, "background_run_completed")
	return done, nil
}

// failWithDelayedRetry fails the first attempt and requeues the run a
// minute later: the wait ends with the run queued.
func (f *fakeBackground) failWithDelayedRetry(ctx context.Context, r *task.Run) (*task.Run, error) {
	r, err := f.start(ctx, r)
	if err != nil || r.Status != task.RunRunning {
		return r, err
	}
	queued, err := f.store.RunRetry(ctx, &task.RunRetryParams{
		RunID: r.RunID, WorkerID: fakeWorker, LeaseToken: r.LeaseToken, Delay: time.Minute, Error: "boom",
	})
	if err != nil {
		return nil, err
	}
	f.emit(queued, "background_run_retrying")
	f.emit(queued, "background_run_queued")
	return queued, nil
}

// slow starts the run and gives up waiting while the agent still works.
func (f *fakeBackground) slow(ctx context.Context, r *task.Run) (*task.Run, error) {
	return f.start(ctx, r)
}

func (f *fakeBackground) RunCancel(ctx context.Context, runID string) (*task.Run, error) {
	r, err := f.store.RunCancel(ctx, &task.RunCancelParams{RunID: runID})
	if err == nil && r.Status == task.RunCancelled {
		f.emit(r, "background_run_cancelled")
	}
	return r, err
}

func (f *fakeBackground) RunEvents(_ context.Context, runID string) ([]BackgroundEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]BackgroundEvent(nil), f.events[runID]...), nil
}

func (f *fakeBackground) RunWorkspace(ctx context.Context, r *task.Run) (string, []WorkspaceFile, error) {
	if f.WorkspaceFunc != nil {
		return f.WorkspaceFunc(ctx, r)
	}
	at := f.clock.Now()
	var files []WorkspaceFile
	for _, name := range []string{"events.jsonl", "run.json"} {
		files = append(files, WorkspaceFile{Path: path.Join(r.WorkspacePath, name), Name: name, ModifiedAt: &at})
	}
	return "", files, nil
}

// emit records a lifecycle event of r in the original's shape.
func (f *fakeBackground) emit(r *task.Run, name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ev := map[string]any{
		"event": name, "timestamp": f.clock.Now(), "sequence": len(f.events[r.RunID]) + 1,
		"agent_id": r.AgentID, "task_id": r.TaskID, "run_id": r.RunID, "session_id": r.SessionID,
		"status": r.Status, "attempt": r.Attempt, "workspace_path": r.WorkspacePath,
		"worker_id": r.LeaseOwner, "lease_generation": r.LeaseGeneration,
		"heartbeat_at": r.HeartbeatAt, "lease_expires_at": r.LeaseExpiresAt,
	}
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	f.events[r.RunID] = append(f.events[r.RunID], BackgroundEvent(b))
}

// failingStore is a task store whose listing and counting fail.
type failingStore struct {
	task.Store
}

var errSecret = errors.New("dial tcp 10.0.0.1: password=hunter2 refused")

func (failingStore) AgentList(context.Context, *task.AgentListParams) ([]*task.AgentSpec, error) {
	return nil, errSecret
}

func (failingStore) RunList(context.Context, *task.RunListParams) ([]*task.Run, error) {
	return nil, errSecret
}
