package task

import (
	"math"
	"slices"
	"strings"
	"time"
)

// Task is a stored piece of background work: which agent runs which query
// on which schedule, and how runs retry, overlap, keep sessions and lay out
// their workspace.
type Task struct {
	// TaskID identifies the task; required, a safe id (see [ValidateID]).
	TaskID string `json:"task_id"`
	// AgentID names the [AgentSpec] that runs the task; required.
	AgentID string `json:"agent_id"`
	// Query is what the agent is asked; required, not blank. A run keeps
	// a snapshot of it, so later edits do not change queued runs.
	Query string `json:"query"`
	// Schedule says when the task runs by itself.
	Schedule Schedule `json:"schedule"`
	// Enabled tasks are scheduled and accept manual runs; disabled ones
	// are skipped by the scheduler and refuse manual runs. Callers that
	// decode a request should default it to true.
	Enabled bool `json:"enabled"`
	// TimeoutSeconds bounds one attempt; nil means no bound.
	TimeoutSeconds *int `json:"timeout_seconds"`
	// RetryPolicy says whether and when a failed attempt is retried.
	RetryPolicy RetryPolicy `json:"retry_policy"`
	// OverlapPolicy says what a new run does while another run of the task
	// is active. Defaults to [OverlapSkipIfRunning].
	OverlapPolicy OverlapPolicy `json:"overlap_policy"`
	// SessionPolicy says which conversation session runs use.
	SessionPolicy SessionPolicy `json:"session_policy"`
	// WorkspacePolicy says where run files go and which are written.
	WorkspacePolicy WorkspacePolicy `json:"workspace_policy"`
	// Metadata is free-form and replaced as a whole on update.
	Metadata map[string]any `json:"metadata,omitempty"`
	// CreatedAt is set by the store on creation and kept on replacement.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is set by the store on every write.
	UpdatedAt time.Time `json:"updated_at"`
}

// OverlapPolicy says what a new run of a task does while another run of
// the same task is active (queued, claimed, running or retrying). Stores
// apply it atomically with the run's creation.
type OverlapPolicy string

// Overlap policies, named as the original names them.
const (
	// OverlapSkipIfRunning records the new run directly as
	// [RunSkipped]. The default.
	OverlapSkipIfRunning OverlapPolicy = "skip_if_running"
	// OverlapQueueNext queues the new run but keeps it unclaimable while
	// an earlier unfinished run of the task exists.
	OverlapQueueNext OverlapPolicy = "queue_next"
	// OverlapCancelPrevious requests cancellation of every active run of
	// the task and queues the new run, in one write.
	OverlapCancelPrevious OverlapPolicy = "cancel_previous"
	// OverlapAllowParallel queues the new run regardless.
	OverlapAllowParallel OverlapPolicy = "allow_parallel"
)

// ConsultsActiveRuns reports whether creating a run under p depends on the
// task's active runs (skip_if_running and cancel_previous do; queue_next
// is decided at claim time and allow_parallel never looks). Stores use it
// to avoid loading, and locking, a long queue for nothing. An unset policy
// counts as the default, skip_if_running.
func (p OverlapPolicy) ConsultsActiveRuns() bool {
	return p == "" || p == OverlapSkipIfRunning || p == OverlapCancelPrevious
}

// OverlapPolicies lists every overlap policy.
var OverlapPolicies = []OverlapPolicy{OverlapSkipIfRunning, OverlapQueueNext, OverlapCancelPrevious, OverlapAllowParallel}

// SessionMode says how a run's conversation session id is chosen.
type SessionMode string

// Session modes.
const (
	// SessionPerTask shares one session across the task's runs:
	// "background:{agent_id}:{task_id}". The default.
	SessionPerTask SessionMode = "task"
	// SessionPerRun gives every run its own session: "background:{run_id}".
	SessionPerRun SessionMode = "run"
	// SessionFixed uses [SessionPolicy.SessionID] as given.
	SessionFixed SessionMode = "fixed"
)

// SessionPolicy says which conversation session a task's runs use.
type SessionPolicy struct {
	// Mode defaults to [SessionPerTask].
	Mode SessionMode `json:"mode"`
	// SessionID is the session of [SessionFixed]; required there and
	// ignored otherwise.
	SessionID string `json:"session_id,omitempty"`
}

// DefaultNamespaceTemplate is the default [WorkspacePolicy.NamespaceTemplate].
const DefaultNamespaceTemplate = "background/{agent_id}/{task_id}/{run_id}"

// WorkspacePolicy says where a run's files go and which of them the system
// writes.
type WorkspacePolicy struct {
	// NamespaceTemplate is the run's workspace path relative to the
	// workspace's files area; it may use {agent_id}, {task_id} and
	// {run_id}. Defaults to [DefaultNamespaceTemplate].
	NamespaceTemplate string `json:"namespace_template"`
	// WriteRunJSON says whether run.json is written. Nil means true.
	WriteRunJSON *bool `json:"write_run_json"`
	// WriteEventsJSONL says whether events.jsonl is written. Nil means
	// true.
	WriteEventsJSONL *bool `json:"write_events_jsonl"`
}

// RunJSON reports whether run.json is written.
func (p WorkspacePolicy) RunJSON() bool { return p.WriteRunJSON == nil || *p.WriteRunJSON }

// EventsJSONL reports whether events.jsonl is written.
func (p WorkspacePolicy) EventsJSONL() bool {
	return p.WriteEventsJSONL == nil || *p.WriteEventsJSONL
}

// SessionFor returns the conversation session id of run runID of t.
func (t *Task) SessionFor(runID string) string {
	switch t.SessionPolicy.Mode {
	case SessionPerRun:
		return "background:" + runID
	case SessionFixed:
		return t.SessionPolicy.SessionID
	default:
		return "background:" + t.AgentID + ":" + t.TaskID
	}
}

// WorkspacePathFor returns the workspace path of run runID of t, relative
// to the workspace's files area. Ids are safe (see [ValidateID]) and the
// template is validated, so the result never escapes the area.
func (t *Task) WorkspacePathFor(runID string) string {
	tmpl := t.WorkspacePolicy.NamespaceTemplate
	if tmpl == "" {
		tmpl = DefaultNamespaceTemplate
	}
	return strings.NewReplacer("{agent_id}", t.AgentID, "{task_id}", t.TaskID, "{run_id}", runID).Replace(tmpl)
}

// WithDefaults returns a copy of t with its defaults filled in and its
// times in UTC. Callers decoding a request fill Enabled themselves; every
// other zero field means its default.
func (t Task) WithDefaults() Task {
	t.Schedule = t.Schedule.WithDefaults()
	t.RetryPolicy = t.RetryPolicy.WithDefaults()
	if t.OverlapPolicy == "" {
		t.OverlapPolicy = OverlapSkipIfRunning
	}
	if t.SessionPolicy.Mode == "" {
		t.SessionPolicy.Mode = SessionPerTask
	}
	if t.WorkspacePolicy.NamespaceTemplate == "" {
		t.WorkspacePolicy.NamespaceTemplate = DefaultNamespaceTemplate
	}
	if t.WorkspacePolicy.WriteRunJSON == nil {
		t.WorkspacePolicy.WriteRunJSON = new(true)
	}
	if t.WorkspacePolicy.WriteEventsJSONL == nil {
		t.WorkspacePolicy.WriteEventsJSONL = new(true)
	}
	return t
}

// Validate checks t, naming the first invalid field in a
// [*ValidationError]. Call it on [Task.WithDefaults]'s result.
func (t *Task) Validate() error {
	if err := ValidateID("task_id", t.TaskID); err != nil {
		return err
	}
	if err := ValidateID("agent_id", t.AgentID); err != nil {
		return err
	}
	if strings.TrimSpace(t.Query) == "" {
		return invalid("query", "must not be blank")
	}
	if err := t.Schedule.Validate(); err != nil {
		return prefixField("schedule", err)
	}
	if t.TimeoutSeconds != nil && *t.TimeoutSeconds <= 0 {
		return invalid("timeout_seconds", "must be greater than 0")
	}
	if err := t.RetryPolicy.Validate(); err != nil {
		return prefixField("retry_policy", err)
	}
	if !slices.Contains(OverlapPolicies, t.OverlapPolicy) {
		return invalid("overlap_policy", "must be one of skip_if_running, queue_next, cancel_previous, allow_parallel")
	}
	switch t.SessionPolicy.Mode {
	case SessionPerTask, SessionPerRun:
	case SessionFixed:
		if strings.TrimSpace(t.SessionPolicy.SessionID) == "" {
			return invalid("session_policy.session_id", "is required when mode is fixed")
		}
	default:
		return invalid("session_policy.mode", "must be one of task, run, fixed")
	}
	if err := validateNamespaceTemplate(t.WorkspacePolicy.NamespaceTemplate); err != nil {
		return prefixField("workspace_policy", err)
	}
	return nil
}

// validateNamespaceTemplate checks that a namespace template stays inside
// the files area whatever the ids are.
func validateNamespaceTemplate(tmpl string) error {
	const field = "namespace_template"
	if strings.TrimSpace(tmpl) == "" {
		return invalid(field, "must not be blank")
	}
	if strings.HasPrefix(tmpl, "/") || strings.Contains(tmpl, `\`) {
		return invalid(field, "must be a relative path using /")
	}
	rest := strings.NewReplacer("{agent_id}", "", "{task_id}", "", "{run_id}", "").Replace(tmpl)
	if strings.ContainsAny(rest, "{}") {
		return invalid(field, "may only use {agent_id}, {task_id} and {run_id}")
	}
	for seg := range strings.SplitSeq(tmpl, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalid(field, "must not contain empty, . or .. segments")
		}
	}
	return nil
}

// finite reports whether f is neither NaN nor infinite.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
