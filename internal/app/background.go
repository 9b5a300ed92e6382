package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/background"
	"github.com/omniserve/omniserve/internal/config"
	"github.com/omniserve/omniserve/internal/httpapi"
	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/task"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/tool"
	"github.com/omniserve/omniserve/internal/workspace"
)

// Background is the background control plane of one server: the task
// store, the engine, the run workspaces and the agents runs execute on.
// It implements [httpapi.BackgroundService].
type Background struct {
	mgr      *background.Manager
	store    task.Store
	files    workspace.Store
	events   telemetry.Store
	servedID string
	served   *Agent
	lookup   func(string) (string, bool)
	log      *slog.Logger

	mu sync.Mutex
	// built caches agents made from stored specs, by agent id and the
	// spec's updated_at, so a changed spec is rebuilt.
	built map[string]builtAgent
}

type builtAgent struct {
	updated time.Time
	agent   *Agent
}

var _ httpapi.BackgroundService = (*Background)(nil)

// BackgroundConfig configures [NewBackground].
type BackgroundConfig struct {
	// Config supplies the OMNICOREAGENT_BACKGROUND_* and workspace settings.
	Config config.Config
	// Store is the task store; required.
	Store task.Store
	// Served is the agent the server serves; it is registered under
	// Config.BackgroundAgentID.
	Served *Agent
	// ServedSpec describes Served so a stored spec can be written for it.
	ServedSpec AgentSpec
	// Lookup reads the environment (model keys of agents built from specs).
	Lookup func(string) (string, bool)
	Logger *slog.Logger
}

// NewBackground builds the control plane. Call Start to register the served
// agent and start the engine, and Stop when done.
func NewBackground(cfg BackgroundConfig) (*Background, error) {
	b := &Background{
		store:    cfg.Store,
		files:    &lazyWorkspace{root: cfg.Config.WorkspaceDir},
		events:   cfg.Served.Events,
		servedID: cfg.Config.BackgroundAgentID,
		served:   cfg.Served,
		lookup:   cfg.Lookup,
		log:      cfg.Logger,
		built:    make(map[string]builtAgent),
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	var err error
	b.mgr, err = background.New(background.Config{
		Store:          cfg.Store,
		Handler:        background.RunHandlerFunc(b.handle),
		Concurrency:    cfg.Config.BackgroundConcurrency,
		LeaseDuration:  cfg.Config.BackgroundLease,
		WorkerDisabled: !cfg.Config.BackgroundStartWorker,
		Events:         eventSink{b},
		Workspace:      runFiles{b},
		PrepareQueryFunc: func(run *task.Run, _ *task.Task) string {
			return workspace.RunContext(workspace.RunContextParams{
				AgentID: run.AgentID, TaskID: run.TaskID, RunID: run.RunID,
				WorkspacePath: runDir(run), Query: run.QuerySnapshot,
			})
		},
		Logger: b.log,
	})
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Start registers the served agent (replacing any stored spec of that id)
// and starts the engine.
func (b *Background) Start(ctx context.Context) error {
	if _, err := b.AgentRegister(ctx, &httpapi.BackgroundAgentParams{AgentID: b.servedID, Replace: true}); err != nil {
		return fmt.Errorf("register served agent %s: %w", b.servedID, err)
	}
	return b.mgr.Start(ctx)
}

// Stop stops the engine (in-flight runs get until ctx ends) and closes the
// agents built from specs.
func (b *Background) Stop(ctx context.Context) error {
	err := b.mgr.Stop(ctx)
	b.mu.Lock()
	built := b.built
	b.built = map[string]builtAgent{}
	b.mu.Unlock()
	for _, ba := range built {
		err = errors.Join(err, ba.agent.Close(ctx))
	}
	if c, ok := b.files.(interface{ Close() error }); ok {
		err = errors.Join(err, c.Close())
	}
	return err
}

// Store implements [httpapi.BackgroundService].
func (b *Background) Store() task.Store { return b.store }

// ServedAgentID implements [httpapi.BackgroundService].
func (b *Background) ServedAgentID() string { return b.servedID }

// Status implements [httpapi.BackgroundService].
func (b *Background) Status(context.Context) httpapi.BackgroundStatus {
	s := b.mgr.Status()
	return httpapi.BackgroundStatus{Running: s.Running, Initialized: s.Initialized, WorkerID: s.WorkerID, LeaseSeconds: s.LeaseSeconds}
}

// AgentRegister implements [httpapi.BackgroundService]. Without a spec it
// stores a spec for the served agent, which runs on the served agent
// itself.
func (b *Background) AgentRegister(ctx context.Context, p *httpapi.BackgroundAgentParams) (*task.AgentSpec, error) {
	spec := p.Spec
	if spec == nil {
		id := p.AgentID
		if id == "" {
			id = b.servedID
		}
		spec = b.servedSpec(id)
	}
	saved, err := b.store.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: *spec, Replace: p.Replace})
	if err != nil {
		return nil, err
	}
	b.forget(ctx, saved.AgentID)
	return saved, nil
}

// AgentUnregister implements [httpapi.BackgroundService].
func (b *Background) AgentUnregister(ctx context.Context, p *task.AgentDeleteParams) error {
	if err := b.store.AgentDelete(ctx, p); err != nil {
		return err
	}
	b.forget(ctx, p.AgentID)
	return nil
}

// RunTrigger implements [httpapi.BackgroundService].
func (b *Background) RunTrigger(ctx context.Context, p *httpapi.BackgroundRunParams) (*task.Run, error) {
	run, err := b.mgr.RunNow(ctx, background.RunNowParams{
		TaskID: p.TaskID, Query: p.Query, Wait: p.Wait, WaitBudget: p.WaitTimeout,
		TriggerMetadata: map[string]any{"source": "api"},
	})
	switch {
	case errors.Is(err, background.ErrWaitTimeout):
		return run, nil
	case errors.Is(err, background.ErrStopped):
		return nil, fmt.Errorf("%w: %w", httpapi.ErrBackgroundUnavailable, err)
	}
	return run, err
}

// RunCancel implements [httpapi.BackgroundService].
func (b *Background) RunCancel(ctx context.Context, runID string) (*task.Run, error) {
	return b.mgr.Cancel(ctx, runID)
}

// RunEvents implements [httpapi.BackgroundService]: the run's lifecycle
// events from the event log, or from its events.jsonl when the log no
// longer has them (an in-memory log after a restart).
func (b *Background) RunEvents(ctx context.Context, runID string) ([]httpapi.BackgroundEvent, error) {
	page, err := b.events.EventQuery(ctx, telemetry.EventQueryParams{TraceID: backgroundTraceID(runID), Limit: 10_000})
	if err != nil {
		return nil, err
	}
	out := make([]httpapi.BackgroundEvent, 0, len(page.Events))
	for _, e := range page.Events {
		out = append(out, httpapi.BackgroundEvent(e.Output))
	}
	if len(out) > 0 {
		return out, nil
	}
	run, err := b.store.RunGet(ctx, &task.RunGetParams{RunID: runID})
	if err != nil {
		return nil, err
	}
	data, err := b.files.FileRead(ctx, path.Join(runDir(run), workspace.EventsJSONL), 0)
	if errors.Is(err, workspace.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && json.Valid([]byte(line)) {
			out = append(out, httpapi.BackgroundEvent(line))
		}
	}
	return out, nil
}

// RunWorkspace implements [httpapi.BackgroundService].
func (b *Background) RunWorkspace(ctx context.Context, run *task.Run) (string, []httpapi.WorkspaceFile, error) {
	dir := runDir(run)
	infos, err := b.files.FileList(ctx, dir)
	if err != nil && !errors.Is(err, workspace.ErrNotFound) {
		return dir, nil, err
	}
	files := make([]httpapi.WorkspaceFile, 0, len(infos))
	for _, fi := range infos {
		mod := fi.ModifiedAt
		files = append(files, httpapi.WorkspaceFile{Path: fi.Path, Name: fi.Name, ModifiedAt: &mod, IsDir: fi.IsDir})
	}
	return dir, files, nil
}

// handle executes one attempt on the run's agent and leaves the answer in
// the workspace's output.md unless the agent wrote one itself.
func (b *Background) handle(ctx context.Context, req background.RunRequest) (background.RunResult, error) {
	ag, err := b.agentFor(ctx, req.Run.AgentID)
	if err != nil {
		return background.RunResult{}, err
	}
	res, err := ag.Runner.Run(ctx, agent.RunParams{Query: req.Query, SessionID: req.SessionID, RunID: req.Run.RunID})
	if err != nil {
		return background.RunResult{}, publicRunError(b.log, req.Run.RunID, err)
	}
	out := path.Join(runDir(req.Run), workspace.OutputMD)
	if _, statErr := b.files.FileStat(ctx, out); errors.Is(statErr, workspace.ErrNotFound) {
		if werr := b.files.FileWrite(ctx, out, []byte(res.Response+"\n")); werr != nil {
			b.log.Warn("write output.md", slog.String("run_id", req.Run.RunID), slog.String("error", werr.Error()))
		}
	}
	return background.RunResult{Response: res.Response}, nil
}

// publicRunError keeps a failed attempt's recorded error free of secrets:
// model errors are already secret-free and cancellations say what they
// are; anything else is recorded by id and logged in full.
func publicRunError(log *slog.Logger, runID string, err error) error {
	var lerr *llm.Error
	switch {
	case errors.As(err, &lerr), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, agent.ErrMaxSteps):
		return err
	}
	id := telemetry.NewID("err_")
	log.Error("background run failed", slog.String("run_id", runID), slog.String("error_id", id), slog.String("error", err.Error()))
	return fmt.Errorf("agent run failed (error id %s)", id)
}

// agentFor returns the agent a run executes on: the served agent for its
// id, else one built from the stored spec (cached until the spec changes).
func (b *Background) agentFor(ctx context.Context, agentID string) (*Agent, error) {
	if agentID == b.servedID {
		return b.served, nil
	}
	spec, err := b.store.AgentGet(ctx, &task.AgentGetParams{AgentID: agentID})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ba, ok := b.built[agentID]; ok && ba.updated.Equal(spec.UpdatedAt) {
		return ba.agent, nil
	}
	if spec.ModelConfig == nil {
		return nil, fmt.Errorf("agent %s has no model_config to build it from", agentID)
	}
	tools := tool.NewRegistry()
	for _, ref := range spec.Tools {
		if ref.Builtin == "" {
			continue
		}
		if reg, err := BuiltinTools(ref.Builtin); err == nil {
			for _, t := range reg.List() {
				_ = tools.Add(t)
			}
		}
	}
	mc := spec.ModelConfig
	built, err := newAgentOn(ctx, AgentSpec{
		Name:              spec.Name,
		SystemInstruction: spec.SystemInstruction,
		Model: ModelSpec{
			Provider: mc.Provider, Model: mc.Model, BaseURL: mc.BaseURL,
			Temperature: mc.Temperature, MaxTokens: mc.MaxTokens, APIKeyEnv: mc.APIKeyEnv,
		},
		Tools: tools,
	}, b.served, b.lookup, b.log)
	if built != nil {
		built.lookup = b.lookup
	}
	if err != nil {
		return nil, fmt.Errorf("build agent %s: %w", agentID, err)
	}
	if old, ok := b.built[agentID]; ok {
		_ = old.agent.Close(context.WithoutCancel(ctx))
	}
	b.built[agentID] = builtAgent{updated: spec.UpdatedAt, agent: built}
	return built, nil
}

func (b *Background) forget(ctx context.Context, agentID string) {
	b.mu.Lock()
	ba, ok := b.built[agentID]
	delete(b.built, agentID)
	b.mu.Unlock()
	if ok {
		_ = ba.agent.Close(context.WithoutCancel(ctx))
	}
}

// servedSpec is the stored description of the served agent.
func (b *Background) servedSpec(id string) *task.AgentSpec {
	spec := &task.AgentSpec{AgentID: id, Name: b.served.Runner.Name(), Metadata: map[string]any{"served": true}}
	if b.served.spec.Model.Provider != "" {
		m := b.served.spec.Model
		spec.ModelConfig = &task.ModelConfig{
			Provider: m.Provider, Model: m.Model, BaseURL: m.BaseURL,
			Temperature: m.Temperature, MaxTokens: m.MaxTokens, APIKeyEnv: m.APIKeyEnv,
		}
		spec.SystemInstruction = b.served.spec.SystemInstruction
	}
	for _, t := range b.served.Runner.Tools().List() {
		spec.Tools = append(spec.Tools, task.ToolRef{Builtin: t.Name()})
	}
	return spec
}

func runDir(run *task.Run) string {
	if run.WorkspacePath != "" {
		return run.WorkspacePath
	}
	ns, _ := workspace.RunNamespace(run.AgentID, run.TaskID, run.RunID)
	return ns
}

func backgroundTraceID(runID string) string { return "trace_background_" + runID }

// eventSink appends lifecycle events to the event log: trace
// trace_background_{run_id} in the run's session.
type eventSink struct{ b *Background }

func (s eventSink) RunEventAppend(ctx context.Context, ev *background.RunEvent) error {
	session := ev.SessionID
	if session == "" {
		session = "background:" + ev.RunID
	}
	return s.b.events.EventAppend(ctx, &telemetry.Event{
		EventType: ev.Event,
		TraceID:   backgroundTraceID(ev.RunID),
		SpanID:    "span_background_" + ev.RunID,
		SessionID: session,
		RunID:     ev.RunID,
		Timestamp: ev.Timestamp,
		Actor:     telemetry.Actor{Type: "background", ID: ev.WorkerID, Name: "OmniServe background"},
		Output:    telemetry.JSON(ev),
		Metadata: map[string]any{
			"session_id": session, "run_id": ev.RunID, "task_id": ev.TaskID, "agent_id": ev.AgentID,
			"sequence": ev.Sequence, "span_kind": "background.run", "execution_surface": "background",
		},
	})
}

// runFiles writes run.json and events.jsonl into the run's workspace.
type runFiles struct{ b *Background }

func (f runFiles) WriteRunJSON(ctx context.Context, run *task.Run) error {
	data, err := json.MarshalIndent(run, "", "  ")
	if err != nil {
		return err
	}
	return f.b.files.FileWrite(ctx, path.Join(runDir(run), workspace.RunJSON), data)
}

func (f runFiles) AppendEvent(ctx context.Context, run *task.Run, line []byte) error {
	return f.b.files.FileAppend(ctx, path.Join(runDir(run), workspace.EventsJSONL), line)
}
