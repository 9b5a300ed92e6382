package background

import (
	"context"
	"fmt"

	"github.com/omniserve/omniserve/internal/task"
)

// Cancel requests run runID's cancellation and returns the run as it now
// stands. The request is always recorded (cancel_requested_at, once) and
// is idempotent. A queued run, one waiting out a retry delay included, is
// cancelled at once and its background_run_cancelled event emitted. A run
// this process executes has its handler cancelled now and ends cancelled.
// A run another process holds keeps its status here: that process sees
// the request at its next heartbeat or checkpoint and ends it cancelled.
// A terminal run is left as it is. An unknown run is [task.ErrNotFound].
func (m *Manager) Cancel(ctx context.Context, runID string) (*task.Run, error) {
	before, err := m.cfg.Store.RunGet(ctx, &task.RunGetParams{RunID: runID})
	if err != nil {
		return nil, fmt.Errorf("cancel run %s: %w", runID, err)
	}
	r, err := m.cfg.Store.RunCancel(ctx, &task.RunCancelParams{RunID: runID})
	if err != nil {
		return nil, fmt.Errorf("cancel run %s: %w", runID, err)
	}
	switch {
	case r.Status == task.RunCancelled && before.Status == task.RunQueued:
		// task.Store.RunCancel does not say whether this call ended the
		// run; the status before it does, unless another canceller raced
		// this one between the two reads.
		t, err := m.storeTask(ctx, r.TaskID)
		if err != nil {
			m.logger.WarnContext(ctx, "read task of cancelled run", "run_id", runID, "error", err)
		}
		m.awaitCreation(runID)
		m.emit(ctx, EventRunCancelled, seqWhileQueued(r), r, t, eventExtra{unheld: true})
	case r.Status.Held():
		m.signal(runID, errRunCancelled)
	}
	m.logger.InfoContext(ctx, "run cancellation requested", "run_id", runID, "status", r.Status)
	return r, nil
}
