package httpapi

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/omniserve/omniserve/internal/task"
)

// This file holds the bodies of the /background routes. Request bodies are
// their own types rather than package task's: the stored records make
// every field required in the OpenAPI document, while a request leaves
// most of them to their defaults, and a few accept null as the original's
// optional fields do. Unknown fields are rejected at every level.

// BackgroundAgentRequest is the body of POST /background/agents.
type BackgroundAgentRequest struct {
	AgentID *string `json:"agent_id,omitempty" nullable:"true" doc:"The agent's id. Defaults to the served agent's (OMNICOREAGENT_BACKGROUND_AGENT_ID); must equal spec.agent_id when spec is given."`
	Replace bool    `json:"replace,omitempty" doc:"Replace an agent already registered under the id."`
	// Spec is the agent to store; without it the served agent is
	// registered.
	Spec *BackgroundAgentSpecInput `json:"spec,omitempty" doc:"The agent to store. Omit it to register the served agent."`
}

// BackgroundAgentSpecInput is an agent spec in a request.
type BackgroundAgentSpecInput struct {
	AgentID           string            `json:"agent_id" doc:"Letters, digits and _ . - only."`
	Name              string            `json:"name,omitempty" doc:"Display name. Defaults to agent_id."`
	SystemInstruction string            `json:"system_instruction,omitempty"`
	ModelConfig       *task.ModelConfig `json:"model_config,omitempty" doc:"The model a worker builds the agent with; without it the agent can only run where its object is registered."`
	AgentConfig       map[string]any    `json:"agent_config,omitempty"`
	Tools             []task.ToolRef    `json:"tools,omitempty" doc:"Built-in tools the agent may call."`
	MCPTools          []map[string]any  `json:"mcp_tools,omitempty" doc:"MCP server configurations."`
	LocalToolsRef     string            `json:"local_tools_ref,omitempty"`
	WorkspaceConfig   map[string]any    `json:"workspace_config,omitempty"`
	Metadata          map[string]any    `json:"metadata,omitempty"`
	CreatedAt         *RequestTime      `json:"created_at,omitempty" nullable:"true" doc:"Ignored: the store sets it. Accepted so a spec read from the API can be sent back."`
	UpdatedAt         *RequestTime      `json:"updated_at,omitempty" nullable:"true" doc:"Ignored, as created_at."`
}

func (in *BackgroundAgentSpecInput) spec() (task.AgentSpec, error) {
	s := task.AgentSpec{
		AgentID: in.AgentID, Name: in.Name, SystemInstruction: in.SystemInstruction,
		ModelConfig: in.ModelConfig, AgentConfig: in.AgentConfig, Tools: in.Tools,
		LocalToolsRef: in.LocalToolsRef, WorkspaceConfig: in.WorkspaceConfig, Metadata: in.Metadata,
	}
	for _, m := range in.MCPTools {
		raw, err := json.Marshal(m)
		if err != nil {
			return task.AgentSpec{}, fmt.Errorf("encode mcp_tools: %w", err)
		}
		s.MCPServers = append(s.MCPServers, raw)
	}
	return s, nil
}

// BackgroundScheduleInput is a task schedule in a request.
type BackgroundScheduleInput struct {
	Type          task.ScheduleType  `json:"type" enum:"manual,interval,cron,once"`
	Seconds       *float64           `json:"seconds,omitempty" nullable:"true" doc:"The interval's period, greater than 0; interval schedules only."`
	Expression    *string            `json:"expression,omitempty" nullable:"true" doc:"Five cron fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily; cron schedules only."`
	RunAt         *RequestTime       `json:"run_at,omitempty" nullable:"true" doc:"When a once schedule is due; once schedules only."`
	Timezone      string             `json:"timezone,omitempty" doc:"IANA zone cron expressions are evaluated in. Defaults to UTC."`
	StartAt       *RequestTime       `json:"start_at,omitempty" nullable:"true"`
	EndAt         *RequestTime       `json:"end_at,omitempty" nullable:"true" doc:"Occurrences due after it are never run; after start_at."`
	JitterSeconds float64            `json:"jitter_seconds,omitempty" doc:"Delays each occurrence by a stable amount up to this many seconds."`
	MisfirePolicy task.MisfirePolicy `json:"misfire_policy,omitempty" enum:"skip_missed,run_once,queue_all" doc:"What happens to occurrences missed while nothing dispatched. Defaults to skip_missed."`
}

func (in *BackgroundScheduleInput) schedule() task.Schedule {
	s := task.Schedule{
		Type: in.Type, Timezone: in.Timezone, JitterSeconds: in.JitterSeconds, MisfirePolicy: in.MisfirePolicy,
		RunAt: in.RunAt.timePtr(), StartAt: in.StartAt.timePtr(), EndAt: in.EndAt.timePtr(),
	}
	if in.Seconds != nil {
		s.Seconds = *in.Seconds
	}
	if in.Expression != nil {
		s.Expression = *in.Expression
	}
	return s
}

// BackgroundRetryPolicyInput is a retry policy in a request.
type BackgroundRetryPolicyInput struct {
	MaxRetries          int                  `json:"max_retries,omitempty" doc:"Retries after the first attempt. Defaults to 0."`
	InitialDelaySeconds *float64             `json:"initial_delay_seconds,omitempty" doc:"The first retry's delay. Defaults to 30."`
	MaxDelaySeconds     *float64             `json:"max_delay_seconds,omitempty" doc:"Caps the delay. Defaults to 300."`
	Backoff             task.Backoff         `json:"backoff,omitempty" enum:"fixed,exponential" doc:"Defaults to fixed."`
	RetryOn             []task.FailureReason `json:"retry_on,omitempty" doc:"Failure reasons worth a retry: exception, timeout. Defaults to both."`
}

func (in *BackgroundRetryPolicyInput) policy() task.RetryPolicy {
	return task.RetryPolicy{
		MaxRetries: in.MaxRetries, InitialDelaySeconds: in.InitialDelaySeconds,
		MaxDelaySeconds: in.MaxDelaySeconds, Backoff: in.Backoff, RetryOn: in.RetryOn,
	}
}

// BackgroundSessionPolicyInput is a session policy in a request.
type BackgroundSessionPolicyInput struct {
	Mode      task.SessionMode `json:"mode,omitempty" enum:"task,run,fixed" doc:"task shares background:{agent_id}:{task_id} across runs, run uses background:{run_id}, fixed uses session_id. Defaults to task."`
	SessionID *string          `json:"session_id,omitempty" nullable:"true" doc:"The session of the fixed mode."`
}

func (in *BackgroundSessionPolicyInput) policy() task.SessionPolicy {
	p := task.SessionPolicy{Mode: in.Mode}
	if in.SessionID != nil {
		p.SessionID = *in.SessionID
	}
	return p
}

// BackgroundWorkspacePolicyInput is a workspace policy in a request.
type BackgroundWorkspacePolicyInput struct {
	NamespaceTemplate string `json:"namespace_template,omitempty" doc:"The run's directory, with {agent_id}, {task_id} and {run_id}. Defaults to background/{agent_id}/{task_id}/{run_id}."`
	WriteRunJSON      *bool  `json:"write_run_json,omitempty" doc:"Write run.json. Defaults to true."`
	WriteEventsJSONL  *bool  `json:"write_events_jsonl,omitempty" doc:"Write events.jsonl. Defaults to true."`
}

func (in *BackgroundWorkspacePolicyInput) policy() task.WorkspacePolicy {
	return task.WorkspacePolicy{NamespaceTemplate: in.NamespaceTemplate, WriteRunJSON: in.WriteRunJSON, WriteEventsJSONL: in.WriteEventsJSONL}
}

// BackgroundTaskRequest is the body of POST /background/tasks.
type BackgroundTaskRequest struct {
	TaskID          string                          `json:"task_id" doc:"Letters, digits and _ . - only."`
	AgentID         *string                         `json:"agent_id,omitempty" nullable:"true" doc:"The agent that runs the task. Defaults to the served agent's id."`
	Query           string                          `json:"query" doc:"What the agent is asked on every run; not blank."`
	Schedule        BackgroundScheduleInput         `json:"schedule"`
	Enabled         *bool                           `json:"enabled,omitempty" doc:"Disabled tasks are not scheduled and refuse manual runs. Defaults to true."`
	TimeoutSeconds  *int                            `json:"timeout_seconds,omitempty" nullable:"true" doc:"Bounds one attempt, greater than 0; null for no bound."`
	RetryPolicy     *BackgroundRetryPolicyInput     `json:"retry_policy,omitempty"`
	OverlapPolicy   task.OverlapPolicy              `json:"overlap_policy,omitempty" enum:"skip_if_running,queue_next,cancel_previous,allow_parallel" doc:"What a new run does while another is active. Defaults to skip_if_running."`
	SessionPolicy   *BackgroundSessionPolicyInput   `json:"session_policy,omitempty"`
	WorkspacePolicy *BackgroundWorkspacePolicyInput `json:"workspace_policy,omitempty"`
	Metadata        map[string]any                  `json:"metadata,omitempty"`
	Replace         bool                            `json:"replace,omitempty" doc:"Replace a task already registered under the id."`
}

func (in *BackgroundTaskRequest) toTask(defaultAgent string) task.Task {
	t := task.Task{
		TaskID: in.TaskID, AgentID: defaultAgent, Query: in.Query, Schedule: in.Schedule.schedule(),
		Enabled: in.Enabled == nil || *in.Enabled, TimeoutSeconds: in.TimeoutSeconds,
		OverlapPolicy: in.OverlapPolicy, Metadata: in.Metadata,
	}
	if in.AgentID != nil && *in.AgentID != "" {
		t.AgentID = *in.AgentID
	}
	if in.RetryPolicy != nil {
		t.RetryPolicy = in.RetryPolicy.policy()
	}
	if in.SessionPolicy != nil {
		t.SessionPolicy = in.SessionPolicy.policy()
	}
	if in.WorkspacePolicy != nil {
		t.WorkspacePolicy = in.WorkspacePolicy.policy()
	}
	return t
}

// BackgroundTaskPatch is the body of PATCH /background/tasks/{task_id}:
// the fields to change. Each replaces the stored value as a whole
// (metadata too, and a policy's unset fields take their defaults).
type BackgroundTaskPatch struct {
	Query           *string                         `json:"query,omitempty"`
	Schedule        *BackgroundScheduleInput        `json:"schedule,omitempty" doc:"A changed schedule starts a new schedule revision, due afresh from now."`
	Enabled         *bool                           `json:"enabled,omitempty"`
	TimeoutSeconds  NullableInt                     `json:"timeout_seconds,omitzero" doc:"Greater than 0; null removes the bound."`
	RetryPolicy     *BackgroundRetryPolicyInput     `json:"retry_policy,omitempty"`
	OverlapPolicy   *task.OverlapPolicy             `json:"overlap_policy,omitempty" enum:"skip_if_running,queue_next,cancel_previous,allow_parallel"`
	SessionPolicy   *BackgroundSessionPolicyInput   `json:"session_policy,omitempty"`
	WorkspacePolicy *BackgroundWorkspacePolicyInput `json:"workspace_policy,omitempty"`
	Metadata        map[string]any                  `json:"metadata,omitempty" doc:"Replaces the metadata as a whole; {} clears it."`
}

func (in *BackgroundTaskPatch) params(taskID string) *task.TaskUpdateParams {
	p := &task.TaskUpdateParams{
		TaskID: taskID, Query: in.Query, Enabled: in.Enabled, OverlapPolicy: in.OverlapPolicy, Metadata: in.Metadata,
	}
	if in.Schedule != nil {
		s := in.Schedule.schedule()
		p.Schedule = &s
	}
	if in.TimeoutSeconds.Set {
		// The store clears the timeout for a pointer to 0.
		p.TimeoutSeconds = new(0)
		if in.TimeoutSeconds.Value != nil {
			p.TimeoutSeconds = in.TimeoutSeconds.Value
		}
	}
	if in.RetryPolicy != nil {
		rp := in.RetryPolicy.policy()
		p.RetryPolicy = &rp
	}
	if in.SessionPolicy != nil {
		sp := in.SessionPolicy.policy()
		p.SessionPolicy = &sp
	}
	if in.WorkspacePolicy != nil {
		wp := in.WorkspacePolicy.policy()
		p.WorkspacePolicy = &wp
	}
	return p
}

// BackgroundRunRequest is the optional body of POST
// /background/tasks/{task_id}/run.
type BackgroundRunRequest struct {
	Query *string `json:"query,omitempty" nullable:"true" doc:"Overrides the task's query for this run."`
	Wait  bool    `json:"wait,omitempty" doc:"Wait for the run to end, within the request timeout less half a second; a run still active then is answered with a 504 naming it."`
}

// RequestTime is a time in a request body: ISO 8601, taken as UTC when it
// carries no offset, as the original takes naive times.
type RequestTime struct {
	time.Time
	raw string
	err error
}

// requestTimeLayouts are the layouts [RequestTime] accepts, offset first.
var requestTimeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02",
}

// UnmarshalJSON parses the time; a bad one is reported by Resolve, which
// knows the field's path.
func (t *RequestTime) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		t.err = err
		return nil
	}
	t.raw = s
	for _, layout := range requestTimeLayouts {
		if v, err := time.Parse(layout, s); err == nil {
			t.Time = v.UTC()
			return nil
		}
	}
	t.err = fmt.Errorf("invalid datetime %q: want ISO 8601, such as 2026-01-01T09:00:00Z", s)
	return nil
}

// MarshalJSON writes the time in RFC 3339.
func (t RequestTime) MarshalJSON() ([]byte, error) { return t.Time.MarshalJSON() }

// Resolve implements huma.ResolverWithPath.
func (t *RequestTime) Resolve(_ huma.Context, prefix *huma.PathBuffer) []error {
	if t.err == nil {
		return nil
	}
	return []error{&huma.ErrorDetail{Location: prefix.String(), Message: t.err.Error(), Value: t.raw}}
}

// Schema implements huma.SchemaProvider: a string, since the date-time
// format would refuse times without an offset.
func (RequestTime) Schema(huma.Registry) *huma.Schema {
	return &huma.Schema{Type: huma.TypeString, Description: "ISO 8601 date and time; UTC when it has no offset.", Examples: []any{"2026-01-01T09:00:00Z"}}
}

func (t *RequestTime) timePtr() *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}

// NullableInt is an integer field of a patch, where null (remove the
// value) differs from absent (keep it).
type NullableInt struct {
	// Set reports that the field was present.
	Set bool
	// Value is nil for null.
	Value *int
}

// UnmarshalJSON records that the field was present, null or not.
func (n *NullableInt) UnmarshalJSON(b []byte) error {
	n.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		n.Value = nil
		return nil
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// IsZero reports an absent field.
func (n NullableInt) IsZero() bool { return !n.Set }

// Schema implements huma.SchemaProvider: a positive integer or null.
func (NullableInt) Schema(huma.Registry) *huma.Schema {
	one := 1.0
	return &huma.Schema{Type: huma.TypeInteger, Nullable: true, Minimum: &one}
}

// BackgroundStatusBody is the body of GET /background/status.
type BackgroundStatusBody struct {
	Running      bool    `json:"running" doc:"Whether this process runs the worker loop."`
	Initialized  bool    `json:"initialized"`
	WorkerID     string  `json:"worker_id"`
	LeaseSeconds float64 `json:"lease_seconds"`
	Agents       int     `json:"agents"`
	Tasks        int     `json:"tasks"`
	Runs         int     `json:"runs"`
	ActiveRuns   int     `json:"active_runs" doc:"Runs queued, claimed, running or retrying."`
	// StatusCounts has a key for every run status.
	StatusCounts map[string]int `json:"status_counts" doc:"Runs by status, with a key for every status."`
}

// BackgroundActionBody is the body of the control routes, such as
// {"status": "deleted"}.
type BackgroundActionBody struct {
	Status string `json:"status" enum:"deleted,paused,resumed,cancel_requested"`
}

// BackgroundAgentsBody is the body of GET /background/agents.
type BackgroundAgentsBody struct {
	Agents []*task.AgentSpec `json:"agents"`
	Total  int               `json:"total" doc:"Agents in all pages."`
	// NextCursor fetches the next page; absent on the last one.
	NextCursor string `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last one."`
}

// BackgroundTasksBody is the body of GET /background/tasks.
type BackgroundTasksBody struct {
	Tasks      []*task.Task `json:"tasks"`
	Total      int          `json:"total" doc:"Matching tasks in all pages."`
	NextCursor string       `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last one."`
}

// BackgroundRunsBody is the body of GET /background/runs.
type BackgroundRunsBody struct {
	Runs       []BackgroundRun `json:"runs"`
	Total      int             `json:"total" doc:"Matching runs in all pages."`
	NextCursor string          `json:"next_cursor,omitempty" doc:"Pass as cursor for the next page; absent on the last one."`
}

// BackgroundTaskStatusBody is the body of GET
// /background/tasks/{task_id}/status.
type BackgroundTaskStatusBody struct {
	TaskID        string              `json:"task_id"`
	AgentID       string              `json:"agent_id"`
	Enabled       bool                `json:"enabled"`
	Schedule      task.Schedule       `json:"schedule"`
	ScheduleState *task.ScheduleState `json:"schedule_state" doc:"Null when the task has none."`
	Runs          int                 `json:"runs"`
	ActiveRuns    int                 `json:"active_runs"`
	StatusCounts  map[string]int      `json:"status_counts"`
	LatestRun     *BackgroundRun      `json:"latest_run" doc:"The task's last run in queue order; null when it has none."`
}

// BackgroundRunEventsBody is the body of GET
// /background/runs/{run_id}/events.
type BackgroundRunEventsBody struct {
	RunID  string            `json:"run_id"`
	Events []BackgroundEvent `json:"events"`
	Count  int               `json:"count"`
}

// BackgroundWorkspaceBody is the body of GET
// /background/runs/{run_id}/workspace.
type BackgroundWorkspaceBody struct {
	RunID         string          `json:"run_id"`
	TaskID        string          `json:"task_id"`
	AgentID       string          `json:"agent_id"`
	WorkspacePath string          `json:"workspace_path"`
	Files         []WorkspaceFile `json:"files"`
}

// BackgroundRunTimeoutDetail is the detail of the 504 of POST
// /background/tasks/{task_id}/run when the run did not end in time.
type BackgroundRunTimeoutDetail struct {
	Message string `json:"message" example:"Background run did not finish within 1.5 seconds"`
	RunID   string `json:"run_id" doc:"The run, which goes on: follow it with GET /background/runs/{run_id}."`
	TaskID  string `json:"task_id"`
	Status  string `json:"status" doc:"The run's status when the wait ended."`
	// WaitTimeoutSeconds is the wait budget.
	WaitTimeoutSeconds *float64 `json:"wait_timeout_seconds" doc:"The wait budget: the request timeout less half a second."`
	// RequestTimeoutSeconds is the server's request timeout.
	RequestTimeoutSeconds *float64 `json:"request_timeout_seconds"`
}

// BackgroundRunTimeoutBody is the body of that 504.
type BackgroundRunTimeoutBody struct {
	Detail BackgroundRunTimeoutDetail `json:"detail"`
}

// BackgroundRun is a run as clients see it: every field of [task.Run]
// except the lease token. The token fences a worker's writes to the store;
// clients never present it, and one that leaked would let whoever reads
// the API write as the worker to a shared store, so it stays server-side.
type BackgroundRun struct {
	task.Run
}

// MarshalJSON writes the run without its lease token.
func (r BackgroundRun) MarshalJSON() ([]byte, error) {
	run := r.Run
	run.LeaseToken = "" // omitempty drops the key
	return json.Marshal(&run)
}

// TransformSchema implements huma.SchemaTransformer.
func (*BackgroundRun) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	return withoutProperty(s, "lease_token")
}

// BackgroundAttempt is an attempt as clients see it: every field of
// [task.Attempt] except the lease token, as for [BackgroundRun].
type BackgroundAttempt struct {
	task.Attempt
}

// MarshalJSON writes the attempt without its lease token.
func (a BackgroundAttempt) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		*task.Attempt
		// LeaseToken shadows the attempt's and is always empty.
		LeaseToken string `json:"lease_token,omitempty"`
	}{Attempt: &a.Attempt})
}

// TransformSchema implements huma.SchemaTransformer.
func (*BackgroundAttempt) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	return withoutProperty(s, "lease_token")
}

func withoutProperty(s *huma.Schema, name string) *huma.Schema {
	delete(s.Properties, name)
	req := s.Required[:0:0]
	for _, r := range s.Required {
		if r != name {
			req = append(req, r)
		}
	}
	s.Required = req
	return s
}

func runView(r *task.Run) BackgroundRun { return BackgroundRun{Run: *r} }

func runViews(runs []*task.Run) []BackgroundRun {
	out := make([]BackgroundRun, 0, len(runs))
	for _, r := range runs {
		out = append(out, runView(r))
	}
	return out
}

// statusCounts turns a store's counts into JSON keys, with a key for every
// status whatever the backend returned.
func statusCounts(counts map[task.RunStatus]int) (byName map[string]int, total, active int) {
	byName = make(map[string]int, len(task.RunStatuses))
	for _, s := range task.RunStatuses {
		byName[string(s)] = 0
	}
	for s, n := range counts {
		byName[string(s)] += n
		total += n
		if s.Active() {
			active += n
		}
	}
	return byName, total, active
}

// Cursor kinds, so a cursor of one list is refused by another.
const (
	cursorAgents = 'a'
	cursorTasks  = 't'
	cursorRuns   = 'r'
)

// encodeCursor returns an opaque cursor for the position (at, id) of a
// list of kind kind.
func encodeCursor(kind byte, at time.Time, id string) string {
	raw := string(kind) + strconv.FormatInt(at.UnixNano(), 10) + ":" + id
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

// decodeCursor reads a cursor of kind kind; ok is false for anything this
// server did not issue.
func decodeCursor(kind byte, s string) (at time.Time, id string, ok bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) < 2 || raw[0] != kind {
		return time.Time{}, "", false
	}
	ns, id, found := strings.Cut(string(raw[1:]), ":")
	n, err := strconv.ParseInt(ns, 10, 64)
	if !found || err != nil || id == "" {
		return time.Time{}, "", false
	}
	return time.Unix(0, n).UTC(), id, true
}

// afterCursor reports whether (at, id) comes after the cursor position in
// the (time, id) order.
func afterCursor(at time.Time, id string, cAt time.Time, cID string) bool {
	if c := at.Compare(cAt); c != 0 {
		return c > 0
	}
	return id > cID
}
