package task

import (
	"errors"
	"testing"
	"time"
)

func TestRetryDecide(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name    string
		p       RetryPolicy
		attempt int
		reason  FailureReason
		retry   bool
		delay   time.Duration
	}{
		{"default never retries", RetryPolicy{}, 1, FailureException, false, 0},
		{"fixed uses initial", RetryPolicy{MaxRetries: 3, InitialDelaySeconds: f(5)}, 2, FailureException, true, 5 * time.Second},
		{"default initial is 30s", RetryPolicy{MaxRetries: 1}, 1, FailureTimeout, true, 30 * time.Second},
		{"last attempt retries", RetryPolicy{MaxRetries: 2, InitialDelaySeconds: f(1)}, 2, FailureException, true, time.Second},
		{"no retries left", RetryPolicy{MaxRetries: 2, InitialDelaySeconds: f(1)}, 3, FailureException, false, 0},
		{"exponential first delay is initial", RetryPolicy{MaxRetries: 5, InitialDelaySeconds: f(5), Backoff: BackoffExponential}, 1, FailureException, true, 5 * time.Second},
		{"exponential doubles", RetryPolicy{MaxRetries: 5, InitialDelaySeconds: f(5), Backoff: BackoffExponential}, 3, FailureException, true, 20 * time.Second},
		{"exponential capped", RetryPolicy{MaxRetries: 10, InitialDelaySeconds: f(5), MaxDelaySeconds: f(30), Backoff: BackoffExponential}, 9, FailureException, true, 30 * time.Second},
		{"exponential huge attempt stays capped", RetryPolicy{MaxRetries: 1 << 30, InitialDelaySeconds: f(1), Backoff: BackoffExponential}, 1 << 29, FailureException, true, 300 * time.Second},
		{"zero initial retries at once", RetryPolicy{MaxRetries: 1, InitialDelaySeconds: f(0), MaxDelaySeconds: f(0)}, 1, FailureException, true, 0},
		{"fractional seconds", RetryPolicy{MaxRetries: 1, InitialDelaySeconds: f(0.25)}, 1, FailureException, true, 250 * time.Millisecond},
		{"reason not retried", RetryPolicy{MaxRetries: 3, RetryOn: []FailureReason{FailureException}}, 1, FailureTimeout, false, 0},
		{"empty retry_on retries nothing", RetryPolicy{MaxRetries: 3, RetryOn: []FailureReason{}}, 1, FailureException, false, 0},
		{"attempt zero", RetryPolicy{MaxRetries: 3}, 0, FailureException, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			retry, delay := tt.p.Decide(tt.attempt, tt.reason)
			if retry != tt.retry || delay != tt.delay {
				t.Errorf("Decide(%d, %s) = %v, %v; want %v, %v", tt.attempt, tt.reason, retry, delay, tt.retry, tt.delay)
			}
		})
	}
}

func TestRetryPolicyValidate(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name  string
		p     RetryPolicy
		field string // empty: valid
	}{
		{"zero value", RetryPolicy{}, ""},
		{"negative retries", RetryPolicy{MaxRetries: -1}, "max_retries"},
		{"negative initial", RetryPolicy{InitialDelaySeconds: f(-1)}, "initial_delay_seconds"},
		{"max below initial", RetryPolicy{InitialDelaySeconds: f(10), MaxDelaySeconds: f(5)}, "max_delay_seconds"},
		{"max below zero initial is fine", RetryPolicy{InitialDelaySeconds: f(0), MaxDelaySeconds: f(0)}, ""},
		{"bad backoff", RetryPolicy{Backoff: "linear"}, "backoff"},
		{"bad reason", RetryPolicy{RetryOn: []FailureReason{"oom"}}, "retry_on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkField(t, tt.p.Validate(), tt.field)
		})
	}
	if got := (RetryPolicy{MaxRetries: 2}).MaxAttempts(); got != 3 {
		t.Errorf("MaxAttempts = %d, want 3", got)
	}
}

// checkField fails unless err is a *ValidationError for field, or nil when
// field is empty.
func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a ValidationError for %s", err, field)
	}
	if ve.Field != field {
		t.Errorf("field = %q (%v), want %q", ve.Field, err, field)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Error("validation error does not match ErrInvalid")
	}
}
