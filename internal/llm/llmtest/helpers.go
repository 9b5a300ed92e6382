package llmtest

import (
	"context"
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/omniserve/omniserve/internal/llm"
)

// SleepRecorder is an [llm.RetryPolicy] SleepFunc that records the delays
// it is asked for instead of waiting, so adapter tests retry at once and
// can assert the backoff.
type SleepRecorder struct {
	mu     sync.Mutex
	delays []time.Duration
}

// Sleep records d and returns at once (with ctx's error, if it ended).
func (s *SleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delays = append(s.delays, d)
	return ctx.Err()
}

// Delays returns the delays recorded so far.
func (s *SleepRecorder) Delays() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.delays)
}

// Collect drains a stream into its text deltas, its final response and
// its error.
func Collect(seq iter.Seq2[*llm.Chunk, error]) (deltas []string, final *llm.Response, err error) {
	for c, e := range seq {
		if e != nil {
			return deltas, final, e
		}
		if c.Done {
			final = c.Response
			continue
		}
		deltas = append(deltas, c.TextDelta)
	}
	return deltas, final, nil
}
