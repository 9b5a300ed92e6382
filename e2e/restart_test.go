package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestRestartContract queues a run on a process that runs no worker, stops
// that process, and starts another on the same store with the worker on:
// the run completes there, and its lifecycle events, written by both
// processes, are numbered 1..n without a gap.
func TestRestartContract(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testRestart(t, sqliteURL(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testRestart(t, postgresDB(t))
	})
}

func testRestart(t *testing.T, dbURL string) {
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	dir := t.TempDir()
	agent := writeAgent(t, dir, "restart")
	env := merge(storeEnv(dbURL), map[string]string{"OMNICOREAGENT_WORKSPACE_DIR": dir + "/workspace"})

	p1 := startServer(ctx, t, "p1", agent, merge(env, map[string]string{"OMNICOREAGENT_BACKGROUND_START_WORKER": "false"}))
	const phrase = "Remember me across the restart."
	p1.must(ctx, t, http.MethodPost, "/background/tasks", map[string]any{
		"task_id": "restart", "query": phrase, "schedule": map[string]any{"type": "manual"},
	}, http.StatusOK, nil)
	var queued bgRun
	p1.must(ctx, t, http.MethodPost, "/background/tasks/restart/run", map[string]any{}, http.StatusOK, &queued)
	if queued.Status != "queued" || queued.RunID == "" {
		t.Fatalf("p1: POST run: got run %+v, want a queued run", queued)
	}
	if evs := p1.events(ctx, t, queued.RunID); len(evs) != 1 || evs[0].Event != "background_run_queued" || evs[0].Sequence != 1 {
		t.Fatalf("p1: events before the restart: got %v, want [1:background_run_queued]", eventNames(evs))
	}
	if err := p1.stop(ctx); err != nil {
		t.Fatalf("p1: SIGTERM: %v, want a clean exit", err)
	}

	p2 := startServer(ctx, t, "p2", agent, merge(env, map[string]string{"OMNICOREAGENT_BACKGROUND_START_WORKER": "true"}))
	worker2 := p2.workerID(ctx, t)
	final := p2.waitRun(ctx, t, queued.RunID, "terminal", func(r bgRun) bool { return r.terminal() })
	if final.Status != "completed" || final.Attempt != 1 {
		t.Fatalf("p2: run after the restart: got status %q attempt %d (error %q), want completed on attempt 1", final.Status, final.Attempt, final.Error)
	}
	if !strings.Contains(final.ResultPreview, phrase) {
		t.Errorf("p2: result_preview %q does not echo the query %q", final.ResultPreview, phrase)
	}

	evs := p2.finalEvents(ctx, t, queued.RunID)
	seqs := make([]int64, 0, len(evs))
	for _, e := range evs {
		seqs = append(seqs, e.Sequence)
		if e.RunID != queued.RunID {
			t.Errorf("event %d names run %q, want %q", e.Sequence, e.RunID, queued.RunID)
		}
	}
	t.Logf("run %s events: %v", queued.RunID, eventNames(evs))
	checkContiguous(t, "run events across the restart", seqs)
	if len(evs) < 4 || evs[0].Event != "background_run_queued" || evs[len(evs)-1].Event != "background_run_completed" {
		t.Fatalf("events: got %v, want background_run_queued first and background_run_completed last, with the claim and start between", eventNames(evs))
	}
	var claimedBy string
	for _, e := range evs {
		if e.Event == "background_run_claimed" {
			claimedBy = e.WorkerID
		}
	}
	if claimedBy != worker2 {
		t.Errorf("background_run_claimed by worker %q, want p2's worker %q (events %v)", claimedBy, worker2, eventNames(evs))
	}
}
