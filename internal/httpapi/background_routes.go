package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/omniserve/omniserve/internal/task"
)

// runWaitMargin is what POST /background/tasks/{task_id}/run keeps of the
// request timeout for answering when it waits for a run: the original's
// API tests expect a budget of 1.5 s for a 2 s timeout. (Its newest route
// code keeps 0.25 s; the tests are the stronger evidence.)
const runWaitMargin = 500 * time.Millisecond

// minRunWait is the smallest wait budget, for request timeouts shorter
// than the margin.
const minRunWait = time.Millisecond

// tagBackground groups the background routes in the OpenAPI document.
const tagBackground = "Background"

type bgAgentInput struct {
	Body BackgroundAgentRequest
}

type bgAgentIDInput struct {
	AgentID string `path:"agent_id"`
}

type bgAgentDeleteInput struct {
	AgentID string `path:"agent_id"`
	Force   bool   `query:"force" doc:"Delete the agent even while it has active runs."`
}

type bgAgentListInput struct {
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" doc:"Page size, 1 to 1000; all agents when absent."`
	Cursor string `query:"cursor" doc:"The next_cursor of the previous page."`
}

type bgTaskInput struct {
	Body BackgroundTaskRequest
}

type bgTaskIDInput struct {
	TaskID string `path:"task_id"`
}

type bgTaskListInput struct {
	AgentID string `query:"agent_id" doc:"Only this agent's tasks."`
	Limit   int    `query:"limit" minimum:"1" maximum:"1000" doc:"Page size, 1 to 1000; all tasks when absent."`
	Cursor  string `query:"cursor" doc:"The next_cursor of the previous page."`
}

type bgTaskPatchInput struct {
	TaskID string `path:"task_id"`
	Body   BackgroundTaskPatch
}

type bgTaskRunInput struct {
	TaskID string `path:"task_id"`
	Body   *BackgroundRunRequest
}

type bgTaskDeleteInput struct {
	TaskID     string `path:"task_id"`
	DeleteRuns bool   `query:"delete_runs" doc:"Delete the task's runs and their attempts too; they are kept by default."`
}

type bgRunIDInput struct {
	RunID string `path:"run_id"`
}

type bgRunListInput struct {
	TaskID string `query:"task_id" doc:"Only this task's runs."`
	Status string `query:"status" doc:"Only runs in this status: queued, claimed, running, retrying, completed, failed, cancelled, timeout or skipped."`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" doc:"Page size, 1 to 1000; all runs when absent."`
	Cursor string `query:"cursor" doc:"The next_cursor of the previous page."`
}

// registerBackground adds the /background routes. They exist only when
// [Config.Background] is set, so with background execution disabled they
// answer 404 and are absent from /openapi.json, as in the original.
func (a *API) registerBackground(api huma.API) {
	bg := a.cfg.Background
	op := func(id, method, path, summary string, errs ...int) huma.Operation {
		return huma.Operation{
			OperationID: "background-" + id, Method: method, Path: "/background" + path,
			Summary: summary, Tags: []string{tagBackground}, Security: bearer,
			MaxBodyBytes: a.cfg.MaxBodyBytes, Errors: errs,
		}
	}
	const (
		s404 = http.StatusNotFound
		s409 = http.StatusConflict
		s413 = http.StatusRequestEntityTooLarge
		s422 = http.StatusUnprocessableEntity
		s503 = http.StatusServiceUnavailable
	)

	huma.Register(api, op("status", http.MethodGet, "/status", "The background engine's state and counts", http.StatusInternalServerError),
		func(ctx context.Context, _ *struct{}) (*bodyOutput[BackgroundStatusBody], error) {
			st := bg.Status(ctx)
			store := bg.Store()
			agents, err := store.AgentList(ctx, &task.AgentListParams{})
			if err != nil {
				return nil, a.backgroundError(ctx, "list agents", err)
			}
			tasks, err := store.TaskList(ctx, &task.TaskListParams{})
			if err != nil {
				return nil, a.backgroundError(ctx, "list tasks", err)
			}
			counts, err := store.RunCountByStatus(ctx, &task.RunCountByStatusParams{})
			if err != nil {
				return nil, a.backgroundError(ctx, "count runs", err)
			}
			byName, total, active := statusCounts(counts)
			return &bodyOutput[BackgroundStatusBody]{Body: BackgroundStatusBody{
				Running: st.Running, Initialized: st.Initialized, WorkerID: st.WorkerID, LeaseSeconds: st.LeaseSeconds,
				Agents: len(agents), Tasks: len(tasks), Runs: total, ActiveRuns: active, StatusCounts: byName,
			}}, nil
		})

	register := op("agent-register", http.MethodPost, "/agents", "Register an agent for background work", s409, s413, s422, s503)
	register.Description = "With `spec`, stores that agent spec; workers build the agent from its `model_config`. " +
		"Without it, registers the served agent under `agent_id` (default: the configured background agent id). " +
		"The served agent is registered at startup, so a bare `{}` answers 409 unless `replace` is true."
	huma.Register(api, register, func(ctx context.Context, in *bgAgentInput) (*bodyOutput[*task.AgentSpec], error) {
		var agentID string
		if in.Body.AgentID != nil {
			agentID = *in.Body.AgentID
		}
		p := &BackgroundAgentParams{Replace: in.Body.Replace}
		loc := []string{"body"}
		if s := in.Body.Spec; s != nil {
			if agentID != "" && agentID != s.AgentID {
				return nil, detailError(s422, "agent_id must match spec.agent_id when spec is provided")
			}
			spec, err := s.spec()
			if err != nil {
				return nil, a.backgroundError(ctx, "register agent", err)
			}
			p.AgentID, p.Spec = spec.AgentID, &spec
			loc = append(loc, "spec")
		} else {
			p.AgentID = agentID
			if p.AgentID == "" {
				p.AgentID = bg.ServedAgentID()
			}
		}
		spec, err := bg.AgentRegister(ctx, p)
		if err != nil {
			return nil, a.backgroundError(ctx, "register agent", err, loc...)
		}
		return &bodyOutput[*task.AgentSpec]{Body: spec}, nil
	})

	huma.Register(api, op("agent-list", http.MethodGet, "/agents", "List agents, oldest first", s422),
		func(ctx context.Context, in *bgAgentListInput) (*bodyOutput[BackgroundAgentsBody], error) {
			agents, err := bg.Store().AgentList(ctx, &task.AgentListParams{})
			if err != nil {
				return nil, a.backgroundError(ctx, "list agents", err)
			}
			page, next, err := paginate(agents, func(s *task.AgentSpec) (time.Time, string) { return s.CreatedAt, s.AgentID },
				cursorAgents, in.Cursor, in.Limit)
			if err != nil {
				return nil, err
			}
			return &bodyOutput[BackgroundAgentsBody]{Body: BackgroundAgentsBody{Agents: page, Total: len(agents), NextCursor: next}}, nil
		})

	huma.Register(api, op("agent-get", http.MethodGet, "/agents/{agent_id}", "One agent spec", s404),
		func(ctx context.Context, in *bgAgentIDInput) (*bodyOutput[*task.AgentSpec], error) {
			spec, err := bg.Store().AgentGet(ctx, &task.AgentGetParams{AgentID: in.AgentID})
			if err != nil {
				return nil, a.backgroundError(ctx, "get agent", err)
			}
			return &bodyOutput[*task.AgentSpec]{Body: spec}, nil
		})

	huma.Register(api, op("agent-delete", http.MethodDelete, "/agents/{agent_id}", "Delete an agent spec; its tasks and runs are kept", s404, s409, s503),
		func(ctx context.Context, in *bgAgentDeleteInput) (*bodyOutput[BackgroundActionBody], error) {
			err := bg.AgentUnregister(ctx, &task.AgentDeleteParams{AgentID: in.AgentID, Force: in.Force})
			if errors.Is(err, task.ErrAgentBusy) {
				return nil, detailError(s409, "Agent has active runs: "+in.AgentID)
			}
			if err != nil {
				return nil, a.backgroundError(ctx, "delete agent", err)
			}
			return action("deleted"), nil
		})

	create := op("task-create", http.MethodPost, "/tasks", "Create a task", s404, s409, s413, s422)
	create.Description = "Stores the task and its schedule state; the first occurrence is computed from now. " +
		"`agent_id` defaults to the configured background agent id and must name a registered agent."
	huma.Register(api, create, func(ctx context.Context, in *bgTaskInput) (*bodyOutput[*task.Task], error) {
		t, err := bg.Store().TaskCreate(ctx, &task.TaskCreateParams{Task: in.Body.toTask(bg.ServedAgentID()), Replace: in.Body.Replace})
		if err != nil {
			return nil, a.backgroundError(ctx, "create task", err, "body")
		}
		return &bodyOutput[*task.Task]{Body: t}, nil
	})

	huma.Register(api, op("task-list", http.MethodGet, "/tasks", "List tasks, oldest first", s422),
		func(ctx context.Context, in *bgTaskListInput) (*bodyOutput[BackgroundTasksBody], error) {
			tasks, err := bg.Store().TaskList(ctx, &task.TaskListParams{AgentID: in.AgentID})
			if err != nil {
				return nil, a.backgroundError(ctx, "list tasks", err)
			}
			page, next, err := paginate(tasks, func(t *task.Task) (time.Time, string) { return t.CreatedAt, t.TaskID },
				cursorTasks, in.Cursor, in.Limit)
			if err != nil {
				return nil, err
			}
			return &bodyOutput[BackgroundTasksBody]{Body: BackgroundTasksBody{Tasks: page, Total: len(tasks), NextCursor: next}}, nil
		})

	huma.Register(api, op("task-get", http.MethodGet, "/tasks/{task_id}", "One task", s404),
		func(ctx context.Context, in *bgTaskIDInput) (*bodyOutput[*task.Task], error) {
			t, err := bg.Store().TaskGet(ctx, &task.TaskGetParams{TaskID: in.TaskID})
			if err != nil {
				return nil, a.backgroundError(ctx, "get task", err)
			}
			return &bodyOutput[*task.Task]{Body: t}, nil
		})

	huma.Register(api, op("task-status", http.MethodGet, "/tasks/{task_id}/status", "A task's schedule state, run counts and latest run", s404),
		func(ctx context.Context, in *bgTaskIDInput) (*bodyOutput[BackgroundTaskStatusBody], error) {
			return a.taskStatus(ctx, bg.Store(), in.TaskID)
		})

	patch := op("task-update", http.MethodPatch, "/tasks/{task_id}", "Change a task", s404, s413, s422)
	patch.Description = "Changes the fields given, each replaced as a whole (`metadata` too), and validates the result. " +
		"A changed schedule starts a new schedule revision whose next occurrence is computed from now."
	huma.Register(api, patch, func(ctx context.Context, in *bgTaskPatchInput) (*bodyOutput[*task.Task], error) {
		t, err := bg.Store().TaskUpdate(ctx, in.Body.params(in.TaskID))
		if err != nil {
			return nil, a.backgroundError(ctx, "update task", err, "body")
		}
		return &bodyOutput[*task.Task]{Body: t}, nil
	})

	run := op("task-run", http.MethodPost, "/tasks/{task_id}/run", "Run a task now", s404, s413, s422, s503)
	run.Description = "Creates a manual run through the task's overlap policy and returns it, queued or skipped. " +
		"With `wait`, waits for the run to end within the request timeout less half a second; a run still active then " +
		"gets a 504 whose detail names it (the run goes on). With no request timeout it waits without bound for the " +
		"worker, or, when this process runs no worker, executes the run and returns when the attempt ends or the run " +
		"is delayed. Disabled tasks answer 404. The request timeout middleware leaves this route alone."
	run.Responses = map[string]*huma.Response{
		"504": {
			Description: "The run did not end within the wait budget.",
			Content: map[string]*huma.MediaType{"application/json": {
				Schema: api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[BackgroundRunTimeoutBody](), true, ""),
			}},
		},
	}
	huma.Register(api, run, func(ctx context.Context, in *bgTaskRunInput) (*bodyOutput[BackgroundRun], error) {
		return a.runTask(ctx, bg, in)
	})

	huma.Register(api, op("task-pause", http.MethodPost, "/tasks/{task_id}/pause", "Pause a task's schedule; manual runs still work", s404),
		func(ctx context.Context, in *bgTaskIDInput) (*bodyOutput[BackgroundActionBody], error) {
			if _, err := bg.Store().ScheduleSetPaused(ctx, &task.ScheduleSetPausedParams{TaskID: in.TaskID, Paused: true}); err != nil {
				return nil, a.backgroundError(ctx, "pause task", err)
			}
			return action("paused"), nil
		})

	huma.Register(api, op("task-resume", http.MethodPost, "/tasks/{task_id}/resume", "Resume a task's schedule", s404),
		func(ctx context.Context, in *bgTaskIDInput) (*bodyOutput[BackgroundActionBody], error) {
			if _, err := bg.Store().ScheduleSetPaused(ctx, &task.ScheduleSetPausedParams{TaskID: in.TaskID}); err != nil {
				return nil, a.backgroundError(ctx, "resume task", err)
			}
			return action("resumed"), nil
		})

	huma.Register(api, op("task-delete", http.MethodDelete, "/tasks/{task_id}", "Delete a task, keeping its runs unless delete_runs", s404),
		func(ctx context.Context, in *bgTaskDeleteInput) (*bodyOutput[BackgroundActionBody], error) {
			if err := bg.Store().TaskDelete(ctx, &task.TaskDeleteParams{TaskID: in.TaskID, DeleteRuns: in.DeleteRuns}); err != nil {
				return nil, a.backgroundError(ctx, "delete task", err)
			}
			return action("deleted"), nil
		})

	cancel := op("run-cancel", http.MethodPost, "/runs/{run_id}/cancel", "Cancel a run", s404, s503)
	cancel.Description = "Records the cancellation request: a queued run ends at once, a running one at its worker's next " +
		"checkpoint. A finished run keeps its status; the answer is the same."
	huma.Register(api, cancel, func(ctx context.Context, in *bgRunIDInput) (*bodyOutput[BackgroundActionBody], error) {
		if _, err := bg.RunCancel(ctx, in.RunID); err != nil {
			return nil, a.backgroundError(ctx, "cancel run", err)
		}
		return action("cancel_requested"), nil
	})

	huma.Register(api, op("run-list", http.MethodGet, "/runs", "List runs in queue order", s422),
		func(ctx context.Context, in *bgRunListInput) (*bodyOutput[BackgroundRunsBody], error) {
			return a.listRuns(ctx, bg.Store(), in)
		})

	huma.Register(api, op("run-get", http.MethodGet, "/runs/{run_id}", "One run", s404),
		func(ctx context.Context, in *bgRunIDInput) (*bodyOutput[BackgroundRun], error) {
			r, err := bg.Store().RunGet(ctx, &task.RunGetParams{RunID: in.RunID})
			if err != nil {
				return nil, a.backgroundError(ctx, "get run", err)
			}
			return &bodyOutput[BackgroundRun]{Body: runView(r)}, nil
		})

	huma.Register(api, op("run-attempts", http.MethodGet, "/runs/{run_id}/attempts", "A run's attempts, by number (a bare array)", s404),
		func(ctx context.Context, in *bgRunIDInput) (*bodyOutput[[]BackgroundAttempt], error) {
			store := bg.Store()
			if _, err := store.RunGet(ctx, &task.RunGetParams{RunID: in.RunID}); err != nil {
				return nil, a.backgroundError(ctx, "get run", err)
			}
			attempts, err := store.AttemptList(ctx, &task.AttemptListParams{RunID: in.RunID})
			if err != nil {
				return nil, a.backgroundError(ctx, "list attempts", err)
			}
			out := make([]BackgroundAttempt, 0, len(attempts))
			for _, at := range attempts {
				out = append(out, BackgroundAttempt{Attempt: *at})
			}
			return &bodyOutput[[]BackgroundAttempt]{Body: out}, nil
		})

	huma.Register(api, op("run-events", http.MethodGet, "/runs/{run_id}/events", "Replay a run's lifecycle events", s404),
		func(ctx context.Context, in *bgRunIDInput) (*bodyOutput[BackgroundRunEventsBody], error) {
			if _, err := bg.Store().RunGet(ctx, &task.RunGetParams{RunID: in.RunID}); err != nil {
				return nil, a.backgroundError(ctx, "get run", err)
			}
			events, err := bg.RunEvents(ctx, in.RunID)
			if err != nil {
				return nil, a.backgroundError(ctx, "replay run events", err)
			}
			if events == nil {
				events = []BackgroundEvent{}
			}
			return &bodyOutput[BackgroundRunEventsBody]{Body: BackgroundRunEventsBody{RunID: in.RunID, Events: events, Count: len(events)}}, nil
		})

	huma.Register(api, op("run-workspace", http.MethodGet, "/runs/{run_id}/workspace", "List a run's workspace files", s404),
		func(ctx context.Context, in *bgRunIDInput) (*bodyOutput[BackgroundWorkspaceBody], error) {
			r, err := bg.Store().RunGet(ctx, &task.RunGetParams{RunID: in.RunID})
			if err != nil {
				return nil, a.backgroundError(ctx, "get run", err)
			}
			path, files, err := bg.RunWorkspace(ctx, r)
			if err != nil {
				a.log.WarnContext(ctx, "list run workspace", slog.String("run_id", r.RunID), slog.String("error", err.Error()))
				path, files = "", nil
			}
			if path == "" {
				path = r.WorkspacePath
			}
			if files == nil {
				files = []WorkspaceFile{}
			}
			return &bodyOutput[BackgroundWorkspaceBody]{Body: BackgroundWorkspaceBody{
				RunID: r.RunID, TaskID: r.TaskID, AgentID: r.AgentID, WorkspacePath: path, Files: files,
			}}, nil
		})
}

func action(status string) *bodyOutput[BackgroundActionBody] {
	return &bodyOutput[BackgroundActionBody]{Body: BackgroundActionBody{Status: status}}
}

// taskStatus answers GET /background/tasks/{task_id}/status.
func (a *API) taskStatus(ctx context.Context, store task.Store, taskID string) (*bodyOutput[BackgroundTaskStatusBody], error) {
	t, err := store.TaskGet(ctx, &task.TaskGetParams{TaskID: taskID})
	if err != nil {
		return nil, a.backgroundError(ctx, "get task", err)
	}
	st, err := store.ScheduleStateGet(ctx, &task.ScheduleStateGetParams{TaskID: taskID})
	if err != nil && !errors.Is(err, task.ErrNotFound) {
		return nil, a.backgroundError(ctx, "get schedule state", err)
	}
	counts, err := store.RunCountByStatus(ctx, &task.RunCountByStatusParams{TaskID: taskID})
	if err != nil {
		return nil, a.backgroundError(ctx, "count runs", err)
	}
	byName, total, active := statusCounts(counts)
	body := BackgroundTaskStatusBody{
		TaskID: t.TaskID, AgentID: t.AgentID, Enabled: t.Enabled, Schedule: t.Schedule, ScheduleState: st,
		Runs: total, ActiveRuns: active, StatusCounts: byName,
	}
	if total > 0 {
		// The store lists oldest first; the latest is the last one.
		runs, err := store.RunList(ctx, &task.RunListParams{TaskID: taskID})
		if err != nil {
			return nil, a.backgroundError(ctx, "list runs", err)
		}
		if len(runs) > 0 {
			latest := runView(runs[len(runs)-1])
			body.LatestRun = &latest
		}
	}
	return &bodyOutput[BackgroundTaskStatusBody]{Body: body}, nil
}

// listRuns answers GET /background/runs. Unpaged, total is the number of
// runs returned, as in the original; paged, it counts every matching run.
func (a *API) listRuns(ctx context.Context, store task.Store, in *bgRunListInput) (*bodyOutput[BackgroundRunsBody], error) {
	p := &task.RunListParams{TaskID: in.TaskID}
	if in.Status != "" {
		st, err := task.ParseRunStatus(in.Status)
		if err != nil {
			var ve *task.ValidationError
			if errors.As(err, &ve) {
				return nil, detailError(http.StatusUnprocessableEntity, ve.Message)
			}
			return nil, detailError(http.StatusUnprocessableEntity, err.Error())
		}
		p.Statuses = []task.RunStatus{st}
	}
	if in.Cursor != "" {
		at, id, ok := decodeCursor(cursorRuns, in.Cursor)
		if !ok {
			return nil, badCursor()
		}
		p.After = &task.RunCursor{QueuedAt: at, RunID: id}
	}
	if in.Limit > 0 {
		p.Limit = in.Limit + 1 // one more tells whether a next page exists
	}
	runs, err := store.RunList(ctx, p)
	if err != nil {
		return nil, a.backgroundError(ctx, "list runs", err)
	}
	body := BackgroundRunsBody{Total: len(runs)}
	if in.Limit > 0 && len(runs) > in.Limit {
		runs = runs[:in.Limit]
		last := runs[len(runs)-1]
		body.NextCursor = encodeCursor(cursorRuns, last.QueuedAt, last.RunID)
	}
	body.Runs = runViews(runs)
	if in.Limit > 0 || in.Cursor != "" {
		counts, err := store.RunCountByStatus(ctx, &task.RunCountByStatusParams{TaskID: in.TaskID})
		if err != nil {
			return nil, a.backgroundError(ctx, "count runs", err)
		}
		body.Total = 0
		for st, n := range counts {
			if len(p.Statuses) == 0 || slices.Contains(p.Statuses, st) {
				body.Total += n
			}
		}
	}
	return &bodyOutput[BackgroundRunsBody]{Body: body}, nil
}

// runTask answers POST /background/tasks/{task_id}/run.
func (a *API) runTask(ctx context.Context, bg BackgroundService, in *bgTaskRunInput) (*bodyOutput[BackgroundRun], error) {
	var req BackgroundRunRequest
	if in.Body != nil {
		req = *in.Body
	}
	p := &BackgroundRunParams{TaskID: in.TaskID, Wait: req.Wait}
	if req.Query != nil {
		p.Query = *req.Query
	}
	budget := a.runWaitBudget()
	if req.Wait {
		p.WaitTimeout = budget
	}
	// Waiting ends early when the server must stop now; the run goes on.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(a.abort, func() { cancel(errShutdown) })
	defer stop()

	r, err := bg.RunTrigger(ctx, p)
	var nf *task.NotFoundError
	switch {
	case errors.Is(err, task.ErrTaskDisabled), errors.As(err, &nf) && nf.Kind == "task":
		// The original answers the same for a disabled task as for a
		// missing one.
		return nil, detailError(http.StatusNotFound, "Task not found: "+in.TaskID)
	case err != nil && errors.Is(context.Cause(ctx), errShutdown):
		return nil, detailError(http.StatusServiceUnavailable, "Server is shutting down")
	case err != nil:
		return nil, a.backgroundError(ctx, "run task", err)
	}
	if req.Wait && budget > 0 && !r.Status.Terminal() {
		return nil, &ErrorBody{status: http.StatusGatewayTimeout, Detail: BackgroundRunTimeoutDetail{
			Message:               "Background run did not finish within " + pySeconds(budget) + " seconds",
			RunID:                 r.RunID,
			TaskID:                r.TaskID,
			Status:                string(r.Status),
			WaitTimeoutSeconds:    new(budget.Seconds()),
			RequestTimeoutSeconds: new(a.cfg.RequestTimeout.Seconds()),
		}}
	}
	return &bodyOutput[BackgroundRun]{Body: runView(r)}, nil
}

// runWaitBudget is how long POST /background/tasks/{task_id}/run waits for
// a run: the request timeout less [runWaitMargin], at least [minRunWait];
// zero (no bound) when there is no request timeout.
func (a *API) runWaitBudget() time.Duration {
	if a.cfg.RequestTimeout <= 0 {
		return 0
	}
	return max(a.cfg.RequestTimeout-runWaitMargin, minRunWait)
}

// pySeconds formats d in seconds as Python prints a float: 1.5, 0.001,
// 2.0.
func pySeconds(d time.Duration) string {
	s := strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// paginate returns the page of items, ordered by key, that follows cursor,
// and the cursor of the next page ("" on the last). limit 0 means the
// whole rest.
func paginate[T any](items []T, key func(T) (time.Time, string), kind byte, cursor string, limit int) ([]T, string, error) {
	start := 0
	if cursor != "" {
		at, id, ok := decodeCursor(kind, cursor)
		if !ok {
			return nil, "", badCursor()
		}
		start = len(items)
		for i, it := range items {
			if k, kid := key(it); afterCursor(k, kid, at, id) {
				start = i
				break
			}
		}
	}
	page := items[start:]
	if limit <= 0 || len(page) <= limit {
		return slices.Clip(page), "", nil
	}
	page = page[:limit]
	at, id := key(page[limit-1])
	return page, encodeCursor(kind, at, id), nil
}

func badCursor() error {
	return fieldError("not a cursor this server issued", "query", "cursor")
}

// backgroundError maps an error of the task store or the engine to the
// original's status and detail: 404 "Agent not found: X", 409 "Task
// already registered: X", 422 naming the invalid field under loc, and 500
// with an error id for anything unexpected.
func (a *API) backgroundError(ctx context.Context, what string, err error, loc ...string) error {
	var (
		nf *task.NotFoundError
		ae *task.AlreadyExistsError
		ve *task.ValidationError
	)
	switch {
	case errors.As(err, &nf):
		return detailError(http.StatusNotFound, notFoundDetail(nf))
	case errors.As(err, &ae):
		return detailError(http.StatusConflict, alreadyExistsDetail(ae))
	case errors.As(err, &ve):
		if len(loc) == 0 {
			loc = []string{"body"}
		}
		return fieldError(ve.Message, append(slices.Clone(loc), fieldPath(ve.Field)...)...)
	case errors.Is(err, ErrBackgroundUnavailable):
		return detailError(http.StatusServiceUnavailable, "Background execution is disabled")
	case errors.Is(err, task.ErrConflict):
		return detailError(http.StatusConflict, http.StatusText(http.StatusConflict))
	case errors.Is(err, context.Canceled):
		return detailError(499, "Request cancelled")
	}
	return a.storeError(ctx, what, err)
}

func notFoundDetail(e *task.NotFoundError) string {
	switch e.Kind {
	case "agent":
		return "Agent not found: " + e.ID
	case "task", "schedule state":
		return "Task not found: " + e.ID
	case "run":
		return "Run not found: " + e.ID
	}
	return capitalize(e.Kind) + " not found: " + e.ID
}

func alreadyExistsDetail(e *task.AlreadyExistsError) string {
	switch e.Kind {
	case "agent", "task":
		return capitalize(e.Kind) + " already registered: " + e.ID
	}
	return capitalize(e.Kind) + " already exists: " + e.ID
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// fieldPath splits a validation error's dotted field, such as
// "tools[0].builtin", into FastAPI location parts: tools, 0, builtin.
func fieldPath(field string) []string {
	var out []string
	for part := range strings.SplitSeq(field, ".") {
		name, rest, _ := strings.Cut(part, "[")
		if name != "" {
			out = append(out, name)
		}
		for rest != "" {
			idx, after, _ := strings.Cut(rest, "]")
			out = append(out, idx)
			_, rest, _ = strings.Cut(after, "[")
		}
	}
	return out
}
