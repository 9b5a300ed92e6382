package llm

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Defaults of [RetryPolicy].
const (
	DefaultMaxAttempts = 3
	DefaultBaseDelay   = 500 * time.Millisecond
	DefaultMaxDelay    = 20 * time.Second
)

// RetryPolicy decides how a model call is retried. Every adapter uses it, so
// all providers back off the same way. The zero value is ready to use.
//
// Only errors for which [IsRetryable] reports true are retried. The delay
// before retry n (counting from 1) is drawn uniformly from
// [0, min(MaxDelay, BaseDelay·2^(n-1))] ("full jitter"), unless the error is
// an [*Error] carrying a RetryAfter, which is used instead, capped by
// MaxDelay.
type RetryPolicy struct {
	// MaxAttempts is the total number of attempts, the first one included.
	// Set it to 1 to disable retries. Defaults to 3.
	MaxAttempts int
	// BaseDelay is the backoff cap before the first retry; it doubles for
	// each further retry. Defaults to 500ms.
	BaseDelay time.Duration
	// MaxDelay caps every delay, including a server's Retry-After.
	// Defaults to 20s.
	MaxDelay time.Duration
	// SleepFunc waits for d or until ctx ends, returning ctx's error in the
	// latter case. Tests replace it to avoid real waiting. Defaults to a
	// timer that honours ctx.
	SleepFunc func(ctx context.Context, d time.Duration) error
	// RandFunc returns a duration drawn uniformly from [0, upTo]; upTo is
	// never negative. Tests replace it to make jitter deterministic.
	// Defaults to math/rand/v2.
	RandFunc func(upTo time.Duration) time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = DefaultMaxAttempts
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = DefaultBaseDelay
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = DefaultMaxDelay
	}
	if p.SleepFunc == nil {
		p.SleepFunc = sleep
	}
	if p.RandFunc == nil {
		p.RandFunc = randUpTo
	}
	return p
}

// Do calls fn until it succeeds, returns an error that is not retryable, or
// MaxAttempts calls have been made; it then returns fn's last result
// unchanged. Between attempts it waits as described on [RetryPolicy].
//
// When ctx ends before an attempt or during a wait, Do stops and returns an
// error wrapping ctx's error (so errors.Is(err, context.Canceled) holds)
// whose text names the last attempt's error; that error is deliberately not
// wrapped, so [IsRetryable] reports false for the result.
func (p RetryPolicy) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	p = p.withDefaults()
	var last error
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			return stopped(ctx, attempt-1, last)
		}
		last = fn(ctx)
		if last == nil || !IsRetryable(last) || attempt >= p.MaxAttempts {
			return last
		}
		if ctx.Err() != nil {
			return stopped(ctx, attempt, last)
		}
		if err := p.SleepFunc(ctx, p.delay(attempt, last)); err != nil {
			if ctx.Err() != nil {
				return stopped(ctx, attempt, last)
			}
			return fmt.Errorf("retry wait: %w (after %d attempts, last error: %v)", err, attempt, last)
		}
	}
}

// delay is the wait after the given failed attempt (counting from 1).
func (p RetryPolicy) delay(attempt int, err error) time.Duration {
	if e, ok := errors.AsType[*Error](err); ok && e.RetryAfter > 0 {
		return min(e.RetryAfter, p.MaxDelay)
	}
	ceiling := p.BaseDelay
	for i := 1; i < attempt && ceiling < p.MaxDelay; i++ {
		// Doubling cannot overflow before passing MaxDelay unless MaxDelay is
		// near the maximum Duration, so guard against that too.
		if ceiling > math.MaxInt64/2 {
			ceiling = p.MaxDelay
			break
		}
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxDelay)
	return min(max(p.RandFunc(ceiling), 0), ceiling)
}

// stopped reports that ctx ended after the given number of attempts.
func stopped(ctx context.Context, attempts int, last error) error {
	err := ctx.Err()
	if cause := context.Cause(ctx); cause != nil && cause != err {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	if last == nil {
		return err
	}
	return fmt.Errorf("%w (after %d attempts, last error: %v)", err, attempts, last)
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func randUpTo(upTo time.Duration) time.Duration {
	if upTo <= 0 {
		return 0
	}
	if upTo == math.MaxInt64 {
		return rand.N(upTo)
	}
	return rand.N(upTo + 1)
}

// ParseRetryAfter interprets the value of an HTTP Retry-After header, either
// delta-seconds ("120", fractional values tolerated) or an HTTP-date, as a
// delay from now. A date in the past yields zero and a value too large for a
// Duration saturates at its maximum. It reports false when the
// value is empty or malformed. Adapters share it so every provider reads the
// header the same way.
func ParseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if isDecimal(value) {
		secs, err := strconv.ParseFloat(value, 64)
		if err != nil || secs >= float64(math.MaxInt64)/float64(time.Second) {
			return time.Duration(math.MaxInt64), true
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	// The three date formats HTTP/1.1 allows (RFC 9110, section 5.6.7).
	for _, layout := range []string{time.RFC1123, time.RFC850, time.ANSIC} {
		t, err := time.Parse(layout, value)
		if err != nil {
			continue
		}
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// isDecimal reports whether s is digits with at most one decimal point, the
// only numeric form accepted (no signs, exponents, "Inf" or "NaN").
func isDecimal(s string) bool {
	digits, dots := 0, 0
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case c == '.':
			dots++
		default:
			return false
		}
	}
	return digits > 0 && dots <= 1
}

// StreamAttemptFunc runs one streaming attempt, passing each text chunk to
// emit, and returns the assembled response. It returns (nil, nil) as soon
// as emit reports false (the consumer stopped).
type StreamAttemptFunc func(ctx context.Context, emit func(*Chunk) bool) (*Response, error)

// Stream turns attempt into a stream with p's retries: a failure is retried
// only while no chunk has reached the consumer, since a retry after that
// would replay text it has already seen; a later failure is yielded as it
// is. The stream ends with a Done chunk carrying the response, or with one
// error. onFailure, if set, is told of every failed attempt (for logs).
func (p RetryPolicy) Stream(ctx context.Context, attempt StreamAttemptFunc, onFailure func(ctx context.Context, n int, err error)) iter.Seq2[*Chunk, error] {
	return func(yield func(*Chunk, error) bool) {
		var (
			yielded bool // a chunk reached the consumer, so no more retries
			stopped bool // the consumer stopped iterating
			late    error
			final   *Response
			n       int
		)
		emit := func(c *Chunk) bool {
			yielded = true
			if !yield(c, nil) {
				stopped = true
				return false
			}
			return true
		}
		err := p.Do(ctx, func(ctx context.Context) error {
			n++
			resp, err := attempt(ctx, emit)
			switch {
			case stopped:
				return nil
			case err != nil:
				if onFailure != nil {
					onFailure(ctx, n, err)
				}
				if yielded {
					late = err
					return nil
				}
				return err
			}
			final = resp
			return nil
		})
		if stopped {
			return
		}
		if err == nil {
			err = late
		}
		if err != nil {
			yield(nil, err)
			return
		}
		yield(&Chunk{Done: true, Response: final}, nil)
	}
}

// Call runs attempt under p and returns its response. onFailure, if set,
// is told of every failed attempt (for logs).
func (p RetryPolicy) Call(ctx context.Context, attempt func(ctx context.Context) (*Response, error), onFailure func(ctx context.Context, n int, err error)) (*Response, error) {
	var (
		resp *Response
		n    int
	)
	err := p.Do(ctx, func(ctx context.Context) error {
		n++
		r, err := attempt(ctx)
		if err != nil {
			if onFailure != nil {
				onFailure(ctx, n, err)
			}
			return err
		}
		resp = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return resp, nil
}
