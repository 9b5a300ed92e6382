package httpapi

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/omniserve/omniserve/internal/metrics"
)

// admission caps the runs one process executes at once. A run request
// waits up to wait for a slot (waiters are served in arrival order, as Go
// serves blocked channel senders), then is refused with 503 before any
// work is done. A nil *admission admits everything.
type admission struct {
	slots   chan struct{}
	wait    time.Duration
	metrics *metrics.Metrics
}

func newAdmission(limit int, wait time.Duration, m *metrics.Metrics) *admission {
	m.RunsLimit(limit)
	if limit <= 0 {
		return nil
	}
	return &admission{slots: make(chan struct{}, limit), wait: wait, metrics: m}
}

// serverBusy is the 503 body of a refused run.
type serverBusy struct {
	Kind              string `json:"error"`
	Message           string `json:"message"`
	MaxConcurrentRuns int    `json:"max_concurrent_runs"`
	RetryAfter        int    `json:"retry_after"`
	status            int
	headers           http.Header
}

func (e *serverBusy) Error() string           { return e.Message }
func (e *serverBusy) GetStatus() int          { return e.status }
func (e *serverBusy) GetHeaders() http.Header { return e.headers }

// acquire takes a slot or returns the 503 error; release must be called
// once the run (or its stream) ends.
func (ad *admission) acquire(ctx context.Context) (release func(), err error) {
	if ad == nil {
		return func() {}, nil
	}
	select {
	case ad.slots <- struct{}{}:
		ad.metrics.RunAdmitted()
		return ad.release, nil
	default:
	}
	doneWaiting := ad.metrics.RunWaiting()
	timer := time.NewTimer(ad.wait)
	defer timer.Stop()
	select {
	case ad.slots <- struct{}{}:
		doneWaiting()
		ad.metrics.RunAdmitted()
		return ad.release, nil
	case <-ctx.Done():
		doneWaiting()
		return nil, ctx.Err()
	case <-timer.C:
		doneWaiting()
	}
	ad.metrics.RunRejected()
	retry := max(int(math.Ceil(ad.wait.Seconds())), 1)
	limit := cap(ad.slots)
	return nil, &serverBusy{
		Kind:              "ServerBusy",
		Message:           fmt.Sprintf("This server is already running %d runs at once and none finished within %s seconds. Retry shortly.", limit, strconv.FormatFloat(ad.wait.Seconds(), 'f', -1, 64)),
		MaxConcurrentRuns: limit,
		RetryAfter:        retry,
		status:            http.StatusServiceUnavailable,
		headers:           http.Header{"Retry-After": {strconv.Itoa(retry)}},
	}
}

func (ad *admission) release() {
	<-ad.slots
	ad.metrics.RunReleased()
}
