package llm

import (
	"errors"
	"fmt"
	"time"
)

// Error is a failed model call, in one shape for every provider.
type Error struct {
	// Provider names the adapter that failed, e.g. "openai".
	Provider string
	// StatusCode is the HTTP status, or 0 when no response arrived.
	StatusCode int
	// Retryable reports whether trying again may succeed (429, 5xx,
	// connection failures, timeouts).
	Retryable bool
	// RetryAfter is the server's requested delay, when it sent one.
	RetryAfter time.Duration
	// Message is a short, secret-free description.
	Message string
	// Err is the underlying cause, if any.
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.StatusCode != 0 {
		return fmt.Sprintf("%s: status %d: %s", e.Provider, e.StatusCode, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Provider, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// IsRetryable reports whether err is an [*Error] marked retryable.
func IsRetryable(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Retryable
}

// ErrStreamTruncated means a stream ended before the provider said it was done.
var ErrStreamTruncated = errors.New("stream ended before completion")
