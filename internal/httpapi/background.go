package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/omniserve/omniserve/internal/task"
)

// BackgroundService is the background engine as the /background routes use
// it; setting [Config.Background] mounts them. The routes read and write
// agents, tasks, schedules, runs and attempts through [task.Store]
// directly, and go through the service only where the engine holds what
// the store does not: agent objects registered in this process, the worker
// that executes runs, attempts to interrupt, the run event log and run
// workspaces. internal/app adapts the engine to it.
//
// Errors match package task's sentinels: an unknown agent, task or run is
// a [*task.NotFoundError], a taken id a [*task.AlreadyExistsError], bad
// input a [*task.ValidationError]. An engine that is shutting down or not
// started returns an error matching [ErrBackgroundUnavailable] (503).
// Anything else is answered with a 500 whose text stays in the log.
type BackgroundService interface {
	// Store returns the task store the engine works on.
	Store() task.Store
	// ServedAgentID is the id the served agent is registered under
	// (OMNICOREAGENT_BACKGROUND_AGENT_ID). POST /background/agents without
	// a spec and POST /background/tasks without an agent_id use it.
	ServedAgentID() string
	// Status reports the engine's own state for GET /background/status;
	// the route adds the counts from the store.
	Status(ctx context.Context) BackgroundStatus
	// AgentRegister registers an agent. With p.Spec it stores that spec
	// and forgets any agent object of the same id in this process, so
	// workers build the agent from the spec's model config. Without it,
	// it registers the served agent under p.AgentID. An agent that exists
	// is a [*task.AlreadyExistsError] unless p.Replace is set.
	AgentRegister(ctx context.Context, p *BackgroundAgentParams) (*task.AgentSpec, error)
	// AgentUnregister deletes an agent spec, as [task.Store.AgentDelete]
	// does, and forgets its agent object in this process.
	AgentUnregister(ctx context.Context, p *task.AgentDeleteParams) error
	// RunTrigger creates a manual run of a task through its overlap policy
	// ([task.Store.RunCreateManual]) and returns it, queued or skipped. A
	// disabled task is [task.ErrTaskDisabled].
	//
	// With p.Wait and a queued run it then waits for the run to end: by
	// watching the store while a worker runs in this process, else by
	// executing the run itself (claim and attempt). It gives up after
	// p.WaitTimeout and returns the run as it then stands; a run still
	// active is not an error. With no WaitTimeout it waits without bound
	// for a worker, and returns as soon as an inline attempt ends or the
	// run is delayed (a retry waiting out its delay) or blocked. The run
	// does not depend on ctx: it goes on after the wait ends, and ctx
	// only ends the wait.
	RunTrigger(ctx context.Context, p *BackgroundRunParams) (*task.Run, error)
	// RunCancel requests a run's cancellation ([task.Store.RunCancel]) and
	// interrupts its attempt when this process executes it. Cancelling a
	// finished run only records the request.
	RunCancel(ctx context.Context, runID string) (*task.Run, error)
	// RunEvents returns a run's lifecycle events in sequence order, from
	// the event log or the run's events.jsonl, so that they survive a
	// restart. The route checks that the run exists first.
	RunEvents(ctx context.Context, runID string) ([]BackgroundEvent, error)
	// RunWorkspace lists the run's workspace directory and returns its
	// path as clients should see it ("" means run.WorkspacePath). The
	// route logs an error and answers with no files, as the original does.
	RunWorkspace(ctx context.Context, run *task.Run) (path string, files []WorkspaceFile, err error)
}

// ErrBackgroundUnavailable is what a [BackgroundService] returns, wrapped
// or not, when it cannot take work now, such as while it shuts down; the
// routes answer 503 {"detail": "Background execution is disabled"}, as the
// original does when it has no manager.
var ErrBackgroundUnavailable = errors.New("background execution unavailable")

// BackgroundAgentParams are the parameters of
// [BackgroundService.AgentRegister].
type BackgroundAgentParams struct {
	// AgentID is the id to register the served agent under; ignored when
	// Spec is set.
	AgentID string
	// Spec, when set, is the agent to store, already checked to carry
	// AgentID when both were given.
	Spec *task.AgentSpec
	// Replace allows overwriting an existing agent.
	Replace bool
}

// BackgroundRunParams are the parameters of [BackgroundService.RunTrigger].
type BackgroundRunParams struct {
	TaskID string
	// Query overrides the task's query for this run; empty means the
	// task's.
	Query string
	// Wait waits for the run to end; see [BackgroundService.RunTrigger].
	Wait bool
	// WaitTimeout bounds the wait; zero means no bound.
	WaitTimeout time.Duration
}

// BackgroundStatus is the engine's own state.
type BackgroundStatus struct {
	// Running reports whether the worker loop runs in this process.
	Running bool
	// Initialized reports whether the engine and its store are ready.
	Initialized bool
	// WorkerID names this process's worker in leases and events.
	WorkerID string
	// LeaseSeconds is the lease a claim takes.
	LeaseSeconds float64
}

// BackgroundEvent is one lifecycle event of a background run, as the
// engine records it: a JSON object with at least event, timestamp,
// sequence (contiguous from 1 per run), run_id, task_id, agent_id and
// status, and the lease and worker fields of the moment.
type BackgroundEvent json.RawMessage

// MarshalJSON writes the event as recorded; nil is null.
func (e BackgroundEvent) MarshalJSON() ([]byte, error) {
	if e == nil {
		return []byte("null"), nil
	}
	return e, nil
}

// UnmarshalJSON keeps a copy of the raw event.
func (e *BackgroundEvent) UnmarshalJSON(b []byte) error {
	*e = append((*e)[:0], b...)
	return nil
}

// Schema implements huma.SchemaProvider: an object with the common fields
// documented and any others allowed.
func (BackgroundEvent) Schema(huma.Registry) *huma.Schema {
	str := func(doc string) *huma.Schema { return &huma.Schema{Type: huma.TypeString, Description: doc} }
	return &huma.Schema{
		Type:        huma.TypeObject,
		Description: "A lifecycle event of a background run; events carry more fields than listed, such as error on failures.",
		Properties: map[string]*huma.Schema{
			"event":            str("background_run_queued, background_run_claimed, background_run_started, background_run_heartbeat, background_run_retrying, background_run_completed, background_run_failed, background_run_timeout, background_run_cancelled, background_run_skipped, background_run_recovered or background_task_scheduled."),
			"timestamp":        {Type: huma.TypeString, Format: "date-time"},
			"sequence":         {Type: huma.TypeInteger, Description: "Contiguous from 1 within the run."},
			"run_id":           str(""),
			"task_id":          str(""),
			"agent_id":         str(""),
			"status":           str("The run's status after the event."),
			"worker_id":        str("The lease holder."),
			"lease_generation": {Type: huma.TypeInteger},
		},
		AdditionalProperties: true,
	}
}

// WorkspaceFile is one entry of a run's workspace directory.
type WorkspaceFile struct {
	// Path is the entry's path in the workspace.
	Path string `json:"path"`
	// Name is the entry's base name.
	Name string `json:"name"`
	// ModifiedAt is when the entry last changed; null when the backend
	// does not say (directories of object stores).
	ModifiedAt *time.Time `json:"modified_at"`
	// IsDir reports a directory.
	IsDir bool `json:"is_dir"`
}
