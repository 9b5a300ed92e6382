package background

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// RunHandler executes one attempt of a background run: in OmniServe, it
// calls the agent. The manager wires nothing else; package app adapts the
// agent to this interface, so this package never imports it.
//
// ctx is cancelled when the run is cancelled, when the attempt outlives
// the task's timeout_seconds, when the manager loses the run's lease, and
// when the manager stops and its grace period is over; [context.Cause]
// tells which, though the handler need not care: it returns promptly with
// any error and the manager records the right outcome. A returned error
// fails the attempt as an exception (retried when the task's retry policy
// allows); a nil error completes the run.
type RunHandler interface {
	Run(ctx context.Context, req RunRequest) (RunResult, error)
}

// RunHandlerFunc adapts a function to [RunHandler].
type RunHandlerFunc func(ctx context.Context, req RunRequest) (RunResult, error)

// Run calls f.
func (f RunHandlerFunc) Run(ctx context.Context, req RunRequest) (RunResult, error) {
	return f(ctx, req)
}

// RunRequest is what a [RunHandler] gets for one attempt. Its records are
// copies the handler may keep.
type RunRequest struct {
	// Run is the run as it started the attempt: running, under this
	// worker's lease, with Attempt set to the attempt's number.
	Run *task.Run
	// Task is the run's task as stored when the run was claimed.
	Task *task.Task
	// Attempt is the open attempt.
	Attempt *task.Attempt
	// SessionID is the conversation session the run uses.
	SessionID string
	// WorkspacePath is the run's directory in the workspace's files area.
	WorkspacePath string
	// Query is what the agent is asked: [Config.PrepareQueryFunc] applied
	// to the run's query snapshot, never the task's current query.
	Query string
}

// RunResult is what a successful attempt produced.
type RunResult struct {
	// Response is the agent's final response.
	Response string
	// Preview, when set, is recorded as the run's result preview instead
	// of Response. Either is cut to [task.MaxResultPreview] characters.
	Preview string
}

// EventSink receives every lifecycle event. Within one process a run's
// events arrive in sequence order, with one exception: cancelling a run
// just requeued for a retry may deliver background_run_cancelled before
// the requeue's events; across processes only the sequence numbers order
// them. Package app adapts it to the telemetry log (trace
// trace_background_{run_id}, session = the run's session id). An error is
// logged and otherwise ignored: a broken sink never stops a run.
type EventSink interface {
	RunEventAppend(ctx context.Context, ev *RunEvent) error
}

// RunFiles writes a run's system files into its workspace directory:
// run.json and events.jsonl. Package app adapts the workspace to it. The
// manager honours the task's [task.WorkspacePolicy] before calling, and
// errors are logged and ignored: a broken workspace never stops a run or
// its heartbeats.
type RunFiles interface {
	// WriteRunJSON replaces run.json with run.
	WriteRunJSON(ctx context.Context, run *task.Run) error
	// AppendEvent appends line, one event's JSON followed by a newline,
	// to events.jsonl.
	AppendEvent(ctx context.Context, run *task.Run, line []byte) error
}

// Config configures a [Manager]. Zero fields take their defaults.
type Config struct {
	// Store keeps tasks, runs and attempts; required.
	Store task.Store
	// Handler executes attempts; required.
	Handler RunHandler

	// WorkerID names this process's worker in leases and events. Defaults
	// to [task.NewWorkerID].
	WorkerID string
	// Concurrency is how many runs this process executes at once from
	// its queue; inline runs ([Manager.RunNow] without a worker) come on
	// top. Defaults to 4.
	Concurrency int
	// LeaseDuration is the lease a claim takes; a heartbeat renews it
	// every LeaseDuration/4 while a run executes. Defaults to 30s.
	LeaseDuration time.Duration
	// PollInterval is how often an idle worker looks for runs it was not
	// told about: those enqueued by other processes or whose retry delay
	// ended. Runs enqueued by this process wake it at once. Defaults to
	// 1s.
	PollInterval time.Duration
	// RecoveryInterval is how often expired leases are looked for and
	// their runs recovered. Defaults to LeaseDuration/2.
	RecoveryInterval time.Duration
	// SchedulerInterval is how often due schedules are dispatched.
	// Defaults to 1s.
	SchedulerInterval time.Duration
	// WaitPollInterval is how often [Manager.RunNow] with Wait reads the
	// run while another worker may be executing it. Defaults to 50ms.
	WaitPollInterval time.Duration
	// DueLimit caps the schedules one scheduler pass dispatches and the
	// occurrences of one queue_all backlog it takes at once; zero means
	// [task.DefaultDueLimit].
	DueLimit int
	// CancelWait is how long [Manager.Stop], once its context is done
	// and it has cancelled the handlers still running, waits for them to
	// return and for their runs to be recorded. Defaults to 5s.
	CancelWait time.Duration
	// EventTimeout bounds each write of an event to the sink and the
	// workspace. Defaults to 2s.
	EventTimeout time.Duration

	// WorkerDisabled keeps [Manager.Start] from starting the scheduler,
	// worker and recovery loops, as OMNICOREAGENT_BACKGROUND_START_WORKER
	// =false asks: runs then execute only inline, through
	// [Manager.RunNow] with Wait. Defaults to false.
	WorkerDisabled bool

	// Events receives lifecycle events; nil drops them.
	Events EventSink
	// Workspace writes run.json and events.jsonl; nil writes nothing.
	Workspace RunFiles
	// PrepareQueryFunc builds the query an attempt sends from the run and
	// its task. Defaults to [RunContextQuery], which prepends the run
	// context preamble to the run's query snapshot.
	PrepareQueryFunc func(run *task.Run, t *task.Task) string
	// ClockFunc stamps events and times wake-ups. Defaults to
	// [time.Now]. Lease and queue times come from the store's clock.
	ClockFunc func() time.Time
	// Logger receives the manager's logs with component=background; nil
	// discards them.
	Logger *slog.Logger
}

// Defaults of [Config].
const (
	DefaultConcurrency       = 4
	DefaultLeaseDuration     = task.DefaultLeaseDuration
	DefaultPollInterval      = time.Second
	DefaultSchedulerInterval = time.Second
	DefaultWaitPollInterval  = 50 * time.Millisecond
	DefaultCancelWait        = 5 * time.Second
	DefaultEventTimeout      = 2 * time.Second
)

// minHeartbeat bounds how often a heartbeat is written, as the original
// bounds it at 10ms.
const minHeartbeat = 10 * time.Millisecond

func (c Config) withDefaults() Config {
	c.WorkerID = cmp.Or(c.WorkerID, task.NewWorkerID())
	c.Concurrency = cmp.Or(c.Concurrency, DefaultConcurrency)
	c.LeaseDuration = cmp.Or(c.LeaseDuration, DefaultLeaseDuration)
	c.PollInterval = cmp.Or(c.PollInterval, DefaultPollInterval)
	c.RecoveryInterval = cmp.Or(c.RecoveryInterval, c.LeaseDuration/2)
	c.SchedulerInterval = cmp.Or(c.SchedulerInterval, DefaultSchedulerInterval)
	c.WaitPollInterval = cmp.Or(c.WaitPollInterval, DefaultWaitPollInterval)
	c.DueLimit = cmp.Or(c.DueLimit, task.DefaultDueLimit)
	c.CancelWait = cmp.Or(c.CancelWait, DefaultCancelWait)
	c.EventTimeout = cmp.Or(c.EventTimeout, DefaultEventTimeout)
	if c.PrepareQueryFunc == nil {
		c.PrepareQueryFunc = func(run *task.Run, _ *task.Task) string { return RunContextQuery(run) }
	}
	if c.ClockFunc == nil {
		c.ClockFunc = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func (c *Config) validate() error {
	switch {
	case c.Store == nil:
		return errors.New("Store is required")
	case c.Handler == nil:
		return errors.New("Handler is required")
	case c.Concurrency < 0:
		return errors.New("Concurrency must not be negative")
	case c.LeaseDuration < 0:
		return errors.New("LeaseDuration must not be negative")
	case c.PollInterval < 0:
		return errors.New("PollInterval must not be negative")
	case c.RecoveryInterval < 0:
		return errors.New("RecoveryInterval must not be negative")
	case c.SchedulerInterval < 0:
		return errors.New("SchedulerInterval must not be negative")
	case c.WaitPollInterval < 0:
		return errors.New("WaitPollInterval must not be negative")
	case c.DueLimit < 0:
		return errors.New("DueLimit must not be negative")
	case c.CancelWait < 0:
		return errors.New("CancelWait must not be negative")
	case c.EventTimeout < 0:
		return errors.New("EventTimeout must not be negative")
	}
	return task.ValidateID("WorkerID", c.WorkerID)
}
