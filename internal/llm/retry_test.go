package llm

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// identityRand makes full jitter return its ceiling, so delays are exact.
func identityRand(upTo time.Duration) time.Duration { return upTo }

func TestRetryPolicyDo(t *testing.T) {
	t.Parallel()

	retryable := &Error{Provider: "p", StatusCode: 503, Retryable: true, Message: "unavailable"}
	fatal := &Error{Provider: "p", StatusCode: 401, Message: "bad key"}
	plain := errors.New("plain")
	slowDown := &Error{Provider: "p", StatusCode: 429, Retryable: true, RetryAfter: 3 * time.Second, Message: "slow down"}
	slowDownLong := &Error{Provider: "p", StatusCode: 429, Retryable: true, RetryAfter: time.Hour, Message: "slow down"}

	tests := []struct {
		name       string
		policy     RetryPolicy
		results    []error // fn's result per call; calls past the end succeed
		wantCalls  int
		wantErr    error
		wantSleeps []time.Duration
	}{
		{
			name:      "success first time",
			wantCalls: 1,
		},
		{
			name:       "retryable then success",
			results:    []error{retryable},
			wantCalls:  2,
			wantSleeps: []time.Duration{DefaultBaseDelay},
		},
		{
			name:      "not retryable",
			results:   []error{fatal},
			wantCalls: 1,
			wantErr:   fatal,
		},
		{
			name:      "plain error is not retried",
			results:   []error{plain},
			wantCalls: 1,
			wantErr:   plain,
		},
		{
			name:       "wrapped retryable error is retried",
			results:    []error{fmt.Errorf("call: %w", retryable)},
			wantCalls:  2,
			wantSleeps: []time.Duration{DefaultBaseDelay},
		},
		{
			name:       "gives up after default attempts with last error",
			results:    []error{retryable, retryable, retryable, retryable},
			wantCalls:  3,
			wantErr:    retryable,
			wantSleeps: []time.Duration{500 * time.Millisecond, time.Second},
		},
		{
			name:       "retryable then fatal stops",
			results:    []error{retryable, fatal, retryable},
			wantCalls:  2,
			wantErr:    fatal,
			wantSleeps: []time.Duration{DefaultBaseDelay},
		},
		{
			name:      "one attempt disables retries",
			policy:    RetryPolicy{MaxAttempts: 1},
			results:   []error{retryable},
			wantCalls: 1,
			wantErr:   retryable,
		},
		{
			name:      "exponential backoff capped by max delay",
			policy:    RetryPolicy{MaxAttempts: 6, BaseDelay: time.Second, MaxDelay: 5 * time.Second},
			results:   []error{retryable, retryable, retryable, retryable, retryable},
			wantCalls: 6,
			wantSleeps: []time.Duration{
				time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second,
			},
		},
		{
			name:       "retry after replaces backoff",
			results:    []error{slowDown},
			wantCalls:  2,
			wantSleeps: []time.Duration{3 * time.Second},
		},
		{
			name:       "retry after capped by max delay",
			results:    []error{slowDownLong},
			wantCalls:  2,
			wantSleeps: []time.Duration{DefaultMaxDelay},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			var sleeps []time.Duration
			p := tt.policy
			p.RandFunc = identityRand
			p.SleepFunc = func(_ context.Context, d time.Duration) error {
				sleeps = append(sleeps, d)
				return nil
			}
			calls := 0
			err := p.Do(t.Context(), func(context.Context) error {
				calls++
				if calls <= len(tt.results) {
					return tt.results[calls-1]
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Errorf("got error %v, want %v", err, tt.wantErr)
			}
			if calls != tt.wantCalls {
				t.Errorf("got %d calls, want %d", calls, tt.wantCalls)
			}
			if diff := cmp.Diff(tt.wantSleeps, sleeps); diff != "" {
				t.Errorf("sleeps mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRetryPolicyDelay(t *testing.T) {
	t.Parallel()

	half := func(upTo time.Duration) time.Duration { return upTo / 2 }
	tooBig := func(upTo time.Duration) time.Duration { return upTo + time.Hour }
	negative := func(time.Duration) time.Duration { return -time.Second }
	retryable := &Error{Retryable: true}

	tests := []struct {
		name    string
		policy  RetryPolicy
		attempt int
		err     error
		want    time.Duration
	}{
		{"first retry", RetryPolicy{RandFunc: identityRand}, 1, retryable, 500 * time.Millisecond},
		{"second retry doubles", RetryPolicy{RandFunc: identityRand}, 2, retryable, time.Second},
		{"sixth retry reaches 16s", RetryPolicy{RandFunc: identityRand}, 6, retryable, 16 * time.Second},
		{"seventh retry capped", RetryPolicy{RandFunc: identityRand}, 7, retryable, DefaultMaxDelay},
		{"huge attempt capped", RetryPolicy{RandFunc: identityRand}, 10_000, retryable, DefaultMaxDelay},
		{
			"huge max delay does not overflow",
			RetryPolicy{RandFunc: identityRand, BaseDelay: time.Hour, MaxDelay: math.MaxInt64},
			200, retryable, math.MaxInt64,
		},
		{"jitter is applied", RetryPolicy{RandFunc: half}, 3, retryable, time.Second},
		{"jitter clamped to ceiling", RetryPolicy{RandFunc: tooBig}, 1, retryable, 500 * time.Millisecond},
		{"jitter clamped to zero", RetryPolicy{RandFunc: negative}, 1, retryable, 0},
		{
			"retry after wins over backoff",
			RetryPolicy{RandFunc: identityRand},
			5, &Error{Retryable: true, RetryAfter: 2 * time.Second}, 2 * time.Second,
		},
		{
			"wrapped retry after",
			RetryPolicy{RandFunc: identityRand},
			1, fmt.Errorf("x: %w", &Error{Retryable: true, RetryAfter: 7 * time.Second}), 7 * time.Second,
		},
		{
			"retry after capped",
			RetryPolicy{RandFunc: identityRand, MaxDelay: time.Second},
			1, &Error{Retryable: true, RetryAfter: time.Minute}, time.Second,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.policy.withDefaults().delay(tt.attempt, tt.err)
			if got != tt.want {
				t.Errorf("got delay %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRetryPolicyDoContext(t *testing.T) {
	t.Parallel()

	retryable := &Error{Provider: "p", StatusCode: 503, Retryable: true, Message: "unavailable"}

	t.Run("canceled before first attempt", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		calls := 0
		err := RetryPolicy{}.Do(ctx, func(context.Context) error { calls++; return nil })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", err)
		}
		if calls != 0 {
			t.Errorf("got %d calls, want 0", calls)
		}
	})

	t.Run("canceled during wait", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		p := RetryPolicy{SleepFunc: func(ctx context.Context, _ time.Duration) error {
			cancel()
			return ctx.Err()
		}}
		calls := 0
		err := p.Do(ctx, func(context.Context) error { calls++; return retryable })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", err)
		}
		if IsRetryable(err) {
			t.Errorf("got retryable error %v, want not retryable", err)
		}
		if !strings.Contains(err.Error(), retryable.Error()) {
			t.Errorf("got error %q, want it to name the last error %q", err, retryable)
		}
		if calls != 1 {
			t.Errorf("got %d calls, want 1", calls)
		}
	})

	t.Run("canceled by the attempt itself", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		sleeps := 0
		p := RetryPolicy{SleepFunc: func(context.Context, time.Duration) error { sleeps++; return nil }}
		err := p.Do(ctx, func(context.Context) error { cancel(); return retryable })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got error %v, want context.Canceled", err)
		}
		if sleeps != 0 {
			t.Errorf("got %d sleeps, want 0", sleeps)
		}
	})

	t.Run("cause is kept", func(t *testing.T) {
		t.Parallel()
		errStop := errors.New("stop")
		ctx, cancel := context.WithCancelCause(t.Context())
		cancel(errStop)
		err := RetryPolicy{}.Do(ctx, func(context.Context) error { return nil })
		if !errors.Is(err, context.Canceled) || !errors.Is(err, errStop) {
			t.Errorf("got error %v, want context.Canceled and the cause", err)
		}
	})

	t.Run("sleep failure without context end", func(t *testing.T) {
		t.Parallel()
		errSleep := errors.New("no sleep")
		p := RetryPolicy{SleepFunc: func(context.Context, time.Duration) error { return errSleep }}
		err := p.Do(t.Context(), func(context.Context) error { return retryable })
		if !errors.Is(err, errSleep) || IsRetryable(err) {
			t.Errorf("got error %v, want the sleep error, not retryable", err)
		}
	})
}

func TestRetryPolicyDefaultSleep(t *testing.T) {
	t.Parallel()

	retryable := &Error{Provider: "p", Retryable: true, Message: "unavailable"}

	t.Run("waits the backoff", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			calls := 0
			p := RetryPolicy{RandFunc: identityRand}
			err := p.Do(t.Context(), func(context.Context) error {
				calls++
				if calls < 3 {
					return retryable
				}
				return nil
			})
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			// In a synctest bubble the clock is fake and only moves when
			// every goroutine is blocked, so this is exact.
			if got, want := time.Since(start), 1500*time.Millisecond; got != want {
				t.Errorf("got %v waited, want %v", got, want)
			}
		})
	})

	t.Run("wait ends with context", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			p := RetryPolicy{RandFunc: identityRand, BaseDelay: time.Hour, MaxDelay: time.Hour}
			start := time.Now()
			err := p.Do(ctx, func(context.Context) error { return retryable })
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("got error %v, want context.DeadlineExceeded", err)
			}
			if got, want := time.Since(start), time.Second; got != want {
				t.Errorf("got %v waited, want %v", got, want)
			}
		})
	})
}

func TestRandUpTo(t *testing.T) {
	t.Parallel()
	for _, upTo := range []time.Duration{0, 1, time.Millisecond, time.Hour, math.MaxInt64} {
		for range 100 {
			if got := randUpTo(upTo); got < 0 || got > upTo {
				t.Fatalf("randUpTo(%v) = %v, want within [0, %v]", upTo, got, upTo)
			}
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()

	now := time.Date(2026, time.March, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"99999999999999999999", math.MaxInt64, true},
		{"-1", 0, false},
		{"+1", 0, false},
		{"1e3", 0, false},
		{"Inf", 0, false},
		{"NaN", 0, false},
		{"1.2.3", 0, false},
		{".", 0, false},
		{"soon", 0, false},
		{"Mon, 02 Mar 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Monday, 02-Mar-26 10:01:00 GMT", time.Minute, true},
		{"Mon Mar  2 10:00:05 2026", 5 * time.Second, true},
		{"Mon, 02 Mar 2026 09:00:00 GMT", 0, true},
		{"Mon, 02 Mar 2026 10:00:30", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			got, ok := ParseRetryAfter(tt.value, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter(%q) = %v, %t, want %v, %t", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestRetryPolicyStream(t *testing.T) {
	noSleep := func(context.Context, time.Duration) error { return nil }
	p := RetryPolicy{SleepFunc: noSleep}
	retryable := &Error{Provider: "x", Retryable: true, Message: "flaky"}

	t.Run("retried before the first chunk", func(t *testing.T) {
		calls := 0
		var texts []string
		var done *Response
		for c, err := range p.Stream(t.Context(), func(ctx context.Context, emit func(*Chunk) bool) (*Response, error) {
			calls++
			if calls == 1 {
				return nil, retryable
			}
			emit(&Chunk{TextDelta: "hi"})
			return &Response{Message: Message{Content: "hi"}}, nil
		}, nil) {
			if err != nil {
				t.Fatal(err)
			}
			if c.Done {
				done = c.Response
			} else {
				texts = append(texts, c.TextDelta)
			}
		}
		if calls != 2 || len(texts) != 1 || done == nil || done.Message.Content != "hi" {
			t.Errorf("calls %d texts %v done %v", calls, texts, done)
		}
	})

	t.Run("not retried after a chunk", func(t *testing.T) {
		calls, failures := 0, 0
		var last error
		for _, err := range p.Stream(t.Context(), func(ctx context.Context, emit func(*Chunk) bool) (*Response, error) {
			calls++
			emit(&Chunk{TextDelta: "partial"})
			return nil, retryable
		}, func(context.Context, int, error) { failures++ }) {
			last = err
		}
		if calls != 1 || failures != 1 || !errors.Is(last, retryable) {
			t.Errorf("calls %d failures %d last %v", calls, failures, last)
		}
	})

	t.Run("consumer stops", func(t *testing.T) {
		stoppedSeen := false
		for range p.Stream(t.Context(), func(ctx context.Context, emit func(*Chunk) bool) (*Response, error) {
			if !emit(&Chunk{TextDelta: "a"}) {
				stoppedSeen = true
				return nil, nil
			}
			return &Response{}, nil
		}, nil) {
			break
		}
		if !stoppedSeen {
			t.Error("attempt never learned the consumer stopped")
		}
	})
}
