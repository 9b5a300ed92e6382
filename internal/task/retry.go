package task

import (
	"slices"
	"time"
)

// Backoff says how the retry delay grows.
type Backoff string

// Backoff kinds.
const (
	// BackoffFixed waits [RetryPolicy.InitialDelaySeconds] before every
	// retry. The default.
	BackoffFixed Backoff = "fixed"
	// BackoffExponential doubles the delay after every failed attempt,
	// starting from [RetryPolicy.InitialDelaySeconds].
	BackoffExponential Backoff = "exponential"
)

// FailureReason classifies a failed attempt for [RetryPolicy.RetryOn].
type FailureReason string

// Failure reasons.
const (
	// FailureException is any error from the agent, including a result
	// whose status is not success and a worker shutdown mid-attempt.
	FailureException FailureReason = "exception"
	// FailureTimeout is an attempt that outlived the task's timeout.
	FailureTimeout FailureReason = "timeout"
)

// Retry policy defaults.
const (
	DefaultInitialDelaySeconds = 30.0
	DefaultMaxDelaySeconds     = 300.0
)

// RetryPolicy says whether and when a failed attempt is retried. The delay
// is deterministic: the same policy, attempt and reason always give the
// same delay, so it carries no jitter.
type RetryPolicy struct {
	// MaxRetries is how many times a run may be retried; a run has
	// MaxRetries+1 attempts. Defaults to 0.
	MaxRetries int `json:"max_retries"`
	// InitialDelaySeconds is the first retry's delay. Nil means
	// [DefaultInitialDelaySeconds]; zero retries at once.
	InitialDelaySeconds *float64 `json:"initial_delay_seconds"`
	// MaxDelaySeconds caps the delay; it must not be below the initial
	// delay unless that is zero. Nil means [DefaultMaxDelaySeconds].
	MaxDelaySeconds *float64 `json:"max_delay_seconds"`
	// Backoff defaults to [BackoffFixed].
	Backoff Backoff `json:"backoff"`
	// RetryOn lists the failure reasons worth a retry. Nil means both
	// [FailureException] and [FailureTimeout].
	RetryOn []FailureReason `json:"retry_on"`
}

// WithDefaults returns a copy of p with its defaults filled in.
func (p RetryPolicy) WithDefaults() RetryPolicy {
	if p.InitialDelaySeconds == nil {
		p.InitialDelaySeconds = new(DefaultInitialDelaySeconds)
	}
	if p.MaxDelaySeconds == nil {
		p.MaxDelaySeconds = new(DefaultMaxDelaySeconds)
	}
	if p.Backoff == "" {
		p.Backoff = BackoffFixed
	}
	if p.RetryOn == nil {
		p.RetryOn = []FailureReason{FailureException, FailureTimeout}
	}
	return p
}

// Validate checks p, naming the first invalid field in a
// [*ValidationError].
func (p *RetryPolicy) Validate() error {
	q := p.WithDefaults()
	initial, maxDelay := *q.InitialDelaySeconds, *q.MaxDelaySeconds
	switch {
	case p.MaxRetries < 0:
		return invalid("max_retries", "must not be negative")
	case !finite(initial) || initial < 0:
		return invalid("initial_delay_seconds", "must be a number not below 0")
	case !finite(maxDelay) || maxDelay < 0:
		return invalid("max_delay_seconds", "must be a number not below 0")
	case initial > 0 && maxDelay < initial:
		return invalid("max_delay_seconds", "must not be below initial_delay_seconds")
	case q.Backoff != BackoffFixed && q.Backoff != BackoffExponential:
		return invalid("backoff", "must be fixed or exponential")
	}
	for _, r := range q.RetryOn {
		if r != FailureException && r != FailureTimeout {
			return invalid("retry_on", "may only contain exception and timeout")
		}
	}
	return nil
}

// MaxAttempts is how many attempts a run may have: MaxRetries+1.
func (p RetryPolicy) MaxAttempts() int { return max(p.MaxRetries, 0) + 1 }

// Decide says whether a run whose attempt number attempt (1-based) just
// failed for reason is retried, and after what delay. It retries iff reason
// is in RetryOn and attempt <= MaxRetries. The delay is the initial delay
// for fixed backoff and initial × 2^(attempt−1) for exponential, capped at
// the max delay.
func (p RetryPolicy) Decide(attempt int, reason FailureReason) (retry bool, delay time.Duration) {
	q := p.WithDefaults()
	if attempt < 1 || attempt > q.MaxRetries || !slices.Contains(q.RetryOn, reason) {
		return false, 0
	}
	secs := *q.InitialDelaySeconds
	if q.Backoff == BackoffExponential {
		// 2^62 seconds is far past any cap; stop doubling before the
		// float grows without bound.
		for i := 1; i < attempt && i < 62 && secs < *q.MaxDelaySeconds; i++ {
			secs *= 2
		}
	}
	return true, seconds(min(secs, *q.MaxDelaySeconds))
}

// seconds converts a count of seconds to a Duration, saturating instead of
// overflowing.
func seconds(s float64) time.Duration {
	const maxSeconds = float64(1<<63-1) / float64(time.Second)
	if s >= maxSeconds {
		return time.Duration(1<<63 - 1)
	}
	if s <= 0 {
		return 0
	}
	return time.Duration(s * float64(time.Second))
}
