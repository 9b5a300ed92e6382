package task

import (
	"errors"
	"fmt"
)

// Sentinels every [Store] returns, so callers branch without knowing the
// backend. Backends translate their own errors into these at the edge.
var (
	// ErrNotFound reports that an agent, task, run or schedule state does
	// not exist. Stores return a [*NotFoundError], which matches it.
	ErrNotFound = errors.New("task: not found")
	// ErrConflict reports a write that contradicts the stored state. The
	// more specific sentinels below all match it.
	ErrConflict = errors.New("task: conflict")
	// ErrAlreadyExists reports an id that is already taken. Stores return
	// an [*AlreadyExistsError], which matches it and [ErrConflict].
	ErrAlreadyExists = fmt.Errorf("%w: already exists", ErrConflict)
	// ErrStaleRevision reports a scheduled dispatch or advance computed
	// against a schedule revision that has since changed.
	ErrStaleRevision = fmt.Errorf("%w: stale schedule revision", ErrConflict)
	// ErrSchedulePaused reports a scheduled dispatch for a paused schedule.
	ErrSchedulePaused = fmt.Errorf("%w: schedule paused", ErrConflict)
	// ErrAgentBusy reports an agent deletion refused because the agent has
	// active runs.
	ErrAgentBusy = fmt.Errorf("%w: agent has active runs", ErrConflict)
	// ErrAttemptOpen reports an attempt started while the run's previous
	// attempt is still open.
	ErrAttemptOpen = fmt.Errorf("%w: attempt still open", ErrConflict)
	// ErrTaskDisabled reports a run requested for a disabled task.
	ErrTaskDisabled = errors.New("task: task disabled")
	// ErrLeaseLost reports an execution-state write whose caller does not
	// hold the run's lease: no token, another worker's token, a token
	// from an earlier claim, or an expired lease. The caller must stop
	// working on the run.
	ErrLeaseLost = errors.New("task: lease lost")
	// ErrInvalidTransition reports a status change the state machine does
	// not allow. Stores return a [*TransitionError], which matches it.
	ErrInvalidTransition = errors.New("task: invalid transition")
	// ErrCancelled reports a write refused because the run's cancellation
	// was requested: completing, retrying, releasing, starting or opening
	// an attempt. The holder must finish the run as cancelled instead.
	ErrCancelled = errors.New("task: run cancellation requested")
	// ErrInvalid reports input that fails validation. Validation returns a
	// [*ValidationError], which matches it.
	ErrInvalid = errors.New("task: invalid")
)

// NotFoundError names the record that does not exist. It matches
// [ErrNotFound].
type NotFoundError struct {
	// Kind is "agent", "task", "run" or "schedule state".
	Kind string
	// ID is the id that was looked up.
	ID string
}

// Error reads like "task not found: daily_report".
func (e *NotFoundError) Error() string { return e.Kind + " not found: " + e.ID }

// Is reports whether target is [ErrNotFound].
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// AlreadyExistsError names the id that is already taken. It matches
// [ErrAlreadyExists] and [ErrConflict].
type AlreadyExistsError struct {
	// Kind is "agent", "task", "run" or "attempt".
	Kind string
	// ID is the id that is taken.
	ID string
}

// Error reads like "task already exists: daily_report".
func (e *AlreadyExistsError) Error() string { return e.Kind + " already exists: " + e.ID }

// Is reports whether target is [ErrAlreadyExists] or [ErrConflict].
func (e *AlreadyExistsError) Is(target error) bool {
	return target == ErrAlreadyExists || target == ErrConflict
}

// TransitionError reports a status change the state machine refuses. It
// matches [ErrInvalidTransition].
type TransitionError struct {
	// From is the run's current status.
	From RunStatus
	// To is the status that was asked for.
	To RunStatus
}

// Error reads like "invalid run transition completed -> queued".
func (e *TransitionError) Error() string {
	return fmt.Sprintf("invalid run transition %s -> %s", e.From, e.To)
}

// Is reports whether target is [ErrInvalidTransition].
func (e *TransitionError) Is(target error) bool { return target == ErrInvalidTransition }

// ValidationError reports one invalid field. The HTTP layer turns it into
// a 422 naming [ValidationError.Field]. It matches [ErrInvalid].
type ValidationError struct {
	// Field is the dotted JSON path of the offending field, such as
	// "schedule.timezone" or "retry_policy.max_delay_seconds".
	Field string
	// Message says what is wrong, without the field name.
	Message string
}

// Error reads like "schedule.timezone: unknown time zone Mars/Olympus".
func (e *ValidationError) Error() string { return e.Field + ": " + e.Message }

// Is reports whether target is [ErrInvalid].
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// invalid returns a [*ValidationError] for field.
func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// prefixField returns err with prefix prepended to a [*ValidationError]'s
// field; other errors pass through.
func prefixField(prefix string, err error) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return &ValidationError{Field: prefix + "." + ve.Field, Message: ve.Message}
	}
	return err
}
