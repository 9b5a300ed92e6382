package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// contentionRuns is how many runs TestContention enqueues. Three processes
// with four workers each finish 500 in about 10 s on two cores.
const contentionRuns = 500

// TestContention has three processes, four workers each, share one
// PostgreSQL store and a task with overlap_policy allow_parallel. It
// enqueues contentionRuns runs through all three APIs at once; each run
// calls a shell tool that appends the run's number to a shared file. Every
// run completes on its first attempt, the file has every number exactly
// once (no run lost, none executed twice), and more than one process
// executed runs.
func TestContention(t *testing.T) {
	t.Parallel()
	dbURL := postgresDB(t)
	ctx, cancel := context.WithTimeout(t.Context(), 75*time.Second)
	defer cancel()
	dir := t.TempDir()
	marks := filepath.Join(dir, "marks.txt")
	agent := writeAgent(t, dir, "contend", shellTool("mark",
		// One line of JSON arguments on stdin, appended as one line: a
		// single small O_APPEND write, atomic between processes.
		[]string{"sh", "-c", `read -r line; printf '%s\n' "$line" >> "$MARKS"; echo marked`},
		map[string]string{"MARKS": marks},
		map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}, "required": []string{"n"}}))
	env := merge(storeEnv(dbURL), map[string]string{
		"OMNICOREAGENT_WORKSPACE_DIR":          filepath.Join(dir, "workspace"),
		"OMNICOREAGENT_BACKGROUND_CONCURRENCY": "4",
	})
	var procs []*server
	for i := range 3 {
		procs = append(procs, startServer(ctx, t, fmt.Sprintf("P%d", i+1), agent, env))
	}
	owner := map[string]string{} // worker id → process name
	for _, p := range procs {
		owner[p.workerID(ctx, t)] = p.name
	}
	procs[0].must(ctx, t, http.MethodPost, "/background/tasks", map[string]any{
		"task_id": "contend", "query": "Mark once.", "schedule": map[string]any{"type": "manual"},
		"overlap_policy": "allow_parallel",
		// A session per run: the task's shared session would make every
		// run load the history of all the earlier ones.
		"session_policy": map[string]any{"mode": "run"},
	}, http.StatusOK, nil)

	// Enqueue from 24 clients, spread over the three APIs.
	start := time.Now()
	runIDs := make([]string, contentionRuns)
	var (
		mu   sync.Mutex
		errs []string
		wg   sync.WaitGroup
	)
	next := make(chan int)
	for range 24 {
		wg.Go(func() {
			for i := range next {
				p := procs[i%len(procs)]
				var r bgRun
				body := map[string]any{"query": toolQuery("Mark once.", "mark", map[string]any{"n": i})}
				status, raw, err := p.call(ctx, http.MethodPost, "/background/tasks/contend/run", body, &r)
				if err == nil && (status != http.StatusOK || r.Status != "queued") {
					err = fmt.Errorf("got %d %s, want 200 and a queued run", status, raw)
				}
				mu.Lock()
				if err != nil {
					errs = append(errs, fmt.Sprintf("%s: run %d: %v", p.name, i, err))
				}
				runIDs[i] = r.RunID
				mu.Unlock()
			}
		})
	}
	for i := range contentionRuns {
		next <- i
	}
	close(next)
	wg.Wait()
	enqueued := time.Since(start)
	if len(errs) > 0 {
		t.Fatalf("%d of %d enqueues failed, first: %s", len(errs), contentionRuns, errs[0])
	}
	t.Logf("enqueued %d runs in %s (%.0f/s)", contentionRuns, enqueued.Round(time.Millisecond), contentionRuns/enqueued.Seconds())

	// Wait for the queue to drain, from one process's view of the store.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var st struct {
			StatusCounts map[string]int `json:"status_counts"`
		}
		procs[0].must(ctx, t, http.MethodGet, "/background/tasks/contend/status", nil, http.StatusOK, &st)
		c := st.StatusCounts
		if n := c["failed"] + c["timeout"] + c["cancelled"] + c["skipped"]; n > 0 {
			t.Fatalf("%d runs ended without completing: %v", n, c)
		}
		if c["completed"] == contentionRuns {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("runs not all completed in time: %v", c)
		case <-tick.C:
		}
	}
	t.Logf("all %d runs completed %s after the first enqueue (%.0f runs/s)", contentionRuns,
		time.Since(start).Round(time.Millisecond), contentionRuns/time.Since(start).Seconds())

	// Every run completed on its first attempt.
	var list struct {
		Runs  []bgRun `json:"runs"`
		Total int     `json:"total"`
	}
	procs[1].must(ctx, t, http.MethodGet, "/background/runs?task_id=contend&limit=1000", nil, http.StatusOK, &list)
	if list.Total != contentionRuns || len(list.Runs) != contentionRuns {
		t.Fatalf("runs: got %d (total %d), want %d", len(list.Runs), list.Total, contentionRuns)
	}
	want := map[string]bool{}
	for _, id := range runIDs {
		want[id] = true
	}
	for _, r := range list.Runs {
		if !want[r.RunID] || r.Status != "completed" || r.Attempt != 1 {
			t.Errorf("run %s: status %q attempt %d (known: %v), want an enqueued run completed on attempt 1", r.RunID, r.Status, r.Attempt, want[r.RunID])
		}
	}

	// The side effect happened once per run.
	data, err := os.ReadFile(marks)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	seen := make([]int, contentionRuns)
	for _, line := range lines {
		var args struct {
			N *int `json:"n"`
		}
		if err := json.Unmarshal([]byte(line), &args); err != nil || args.N == nil || *args.N < 0 || *args.N >= contentionRuns {
			t.Fatalf("side-effect line %q: want {\"n\": 0..%d}", line, contentionRuns-1)
		}
		seen[*args.N]++
	}
	if len(lines) != contentionRuns {
		t.Errorf("side-effect lines: got %d, want %d", len(lines), contentionRuns)
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("run %d's tool ran %d times, want once", n, c)
		}
	}

	// More than one process executed runs: the workers that completed
	// them, from the shared event log. The last completed events may
	// trail the runs' records by a moment.
	var byWorker map[string]int
	for {
		byWorker = completedByWorker(ctx, t, procs[2], "contend")
		n := 0
		for _, c := range byWorker {
			n += c
		}
		if n >= contentionRuns {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("background_run_completed events: got %d, want %d", n, contentionRuns)
		case <-tick.C:
		}
	}
	total := 0
	byProc := map[string]int{}
	for w, n := range byWorker {
		total += n
		name, ok := owner[w]
		if !ok {
			t.Errorf("%d runs completed by worker %q, which is none of the three processes %v", n, w, owner)
		}
		byProc[name] += n
	}
	t.Logf("completed runs by process: %v", byProc)
	if total != contentionRuns {
		t.Errorf("background_run_completed events: got %d, want %d", total, contentionRuns)
	}
	if len(byProc) < 2 {
		t.Errorf("runs were executed by %v only, want more than one process", sortedKeys(byProc))
	}
}

// completedByWorker counts the task's background_run_completed events in
// the event log by the worker that emitted them.
func completedByWorker(ctx context.Context, t *testing.T, p *server, taskID string) map[string]int {
	t.Helper()
	byWorker := map[string]int{}
	cursor := ""
	for {
		q := url.Values{"task_id": {taskID}, "event_type": {"background_run_completed"}, "limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var page struct {
			Events []struct {
				Output bgEvent `json:"output"`
			} `json:"events"`
			NextCursor *string `json:"next_cursor"`
		}
		p.must(ctx, t, http.MethodGet, "/telemetry/events?"+q.Encode(), nil, http.StatusOK, &page)
		for _, e := range page.Events {
			byWorker[e.Output.WorkerID]++
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return byWorker
		}
		cursor = *page.NextCursor
	}
}
