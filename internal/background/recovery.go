package background

import (
	"context"
	"time"

	"github.com/omniserve/omniserve/internal/task"
)

// recoverLimit bounds the runs one recovery pass takes over.
const recoverLimit = 50

// recoveryLoop takes over runs whose lease expired, as their holder died
// or stalled: at start, so a restarted process resolves what it left
// behind, then every RecoveryInterval, and at once again after a full
// pass.
func (m *Manager) recoveryLoop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-timer.C:
		case <-ctx.Done():
			return
		}
		wait := m.cfg.RecoveryInterval
		if m.recoverPass(ctx) {
			wait = 0
		}
		timer.Reset(wait)
	}
}

// recoverPass recovers what expired and reports whether the pass was
// full.
func (m *Manager) recoverPass(ctx context.Context) bool {
	recs, err := m.cfg.Store.RunRecoverExpired(ctx, &task.RunRecoverExpiredParams{Limit: recoverLimit})
	if err != nil {
		if ctx.Err() == nil {
			m.logger.WarnContext(ctx, "recover expired runs", "error", err)
		}
		return false
	}
	for _, rec := range recs {
		m.recovered(ctx, rec)
	}
	return len(recs) >= recoverLimit
}

// recovered emits the events of one recovered run: background_run_recovered,
// then the terminal event when recovery ended the run (cancelled, failed).
func (m *Manager) recovered(ctx context.Context, rec *task.RunRecovery) {
	r := rec.Run
	// This process may still be executing the run, stalled past its
	// lease: stop it, its writes would be refused anyway.
	m.signalBefore(r.RunID, r.LeaseGeneration, errLeaseLost)
	t, err := m.storeTask(ctx, r.TaskID)
	if err != nil {
		m.logger.WarnContext(ctx, "read task of recovered run", "run_id", r.RunID, "error", err)
	}
	m.logger.InfoContext(ctx, "recovered run with an expired lease", "run_id", r.RunID, "task_id", r.TaskID,
		"previous_status", rec.PreviousStatus, "outcome", rec.Outcome, "status", r.Status)
	seq := seqAfterRecovery(r)
	m.emit(ctx, EventRunRecovered, seq, r, t, eventExtra{
		err: r.Error, previousStatus: rec.PreviousStatus, recoveryOutcome: rec.Outcome, unheld: true,
	})
	if r.Status.Terminal() {
		m.emit(ctx, terminalEvent(r.Status), seq+1, r, t, eventExtra{unheld: true})
		return
	}
	m.kick()
}
