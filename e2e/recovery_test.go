package e2e

import (
	"context"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCrashRecovery kills (SIGKILL) the process executing a run in the
// middle of a slow tool call. Another process, whose tool of the same name
// answers at once, recovers the run once the dead worker's 2 s lease
// expires and completes it exactly once: attempt 1 is closed as
// lease_expired, attempt 2 completes, and background_run_recovered is among
// the events. On PostgreSQL when available, else on a SQLite file.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	dbURL, backend := "", "postgres"
	if os.Getenv(postgresEnv) != "" {
		dbURL = postgresDB(t)
	} else {
		backend = "sqlite"
		dbURL = sqliteURL(t)
		t.Logf("%s is not set: crash recovery runs on SQLite", postgresEnv)
	}
	t.Logf("store: %s", backend)
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	dir := t.TempDir()

	// The slow tool records its pid (it leads its own process group) and
	// sleeps well past the test; SIGKILL of the server leaves it
	// orphaned, so the test kills its group itself.
	pidFile := filepath.Join(dir, "slow.pid")
	t.Cleanup(func() { killGroupFrom(t, pidFile) })
	slowAgent := writeAgent(t, dir, "slow", shellTool("slow",
		[]string{"sh", "-c", `echo $$ > "$PIDFILE.tmp" && mv "$PIDFILE.tmp" "$PIDFILE" && exec sleep 30`},
		map[string]string{"PIDFILE": pidFile}, nil))
	fastAgent := writeAgent(t, dir, "fast", shellTool("slow",
		[]string{"sh", "-c", `cat >/dev/null; echo fast result`}, nil, nil))
	env := merge(storeEnv(dbURL), map[string]string{
		"OMNICOREAGENT_WORKSPACE_DIR":            filepath.Join(dir, "workspace"),
		"OMNICOREAGENT_BACKGROUND_LEASE_SECONDS": "2",
	})

	a := startServer(ctx, t, "A", slowAgent, env)
	workerA := a.workerID(ctx, t)
	a.must(ctx, t, http.MethodPost, "/background/tasks", map[string]any{
		"task_id": "crash", "query": toolQuery("Call the slow tool.", "slow", map[string]any{}),
		"schedule": map[string]any{"type": "manual"}, "retry_policy": map[string]any{"max_retries": 1},
	}, http.StatusOK, nil)
	var run bgRun
	a.must(ctx, t, http.MethodPost, "/background/tasks/crash/run", map[string]any{}, http.StatusOK, &run)
	a.waitRun(ctx, t, run.RunID, "running", func(r bgRun) bool { return r.Status == "running" })
	waitFile(ctx, t, pidFile)
	if r := a.run(ctx, t, run.RunID); r.Status != "running" || r.Attempt != 1 || r.LeaseOwner != workerA {
		t.Fatalf("before the crash: got status %q attempt %d owner %q, want running attempt 1 held by %q", r.Status, r.Attempt, r.LeaseOwner, workerA)
	}
	a.kill()
	crashed := time.Now()

	b := startServer(ctx, t, "B", fastAgent, env)
	workerB := b.workerID(ctx, t)
	final := b.waitRun(ctx, t, run.RunID, "terminal", func(r bgRun) bool { return r.terminal() })
	t.Logf("run %s ended %s after the crash", run.RunID, time.Since(crashed).Round(time.Millisecond))
	if final.Status != "completed" || final.Attempt != 2 {
		t.Fatalf("after recovery: got status %q attempt %d (error %q), want completed on attempt 2", final.Status, final.Attempt, final.Error)
	}
	if !strings.Contains(final.ResultPreview, "fast result") {
		t.Errorf("result_preview %q: want the fast tool's answer", final.ResultPreview)
	}

	atts := b.attempts(ctx, t, run.RunID)
	if len(atts) != 2 {
		t.Fatalf("attempts: got %+v, want 2", atts)
	}
	if at := atts[0]; at.AttemptNumber != 1 || at.Status != "failed" || at.Reason != "lease_expired" || at.WorkerID != workerA {
		t.Errorf("attempt 1: got %+v, want number 1, failed, reason lease_expired, worker %q", at, workerA)
	}
	if at := atts[1]; at.AttemptNumber != 2 || at.Status != "completed" || at.WorkerID != workerB {
		t.Errorf("attempt 2: got %+v, want number 2, completed, worker %q", at, workerB)
	}

	evs := b.finalEvents(ctx, t, run.RunID)
	t.Logf("run %s events: %v", run.RunID, eventNames(evs))
	var recovered, completed int
	for i, e := range evs {
		// A worker killed between reserving a number and emitting its
		// event leaves a gap (internal/background/doc.go), so only the
		// order is a contract here.
		if i > 0 && e.Sequence <= evs[i-1].Sequence {
			t.Errorf("events out of order: %v", eventNames(evs))
		}
		switch e.Event {
		case "background_run_recovered":
			recovered++
			if e.PreviousStatus != "running" || e.RecoveryOutcome != "requeued" {
				t.Errorf("background_run_recovered: got previous_status %q outcome %q, want running, requeued", e.PreviousStatus, e.RecoveryOutcome)
			}
		case "background_run_completed":
			completed++
		}
	}
	if recovered != 1 || completed != 1 {
		t.Errorf("events: %d background_run_recovered and %d background_run_completed, want 1 each: %v", recovered, completed, eventNames(evs))
	}
	if len(evs) == 0 || evs[0].Event != "background_run_queued" || evs[0].Sequence != 1 || evs[len(evs)-1].Event != "background_run_completed" {
		t.Errorf("events: got %v, want 1:background_run_queued first and background_run_completed last", eventNames(evs))
	}
}

// waitFile polls until path exists: another process writes it.
func waitFile(ctx context.Context, t *testing.T, path string) {
	t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		if _, err := os.Stat(path); err == nil {
			return
		} else if !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never appeared: %v", path, ctx.Err())
		case <-tick.C:
		}
	}
}

// killGroupFrom kills the process group whose leader's pid is in pidFile,
// if the file exists.
func killGroupFrom(t *testing.T, pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Errorf("pid file %s: %q", pidFile, b)
		return
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("kill process group %d: %v", pid, err)
	}
}
