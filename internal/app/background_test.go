package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/config"
)

// bgServer serves an echo agent with the background engine running, on a
// real listener, with its workspace in a temp dir.
func bgServer(t *testing.T, mutate func(*config.Config)) (base, wsDir string) {
	t.Helper()
	tools, err := BuiltinTools("calculate")
	if err != nil {
		t.Fatal(err)
	}
	ag, err := NewAgent(t.Context(), AgentSpec{Name: "served", Model: ModelSpec{Provider: "echo"}, Tools: tools}, noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.WorkspaceDir = t.TempDir()
	cfg.ShutdownGrace = 2 * time.Second
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := NewServer(ag, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String(), cfg.WorkspaceDir
}

func call(t *testing.T, method, url, body string, out any) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, url, err, b)
		}
	}
	return resp.StatusCode
}

// TestBackgroundEndToEnd: the served agent is registered at startup; a
// task created over HTTP runs on the worker with wait, leaves run.json,
// events.jsonl and output.md, and its lifecycle events replay.
func TestBackgroundEndToEnd(t *testing.T) {
	base, _ := bgServer(t, nil)
	var agents struct {
		Agents []struct {
			AgentID string `json:"agent_id"`
		} `json:"agents"`
	}
	if code := call(t, "GET", base+"/background/agents", "", &agents); code != 200 || len(agents.Agents) != 1 || agents.Agents[0].AgentID != "default" {
		t.Fatalf("agents: %d %+v", code, agents)
	}
	if code := call(t, "POST", base+"/background/tasks", `{"task_id":"daily_report","query":"hello background","schedule":{"type":"manual"}}`, nil); code != 200 {
		t.Fatalf("create task: %d", code)
	}
	var run map[string]any
	if code := call(t, "POST", base+"/background/tasks/daily_report/run", `{"wait":true}`, &run); code != 200 {
		t.Fatalf("run: %d %v", code, run)
	}
	if run["status"] != "completed" || !strings.HasSuffix(strings.TrimSpace(run["result_preview"].(string)), "hello background") {
		t.Errorf("run = %v", run)
	}
	if _, leaked := run["lease_token"]; leaked {
		t.Error("lease token exposed")
	}
	runID := run["run_id"].(string)

	var events struct {
		Events []map[string]any `json:"events"`
		Count  int              `json:"count"`
	}
	call(t, "GET", base+"/background/runs/"+runID+"/events", "", &events)
	var names []string
	for i, e := range events.Events {
		names = append(names, e["event"].(string))
		if int(e["sequence"].(float64)) != i+1 {
			t.Errorf("event %d has sequence %v", i, e["sequence"])
		}
	}
	got := strings.Join(names, ",")
	if !strings.HasPrefix(got, "background_run_queued,background_run_claimed,background_run_started") || !strings.HasSuffix(got, "background_run_completed") {
		t.Errorf("events = %s", got)
	}

	var ws struct {
		WorkspacePath string `json:"workspace_path"`
		Files         []struct {
			Name string `json:"name"`
		} `json:"files"`
	}
	call(t, "GET", base+"/background/runs/"+runID+"/workspace", "", &ws)
	have := map[string]bool{}
	for _, f := range ws.Files {
		have[f.Name] = true
	}
	for _, want := range []string{"run.json", "events.jsonl", "output.md"} {
		if !have[want] {
			t.Errorf("workspace %s lacks %s: %+v", ws.WorkspacePath, want, ws.Files)
		}
	}
	if ws.WorkspacePath != "background/default/daily_report/"+runID {
		t.Errorf("workspace path = %q", ws.WorkspacePath)
	}

	// The lifecycle events are also in the telemetry log, trace
	// trace_background_{run_id}.
	var tr struct {
		Summary struct {
			EventCount int `json:"event_count"`
		} `json:"summary"`
	}
	if code := call(t, "GET", base+"/telemetry/traces/trace_background_"+runID, "", &tr); code != 200 || tr.Summary.EventCount != len(events.Events) {
		t.Errorf("background trace: %d %+v", code, tr)
	}
}

// TestBackgroundSchedule: a once schedule due now is dispatched by the
// scheduler loop and completed by the worker.
func TestBackgroundSchedule(t *testing.T) {
	base, _ := bgServer(t, nil)
	runAt := time.Now().UTC().Add(-time.Second).Format(time.RFC3339)
	if code := call(t, "POST", base+"/background/tasks", `{"task_id":"once","query":"scheduled hello","schedule":{"type":"once","run_at":"`+runAt+`"}}`, nil); code != 200 {
		t.Fatalf("create: %d", code)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		var runs struct {
			Runs []map[string]any `json:"runs"`
		}
		call(t, "GET", base+"/background/runs?task_id=once", "", &runs)
		if len(runs.Runs) == 1 && runs.Runs[0]["status"] == "completed" {
			if runs.Runs[0]["trigger_type"] != "once" {
				t.Errorf("trigger = %v", runs.Runs[0]["trigger_type"])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("scheduled run never completed: %+v", runs.Runs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBackgroundInlineWithoutWorker: with the worker off, a waited run is
// executed by the request itself.
func TestBackgroundInlineWithoutWorker(t *testing.T) {
	base, _ := bgServer(t, func(c *config.Config) { c.BackgroundStartWorker = false })
	call(t, "POST", base+"/background/tasks", `{"task_id":"inline","query":"inline hello","schedule":{"type":"manual"}}`, nil)
	var run map[string]any
	if code := call(t, "POST", base+"/background/tasks/inline/run", `{"wait":true}`, &run); code != 200 || run["status"] != "completed" {
		t.Fatalf("inline run: %d %v", code, run)
	}
	var st map[string]any
	call(t, "GET", base+"/background/status", "", &st)
	if st["running"] != false {
		t.Errorf("status = %v", st)
	}
}

// TestBackgroundSpecAgent: an agent registered from a spec is built from
// its model_config and runs its task.
func TestBackgroundSpecAgent(t *testing.T) {
	base, _ := bgServer(t, nil)
	if code := call(t, "POST", base+"/background/agents", `{"spec":{"agent_id":"helper","name":"Helper","model_config":{"provider":"echo"},"tools":[{"builtin":"calculate"}]}}`, nil); code != 200 {
		t.Fatalf("register: %d", code)
	}
	q := `compute\n{\"tool\": \"calculate\", \"arguments\": {\"expression\": \"6*7\"}}`
	call(t, "POST", base+"/background/tasks", `{"task_id":"calc","agent_id":"helper","query":"`+q+`","schedule":{"type":"manual"}}`, nil)
	var run map[string]any
	if code := call(t, "POST", base+"/background/tasks/calc/run", `{"wait":true}`, &run); code != 200 || run["status"] != "completed" {
		t.Fatalf("run: %d %v", code, run)
	}
	if !strings.Contains(run["result_preview"].(string), `"result":42`) {
		t.Errorf("preview = %v", run["result_preview"])
	}
}
