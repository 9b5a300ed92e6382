package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/task"
)

const bgToken = "s3cret"

// setupBackground serves the API with the background routes on a fake
// engine, auth on.
func setupBackground(t *testing.T, mutate ...func(*Config)) (*testBundle, *fakeBackground) {
	t.Helper()
	fb := newFakeBackground(t)
	b := setup(t, append([]func(*Config){func(c *Config) {
		c.Background = fb
		c.AuthToken = bgToken
	}}, mutate...)...)
	return b, fb
}

// bg sends an authorised request to a background route, under the API
// prefix, and returns the status and body.
func (b *testBundle) bg(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	resp, out := b.do(t, method, b.api.cfg.APIPrefix+"/background"+path, body, "Authorization", "Bearer "+bgToken)
	return resp.StatusCode, out
}

// bgOK is bg that requires a 200 and decodes the body.
func bgOK[T any](t *testing.T, b *testBundle, method, path, body string) T {
	t.Helper()
	status, out := b.bg(t, method, path, body)
	if status != http.StatusOK {
		t.Fatalf("%s %s: status %d, want 200; body %s", method, path, status, out)
	}
	return decode[T](t, out)
}

// wantDetail checks an error answer with a plain-text detail.
func wantDetail(t *testing.T, b *testBundle, method, path, body string, status int, detail string) {
	t.Helper()
	got, out := b.bg(t, method, path, body)
	if got != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, got, status, out)
	}
	if d := decode[map[string]any](t, out)["detail"]; d != detail {
		t.Errorf("%s %s: detail %v, want %q", method, path, d, detail)
	}
}

// wantField checks a 422 naming the field at loc.
func wantField(t *testing.T, b *testBundle, method, path, body, loc string) {
	t.Helper()
	status, out := b.bg(t, method, path, body)
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("%s %s %s: status %d, want 422; body %s", method, path, body, status, out)
	}
	var got struct {
		Detail []FieldError `json:"detail"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("detail is not a field list: %s", out)
	}
	var locs []string
	for _, f := range got.Detail {
		locs = append(locs, strings.Join(f.Loc, "."))
	}
	if !slices.Contains(locs, loc) {
		t.Errorf("%s %s: locs %v, want %q (body %s)", method, path, locs, loc, out)
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return sorted(out)
}

var allStatuses = map[string]any{
	"queued": 0.0, "claimed": 0.0, "running": 0.0, "retrying": 0.0, "completed": 0.0,
	"failed": 0.0, "cancelled": 0.0, "timeout": 0.0, "skipped": 0.0,
}

func counts(over map[string]float64) map[string]any {
	m := make(map[string]any, len(allStatuses))
	for k, v := range allStatuses {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return m
}

// TestBackgroundFlow walks the original's background API test: a served
// agent, a disabled task enabled by a patch, a waited run executed inline,
// and every read route, then deletion. It runs at the root and under a
// prefix, with auth on.
func TestBackgroundFlow(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/api/v1"} {
		t.Run("prefix="+prefix, func(t *testing.T) {
			t.Parallel()
			b, _ := setupBackground(t, func(c *Config) { c.APIPrefix = prefix })

			st := bgOK[map[string]any](t, b, "GET", "/status", "")
			want := map[string]any{
				"running": false, "initialized": true, "worker_id": fakeWorker, "lease_seconds": 30.0,
				"agents": 1.0, "tasks": 0.0, "runs": 0.0, "active_runs": 0.0, "status_counts": counts(nil),
			}
			if diff := cmp.Diff(want, st); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			agents := bgOK[map[string]any](t, b, "GET", "/agents", "")
			if agents["total"] != 1.0 || agents["agents"].([]any)[0].(map[string]any)["agent_id"] != "served" {
				t.Errorf("agents = %v", agents)
			}

			created := bgOK[map[string]any](t, b, "POST", "/tasks",
				`{"task_id":"daily_report","query":"Prepare the daily report","schedule":{"type":"manual"},"enabled":false,"metadata":{"owner":"ops"}}`)
			if created["agent_id"] != "served" || created["enabled"] != false || created["query"] != "Prepare the daily report" {
				t.Errorf("created = %v", created)
			}
			if got := bgOK[map[string]any](t, b, "GET", "/tasks/daily_report", ""); !cmp.Equal(got, created) {
				t.Errorf("get task = %v, want %v", got, created)
			}

			ts := bgOK[map[string]any](t, b, "GET", "/tasks/daily_report/status", "")
			if diff := cmp.Diff([]string{"active_runs", "agent_id", "enabled", "latest_run", "runs", "schedule", "schedule_state", "status_counts", "task_id"}, keys(ts)); diff != "" {
				t.Errorf("task status keys (-want +got):\n%s", diff)
			}
			state := ts["schedule_state"].(map[string]any)
			if state["schedule_revision"] != 1.0 || state["paused"] != false || state["next_due_at"] != nil || ts["latest_run"] != nil || ts["runs"] != 0.0 {
				t.Errorf("task status = %v", ts)
			}

			wantDetail(t, b, "POST", "/tasks/daily_report/run", `{"wait":true}`, 404, "Task not found: daily_report")

			patched := bgOK[map[string]any](t, b, "PATCH", "/tasks/daily_report", `{"enabled":true,"metadata":{"team":"reports"}}`)
			if patched["enabled"] != true || !cmp.Equal(patched["metadata"], map[string]any{"team": "reports"}) {
				t.Errorf("patched = %v (metadata must be replaced whole)", patched)
			}

			run := bgOK[map[string]any](t, b, "POST", "/tasks/daily_report/run", `{"wait":true}`)
			if run["status"] != "completed" || run["trigger_type"] != "manual" ||
				!strings.HasPrefix(run["result_preview"].(string), "completed:background:served:daily_report") ||
				run["session_id"] != "background:served:daily_report" {
				t.Errorf("run = %v", run)
			}
			if _, ok := run["lease_token"]; ok {
				t.Errorf("run exposes its lease token: %v", run)
			}
			runID := run["run_id"].(string)
			got := bgOK[map[string]any](t, b, "GET", "/runs/"+runID, "")
			if got["status"] != "completed" || got["run_id"] != runID {
				t.Errorf("get run = %v", got)
			}

			ts = bgOK[map[string]any](t, b, "GET", "/tasks/daily_report/status", "")
			if ts["runs"] != 1.0 || ts["active_runs"] != 0.0 || ts["enabled"] != true ||
				!cmp.Equal(ts["status_counts"], counts(map[string]float64{"completed": 1})) ||
				ts["latest_run"].(map[string]any)["run_id"] != runID {
				t.Errorf("task status after run = %v", ts)
			}
			st = bgOK[map[string]any](t, b, "GET", "/status", "")
			if st["runs"] != 1.0 || st["tasks"] != 1.0 || st["active_runs"] != 0.0 ||
				!cmp.Equal(st["status_counts"], counts(map[string]float64{"completed": 1})) {
				t.Errorf("status after run = %v", st)
			}

			for query, want := range map[string]float64{"?task_id=daily_report": 1, "?status=completed": 1, "?status=queued": 0, "?task_id=other": 0, "": 1} {
				runs := bgOK[map[string]any](t, b, "GET", "/runs"+query, "")
				if runs["total"] != want || len(runs["runs"].([]any)) != int(want) {
					t.Errorf("runs%s = %v, want %v", query, runs, want)
				}
			}
			wantDetail(t, b, "GET", "/runs?status=bogus", "", 422, "'bogus' is not a valid RunStatus")

			attempts := bgOK[[]map[string]any](t, b, "GET", "/runs/"+runID+"/attempts", "")
			if len(attempts) != 1 || attempts[0]["attempt_number"] != 1.0 || attempts[0]["status"] != "completed" || attempts[0]["worker_id"] != fakeWorker {
				t.Errorf("attempts = %v", attempts)
			}
			if _, ok := attempts[0]["lease_token"]; ok {
				t.Errorf("attempt exposes its lease token: %v", attempts[0])
			}

			evs := bgOK[map[string]any](t, b, "GET", "/runs/"+runID+"/events", "")
			list := evs["events"].([]any)
			if evs["run_id"] != runID || evs["count"] != float64(len(list)) {
				t.Errorf("events = %v", evs)
			}
			var names []string
			for i, e := range list {
				ev := e.(map[string]any)
				names = append(names, ev["event"].(string))
				if ev["sequence"] != float64(i+1) {
					t.Errorf("event %d has sequence %v", i, ev["sequence"])
				}
				if ev["event"] == "background_run_heartbeat" && (ev["worker_id"] != fakeWorker || ev["lease_generation"] != 1.0 || ev["heartbeat_at"] == nil) {
					t.Errorf("heartbeat lacks worker and lease fields: %v", ev)
				}
			}
			wantNames := []string{"background_run_queued", "background_run_claimed", "background_run_started", "background_run_heartbeat", "background_run_completed"}
			if diff := cmp.Diff(wantNames, names); diff != "" {
				t.Errorf("event names (-want +got):\n%s", diff)
			}
			wantDetail(t, b, "GET", "/runs/run_missing/events", "", 404, "Run not found: run_missing")

			ws := bgOK[map[string]any](t, b, "GET", "/runs/"+runID+"/workspace", "")
			wsPath := "background/served/daily_report/" + runID
			if ws["run_id"] != runID || ws["task_id"] != "daily_report" || ws["agent_id"] != "served" || ws["workspace_path"] != wsPath {
				t.Errorf("workspace = %v", ws)
			}
			var files []string
			for _, f := range ws["files"].([]any) {
				fm := f.(map[string]any)
				files = append(files, fm["name"].(string))
				if diff := cmp.Diff([]string{"is_dir", "modified_at", "name", "path"}, keys(fm)); diff != "" {
					t.Errorf("file keys (-want +got):\n%s", diff)
				}
			}
			if diff := cmp.Diff([]string{"events.jsonl", "run.json"}, files); diff != "" {
				t.Errorf("files (-want +got):\n%s", diff)
			}

			wantDetail(t, b, "GET", "/tasks/missing/status", "", 404, "Task not found: missing")

			// Cancelling a finished run answers the same and changes only
			// the request marker.
			if got := bgOK[map[string]any](t, b, "POST", "/runs/"+runID+"/cancel", ""); got["status"] != "cancel_requested" {
				t.Errorf("cancel = %v", got)
			}
			got = bgOK[map[string]any](t, b, "GET", "/runs/"+runID, "")
			if got["status"] != "completed" || got["cancel_requested_at"] == nil {
				t.Errorf("cancelled finished run = %v", got)
			}

			if got := bgOK[map[string]any](t, b, "DELETE", "/tasks/daily_report?delete_runs=true", ""); got["status"] != "deleted" {
				t.Errorf("delete task = %v", got)
			}
			wantDetail(t, b, "GET", "/tasks/daily_report", "", 404, "Task not found: daily_report")
			wantDetail(t, b, "GET", "/runs/"+runID, "", 404, "Run not found: "+runID)
			wantDetail(t, b, "DELETE", "/tasks/daily_report", "", 404, "Task not found: daily_report")

			if got := bgOK[map[string]any](t, b, "DELETE", "/agents/served", ""); got["status"] != "deleted" {
				t.Errorf("delete agent = %v", got)
			}
			wantDetail(t, b, "GET", "/agents/served", "", 404, "Agent not found: served")
		})
	}
}

func TestBackgroundDisabled(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, p := range []string{"/background/status", "/background/agents", "/background/runs"} {
		resp, body := b.do(t, http.MethodGet, p, "")
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s with background off: %d %s", p, resp.StatusCode, body)
		}
	}
	_, body := b.do(t, http.MethodGet, "/openapi.json", "")
	doc := decode[map[string]any](t, body)
	for p := range doc["paths"].(map[string]any) {
		if strings.Contains(p, "/background") {
			t.Errorf("OpenAPI has %s with background off", p)
		}
	}
	if strings.Contains(string(body), "Background") {
		t.Error("OpenAPI mentions background schemas with background off")
	}
}

func TestBackgroundOpenAPI(t *testing.T) {
	t.Parallel()
	b, _ := setupBackground(t, func(c *Config) { c.APIPrefix = "/api" })
	_, body := b.do(t, http.MethodGet, "/openapi.json", "")
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("invalid OpenAPI: %v", err)
	}
	var ops []string
	for p, item := range doc.Paths.Map() {
		if !strings.HasPrefix(p, "/background") {
			continue
		}
		for method, op := range item.Operations() {
			ops = append(ops, method+" "+p)
			if op.Security == nil || len(*op.Security) == 0 {
				t.Errorf("%s %s has no security requirement", method, p)
			}
		}
	}
	wantOps := []string{
		"DELETE /background/agents/{agent_id}", "DELETE /background/tasks/{task_id}",
		"GET /background/agents", "GET /background/agents/{agent_id}", "GET /background/runs",
		"GET /background/runs/{run_id}", "GET /background/runs/{run_id}/attempts", "GET /background/runs/{run_id}/events",
		"GET /background/runs/{run_id}/workspace", "GET /background/status", "GET /background/tasks",
		"GET /background/tasks/{task_id}", "GET /background/tasks/{task_id}/status", "PATCH /background/tasks/{task_id}",
		"POST /background/agents", "POST /background/runs/{run_id}/cancel", "POST /background/tasks",
		"POST /background/tasks/{task_id}/pause", "POST /background/tasks/{task_id}/resume", "POST /background/tasks/{task_id}/run",
	}
	// Every route of the original's table (§1.9 of the contract).
	if diff := cmp.Diff(sorted(wantOps), sorted(ops)); diff != "" {
		t.Errorf("background operations (-want +got):\n%s", diff)
	}

	// The run route documents its structured 504.
	run := doc.Paths.Find("/background/tasks/{task_id}/run").Post
	r504 := run.Responses.Status(504)
	if r504 == nil || r504.Value.Content.Get("application/json") == nil {
		t.Fatal("POST …/run does not document its 504")
	}
	detail := r504.Value.Content.Get("application/json").Schema.Value.Properties["detail"].Value
	for _, f := range []string{"message", "run_id", "task_id", "status", "wait_timeout_seconds", "request_timeout_seconds"} {
		if detail.Properties[f] == nil {
			t.Errorf("504 detail schema lacks %s", f)
		}
	}
	// Lease tokens are not part of the client's view.
	for _, name := range []string{"BackgroundRun", "BackgroundAttempt"} {
		s := doc.Components.Schemas[name]
		if s == nil {
			t.Fatalf("schema %s missing", name)
		}
		if s.Value.Properties["lease_token"] != nil || slices.Contains(s.Value.Required, "lease_token") {
			t.Errorf("schema %s exposes lease_token", name)
		}
		if s.Value.Properties["run_id"] == nil {
			t.Errorf("schema %s lacks run_id", name)
		}
	}
	// Request bodies leave defaults optional.
	req := doc.Components.Schemas["BackgroundTaskRequest"].Value
	if diff := cmp.Diff([]string{"query", "schedule", "task_id"}, sorted(req.Required)); diff != "" {
		t.Errorf("task request required (-want +got):\n%s", diff)
	}
	if got := doc.Components.Schemas["BackgroundScheduleInput"].Value.Required; !cmp.Equal(got, []string{"type"}) {
		t.Errorf("schedule input required = %v", got)
	}
}

// TestBackgroundAuth checks every background operation refuses a request
// without the token, at the root and under a prefix.
func TestBackgroundAuth(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/api"} {
		b, _ := setupBackground(t, func(c *Config) { c.APIPrefix = prefix })
		_, body := b.do(t, http.MethodGet, "/openapi.json", "")
		doc := decode[map[string]any](t, body)
		n := 0
		for path, item := range doc["paths"].(map[string]any) {
			if !strings.HasPrefix(path, "/background") {
				continue
			}
			for method := range item.(map[string]any) {
				n++
				resp, out := b.do(t, strings.ToUpper(method), prefix+path, `{}`)
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s%s without a token: %d %s", method, prefix, path, resp.StatusCode, out)
				}
				resp, _ = b.do(t, strings.ToUpper(method), prefix+path, `{}`, "Authorization", "Bearer wrong")
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("%s %s%s with a wrong token: %d", method, prefix, path, resp.StatusCode)
				}
			}
		}
		if n != 20 {
			t.Errorf("prefix %q: %d background operations, want 20", prefix, n)
		}
		if status, _ := b.bg(t, "GET", "/status", ""); status != http.StatusOK {
			t.Errorf("prefix %q: status with the token: %d", prefix, status)
		}
	}
}

func TestBackgroundAgents(t *testing.T) {
	t.Parallel()
	b, fb := setupBackground(t)

	wantDetail(t, b, "POST", "/agents", `{}`, 409, "Agent already registered: served")
	if got := bgOK[map[string]any](t, b, "POST", "/agents", `{"replace":true}`); got["agent_id"] != "served" {
		t.Errorf("re-register served = %v", got)
	}
	if got := bgOK[map[string]any](t, b, "POST", "/agents", `{"agent_id":"helper"}`); got["agent_id"] != "helper" || got["name"] != "tester" {
		t.Errorf("served agent under another id = %v", got)
	}
	wantDetail(t, b, "POST", "/agents", `{"agent_id":null}`, 409, "Agent already registered: served")
	wantDetail(t, b, "POST", "/agents", `{"agent_id":"a","spec":{"agent_id":"b"}}`, 422, "agent_id must match spec.agent_id when spec is provided")

	spec := bgOK[map[string]any](t, b, "POST", "/agents",
		`{"agent_id":"writer","spec":{"agent_id":"writer","system_instruction":"Write.","model_config":{"provider":"openai","model":"gpt-4o-mini","temperature":0.2},"tools":[{"builtin":"calculate"}],"mcp_tools":[{"name":"fs","command":"mcp-fs"}],"metadata":{"team":"docs"}}}`)
	if spec["name"] != "writer" || spec["model_config"].(map[string]any)["provider"] != "openai" || spec["created_at"] == nil {
		t.Errorf("spec = %v", spec)
	}
	if mcp := spec["mcp_tools"].([]any); len(mcp) != 1 || mcp[0].(map[string]any)["command"] != "mcp-fs" {
		t.Errorf("mcp_tools = %v", spec["mcp_tools"])
	}
	fb.mu.Lock()
	local := fb.local["writer"]
	fb.mu.Unlock()
	if local {
		t.Error("a spec registration kept a process-local agent")
	}
	wantDetail(t, b, "POST", "/agents", `{"spec":{"agent_id":"writer"}}`, 409, "Agent already registered: writer")

	// A spec read from the API can be sent back.
	echo, _ := json.Marshal(map[string]any{"spec": spec, "replace": true})
	if got := bgOK[map[string]any](t, b, "POST", "/agents", string(echo)); got["created_at"] != spec["created_at"] {
		t.Errorf("round trip = %v", got)
	}

	wantField(t, b, "POST", "/agents", `{"spec":{"agent_id":"bad id"}}`, "body.spec.agent_id")
	wantField(t, b, "POST", "/agents", `{"agent_id":"bad id"}`, "body.agent_id")
	wantField(t, b, "POST", "/agents", `{"spec":{"agent_id":"x","model_config":{"model":"m"}}}`, "body.spec.model_config.provider")
	wantField(t, b, "POST", "/agents", `{"spec":{"agent_id":"x","model_config":{"provider":"openai","temperature":3}}}`, "body.spec.model_config.temperature")
	wantField(t, b, "POST", "/agents", `{"spec":{"agent_id":"x","tools":[{"builtin":""}]}}`, "body.spec.tools.0.builtin")
	wantField(t, b, "POST", "/agents", `{"spec":{"agent_id":"x","colour":"red"}}`, "body.spec.colour")
	wantField(t, b, "POST", "/agents", `{"extra":1}`, "body.extra")

	list := bgOK[map[string]any](t, b, "GET", "/agents", "")
	var ids []string
	for _, a := range list["agents"].([]any) {
		ids = append(ids, a.(map[string]any)["agent_id"].(string))
	}
	// helper was created at the served agent's instant: ids break the tie.
	if diff := cmp.Diff([]string{"helper", "served", "writer"}, ids); diff != "" || list["total"] != 3.0 {
		t.Errorf("agents (-want +got):\n%s (total %v)", diff, list["total"])
	}
	if got := bgOK[map[string]any](t, b, "GET", "/agents/writer", ""); got["system_instruction"] != "Write." {
		t.Errorf("get agent = %v", got)
	}
	wantDetail(t, b, "GET", "/agents/nobody", "", 404, "Agent not found: nobody")
	wantDetail(t, b, "DELETE", "/agents/nobody", "", 404, "Agent not found: nobody")

	// An agent with an active run is kept unless forced.
	bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"t1","agent_id":"writer","query":"q","schedule":{"type":"manual"}}`)
	bgOK[map[string]any](t, b, "POST", "/tasks/t1/run", ``)
	wantDetail(t, b, "DELETE", "/agents/writer", "", 409, "Agent has active runs: writer")
	wantDetail(t, b, "DELETE", "/agents/writer?force=false", "", 409, "Agent has active runs: writer")
	if got := bgOK[map[string]any](t, b, "DELETE", "/agents/writer?force=true", ""); got["status"] != "deleted" {
		t.Errorf("forced delete = %v", got)
	}
	wantDetail(t, b, "GET", "/agents/writer", "", 404, "Agent not found: writer")
}

func TestBackgroundTaskCreate(t *testing.T) {
	t.Parallel()
	b, _ := setupBackground(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	const ok = `"task_id":"t","query":"q"`
	for _, tt := range []struct{ body, loc string }{
		{`{"query":"q","schedule":{"type":"manual"}}`, "body.task_id"},
		{`{"task_id":"t","schedule":{"type":"manual"}}`, "body.query"},
		{`{` + ok + `}`, "body.schedule"},
		{`{"task_id":"../x","query":"q","schedule":{"type":"manual"}}`, "body.task_id"},
		{`{"task_id":"t","query":"  ","schedule":{"type":"manual"}}`, "body.query"},
		{`{` + ok + `,"schedule":{"type":"manual","seconds":5}}`, "body.schedule.seconds"},
		{`{` + ok + `,"schedule":{"type":"manual","expression":"* * * * *"}}`, "body.schedule.expression"},
		{`{` + ok + `,"schedule":{"type":"interval"}}`, "body.schedule.seconds"},
		{`{` + ok + `,"schedule":{"type":"interval","seconds":-1}}`, "body.schedule.seconds"},
		{`{` + ok + `,"schedule":{"type":"cron","expression":"* * *"}}`, "body.schedule.expression"},
		{`{` + ok + `,"schedule":{"type":"cron","expression":"0 9 * * *","timezone":"Mars/Olympus"}}`, "body.schedule.timezone"},
		{`{` + ok + `,"schedule":{"type":"once"}}`, "body.schedule.run_at"},
		{`{` + ok + `,"schedule":{"type":"once","run_at":"tomorrow"}}`, "body.schedule.run_at"},
		{`{` + ok + `,"schedule":{"type":"weekly"}}`, "body.schedule.type"},
		{`{` + ok + `,"schedule":{"type":"manual","colour":1}}`, "body.schedule.colour"},
		{`{` + ok + `,"schedule":{"type":"manual","misfire_policy":"never"}}`, "body.schedule.misfire_policy"},
		{`{` + ok + `,"schedule":{"type":"interval","seconds":60,"start_at":"2026-02-01T00:00:00Z","end_at":"2026-01-01T00:00:00Z"}}`, "body.schedule.end_at"},
		{`{` + ok + `,"schedule":{"type":"manual"},"timeout_seconds":0}`, "body.timeout_seconds"},
		{`{` + ok + `,"schedule":{"type":"manual"},"retry_policy":{"initial_delay_seconds":60,"max_delay_seconds":10}}`, "body.retry_policy.max_delay_seconds"},
		{`{` + ok + `,"schedule":{"type":"manual"},"retry_policy":{"backoff":"linear"}}`, "body.retry_policy.backoff"},
		{`{` + ok + `,"schedule":{"type":"manual"},"overlap_policy":"never"}`, "body.overlap_policy"},
		{`{` + ok + `,"schedule":{"type":"manual"},"session_policy":{"mode":"fixed"}}`, "body.session_policy.session_id"},
		{`{` + ok + `,"schedule":{"type":"manual"},"workspace_policy":{"namespace_template":"../{run_id}"}}`, "body.workspace_policy.namespace_template"},
		{`{` + ok + `,"schedule":{"type":"manual"},"extra":true}`, "body.extra"},
	} {
		wantField(t, b, "POST", "/tasks", tt.body, tt.loc)
	}
	wantDetail(t, b, "POST", "/tasks", `{`+ok+`,"agent_id":"nobody","schedule":{"type":"manual"}}`, 404, "Agent not found: nobody")
	if status, _ := b.bg(t, "POST", "/tasks", `{`+ok+`,"schedule":{"type":"manual"},"metadata":{"x":"`+strings.Repeat("a", 5000)+`"}}`); status != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: %d, want 413", status)
	}
	if status, _ := b.bg(t, "POST", "/tasks", `{"task_id":`); status != http.StatusBadRequest {
		t.Errorf("broken JSON: %d, want 400", status)
	}

	// A time without an offset is UTC, as in the original; nulls are
	// accepted where the original's fields are optional.
	got := bgOK[map[string]any](t, b, "POST", "/tasks",
		`{"task_id":"once","agent_id":null,"query":"q","schedule":{"type":"once","run_at":"2030-01-01T09:00:00","seconds":null,"expression":null},"timeout_seconds":null,"session_policy":{"mode":"task","session_id":null}}`)
	if s := got["schedule"].(map[string]any); s["run_at"] != "2030-01-01T09:00:00Z" || s["timezone"] != "UTC" || s["misfire_policy"] != "skip_missed" {
		t.Errorf("once schedule = %v", s)
	}
	if got["enabled"] != true || got["overlap_policy"] != "skip_if_running" || got["timeout_seconds"] != nil || got["agent_id"] != "served" {
		t.Errorf("defaults = %v", got)
	}
	st := bgOK[map[string]any](t, b, "GET", "/tasks/once/status", "")
	if st["schedule_state"].(map[string]any)["next_due_at"] != "2030-01-01T09:00:00Z" {
		t.Errorf("schedule state = %v", st["schedule_state"])
	}

	wantDetail(t, b, "POST", "/tasks", `{"task_id":"once","query":"q","schedule":{"type":"manual"}}`, 409, "Task already registered: once")
	got = bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"once","query":"new","schedule":{"type":"interval","seconds":60},"replace":true,"retry_policy":{"max_retries":2,"backoff":"exponential"}}`)
	if got["query"] != "new" || got["retry_policy"].(map[string]any)["max_retries"] != 2.0 || got["retry_policy"].(map[string]any)["initial_delay_seconds"] != 30.0 {
		t.Errorf("replaced = %v", got)
	}
	st = bgOK[map[string]any](t, b, "GET", "/tasks/once/status", "")
	if st["schedule_state"].(map[string]any)["schedule_revision"] != 2.0 {
		t.Errorf("replacing the schedule kept the revision: %v", st["schedule_state"])
	}
}

func TestBackgroundTaskPatch(t *testing.T) {
	t.Parallel()
	b, _ := setupBackground(t)
	bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"t","query":"q","schedule":{"type":"manual"},"timeout_seconds":30,"metadata":{"a":1,"b":2}}`)

	wantDetail(t, b, "PATCH", "/tasks/missing", `{"enabled":false}`, 404, "Task not found: missing")
	wantField(t, b, "PATCH", "/tasks/t", `{"timeout_seconds":0}`, "body.timeout_seconds")
	wantField(t, b, "PATCH", "/tasks/t", `{"timeout_seconds":"soon"}`, "body.timeout_seconds")
	wantField(t, b, "PATCH", "/tasks/t", `{"query":" "}`, "body.query")
	wantField(t, b, "PATCH", "/tasks/t", `{"schedule":{"type":"interval","seconds":0}}`, "body.schedule.seconds")
	wantField(t, b, "PATCH", "/tasks/t", `{"task_id":"other"}`, "body.task_id")

	// Absent fields, and null ones other than timeout_seconds, are kept.
	got := bgOK[map[string]any](t, b, "PATCH", "/tasks/t", `{"query":"q2","metadata":null,"schedule":null}`)
	if got["query"] != "q2" || got["timeout_seconds"] != 30.0 || !cmp.Equal(got["metadata"], map[string]any{"a": 1.0, "b": 2.0}) {
		t.Errorf("absent fields must be kept: %v", got)
	}
	got = bgOK[map[string]any](t, b, "PATCH", "/tasks/t", `{"timeout_seconds":null,"metadata":{"c":3}}`)
	if got["timeout_seconds"] != nil || !cmp.Equal(got["metadata"], map[string]any{"c": 3.0}) {
		t.Errorf("null timeout and replaced metadata: %v", got)
	}
	got = bgOK[map[string]any](t, b, "PATCH", "/tasks/t", `{"timeout_seconds":5,"metadata":{}}`)
	if got["timeout_seconds"] != 5.0 || got["metadata"] != nil {
		t.Errorf("timeout set and metadata cleared: %v", got)
	}
	got = bgOK[map[string]any](t, b, "PATCH", "/tasks/t",
		`{"schedule":{"type":"interval","seconds":3600},"overlap_policy":"allow_parallel","session_policy":{"mode":"run"},"workspace_policy":{"write_run_json":false},"retry_policy":{"max_retries":1}}`)
	if got["overlap_policy"] != "allow_parallel" || got["session_policy"].(map[string]any)["mode"] != "run" ||
		got["workspace_policy"].(map[string]any)["write_run_json"] != false || got["workspace_policy"].(map[string]any)["write_events_jsonl"] != true {
		t.Errorf("policies = %v", got)
	}
	st := bgOK[map[string]any](t, b, "GET", "/tasks/t/status", "")
	state := st["schedule_state"].(map[string]any)
	if state["schedule_revision"] != 2.0 || state["next_due_at"] != "2026-01-01T01:00:00Z" {
		t.Errorf("a changed schedule bumps the revision and is due afresh: %v", state)
	}
	if got := bgOK[map[string]any](t, b, "PATCH", "/tasks/t", `{}`); got["query"] != "q2" {
		t.Errorf("empty patch = %v", got)
	}
}

func TestBackgroundPauseResume(t *testing.T) {
	t.Parallel()
	b, _ := setupBackground(t)
	bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"t","query":"q","schedule":{"type":"interval","seconds":60}}`)
	if got := bgOK[map[string]any](t, b, "POST", "/tasks/t/pause", ""); got["status"] != "paused" {
		t.Errorf("pause = %v", got)
	}
	st := bgOK[map[string]any](t, b, "GET", "/tasks/t/status", "")
	if st["schedule_state"].(map[string]any)["paused"] != true || st["schedule_state"].(map[string]any)["next_due_at"] == nil {
		t.Errorf("paused state keeps the cursor: %v", st["schedule_state"])
	}
	// Manual runs still work on a paused task.
	if got := bgOK[map[string]any](t, b, "POST", "/tasks/t/run", `{"query":"once more"}`); got["status"] != "queued" || got["query_snapshot"] != "once more" {
		t.Errorf("manual run on a paused task = %v", got)
	}
	if got := bgOK[map[string]any](t, b, "POST", "/tasks/t/resume", ""); got["status"] != "resumed" {
		t.Errorf("resume = %v", got)
	}
	st = bgOK[map[string]any](t, b, "GET", "/tasks/t/status", "")
	if st["schedule_state"].(map[string]any)["paused"] != false {
		t.Errorf("resumed state = %v", st["schedule_state"])
	}
	wantDetail(t, b, "POST", "/tasks/missing/pause", "", 404, "Task not found: missing")
	wantDetail(t, b, "POST", "/tasks/missing/resume", "", 404, "Task not found: missing")
}

func TestBackgroundRunWait(t *testing.T) {
	t.Parallel()
	const task1 = `{"task_id":"t","query":"q","schedule":{"type":"manual"},"retry_policy":{"max_retries":1,"initial_delay_seconds":60}}`
	tests := []struct {
		name    string
		timeout time.Duration
		exec    func(*fakeBackground) func(context.Context, *task.Run) (*task.Run, error)
		body    string
		// status is the HTTP status; runStatus the run's status in the
		// body or the 504's detail.
		status    int
		runStatus string
		budget    time.Duration
		message   string
	}{
		{
			name: "delayed retry times out", timeout: 2 * time.Second, body: `{"wait":true}`,
			exec: func(f *fakeBackground) func(context.Context, *task.Run) (*task.Run, error) {
				return f.failWithDelayedRetry
			},
			status: 504, runStatus: "queued", budget: 1500 * time.Millisecond,
			message: "Background run did not finish within 1.5 seconds",
		},
		{
			name: "slow agent times out", timeout: time.Second, body: `{"wait":true}`,
			exec:   func(f *fakeBackground) func(context.Context, *task.Run) (*task.Run, error) { return f.slow },
			status: 504, runStatus: "running", budget: 500 * time.Millisecond,
			message: "Background run did not finish within 0.5 seconds",
		},
		{
			name: "budget floor", timeout: 100 * time.Millisecond, body: `{"wait":true}`,
			exec:   func(f *fakeBackground) func(context.Context, *task.Run) (*task.Run, error) { return f.slow },
			status: 504, runStatus: "running", budget: time.Millisecond,
			message: "Background run did not finish within 0.001 seconds",
		},
		{
			name: "no request timeout answers the run as it stands", timeout: 0, body: `{"wait":true}`,
			exec: func(f *fakeBackground) func(context.Context, *task.Run) (*task.Run, error) {
				return f.failWithDelayedRetry
			},
			status: 200, runStatus: "queued", budget: 0,
		},
		{
			name: "finished in time", timeout: 2 * time.Second, body: `{"wait":true}`,
			status: 200, runStatus: "completed", budget: 1500 * time.Millisecond,
		},
		{name: "no wait", timeout: 2 * time.Second, body: `{"wait":false}`, status: 200, runStatus: "queued"},
		{name: "no body", timeout: 2 * time.Second, body: ``, status: 200, runStatus: "queued"},
		{name: "null query", timeout: 2 * time.Second, body: `{"query":null}`, status: 200, runStatus: "queued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, fb := setupBackground(t, func(c *Config) { c.RequestTimeout = tt.timeout })
			if tt.exec != nil {
				fb.ExecFunc = tt.exec(fb)
			}
			bgOK[map[string]any](t, b, "POST", "/tasks", task1)
			status, out := b.bg(t, "POST", "/tasks/t/run", tt.body)
			if status != tt.status {
				t.Fatalf("status = %d, want %d; body %s", status, tt.status, out)
			}
			p, _ := fb.lastTrigger(t)
			if p.WaitTimeout != tt.budget || p.TaskID != "t" {
				t.Errorf("trigger = %+v, want wait budget %v", p, tt.budget)
			}
			if status == http.StatusGatewayTimeout {
				var got struct{ Detail map[string]any }
				if err := json.Unmarshal(out, &got); err != nil {
					t.Fatal(err)
				}
				runID, _ := got.Detail["run_id"].(string)
				want := map[string]any{
					"message": tt.message, "run_id": runID, "task_id": "t", "status": tt.runStatus,
					"wait_timeout_seconds": tt.budget.Seconds(), "request_timeout_seconds": tt.timeout.Seconds(),
				}
				if diff := cmp.Diff(want, got.Detail); diff != "" || !strings.HasPrefix(runID, "run_") {
					t.Errorf("504 detail (-want +got):\n%s", diff)
				}
				// The run goes on and is listed as it stands.
				runs := bgOK[map[string]any](t, b, "GET", "/runs?task_id=t", "")
				if r := runs["runs"].([]any); len(r) != 1 || r[0].(map[string]any)["status"] != tt.runStatus || r[0].(map[string]any)["run_id"] != runID {
					t.Errorf("runs after the 504 = %v", runs)
				}
				return
			}
			got := decode[map[string]any](t, out)
			if got["status"] != tt.runStatus || got["query_snapshot"] != "q" {
				t.Errorf("run = %v", got)
			}
		})
	}
}

func TestBackgroundRunNow(t *testing.T) {
	t.Parallel()
	b, fb := setupBackground(t)
	bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"t","query":"q","schedule":{"type":"manual"}}`)
	first := bgOK[map[string]any](t, b, "POST", "/tasks/t/run", `{"query":"override"}`)
	if first["status"] != "queued" || first["query_snapshot"] != "override" || first["trigger_type"] != "manual" {
		t.Errorf("run = %v", first)
	}
	if p, _ := fb.lastTrigger(t); p.Query != "override" || p.Wait {
		t.Errorf("trigger = %+v", p)
	}
	// skip_if_running records the second run as skipped, which counts as
	// finished for a waiting caller.
	second := bgOK[map[string]any](t, b, "POST", "/tasks/t/run", `{"wait":true}`)
	if second["status"] != "skipped" || second["finished_at"] == nil {
		t.Errorf("overlapping run = %v", second)
	}
	wantDetail(t, b, "POST", "/tasks/missing/run", ``, 404, "Task not found: missing")
	wantField(t, b, "POST", "/tasks/t/run", `{"wait":"yes"}`, "body.wait")
	wantField(t, b, "POST", "/tasks/t/run", `{"extra":1}`, "body.extra")

	// Cancelling a queued run ends it at once.
	runID := first["run_id"].(string)
	if got := bgOK[map[string]any](t, b, "POST", "/runs/"+runID+"/cancel", ""); got["status"] != "cancel_requested" {
		t.Errorf("cancel = %v", got)
	}
	if got := bgOK[map[string]any](t, b, "GET", "/runs/"+runID, ""); got["status"] != "cancelled" {
		t.Errorf("cancelled run = %v", got)
	}
	wantDetail(t, b, "POST", "/runs/run_nope/cancel", "", 404, "Run not found: run_nope")
	wantDetail(t, b, "GET", "/runs/run_nope", "", 404, "Run not found: run_nope")
	wantDetail(t, b, "GET", "/runs/run_nope/attempts", "", 404, "Run not found: run_nope")
	wantDetail(t, b, "GET", "/runs/run_nope/workspace", "", 404, "Run not found: run_nope")
	if got := bgOK[[]any](t, b, "GET", "/runs/"+runID+"/attempts", ""); len(got) != 0 {
		t.Errorf("attempts of a run never started = %v", got)
	}
}

// TestBackgroundUnavailable checks an engine that cannot take work gets
// the original's 503.
func TestBackgroundUnavailable(t *testing.T) {
	t.Parallel()
	b, fb := setupBackground(t)
	fb.RunTriggerFunc = func(context.Context, *BackgroundRunParams) (*task.Run, error) {
		return nil, fmt.Errorf("run task t: %w", ErrBackgroundUnavailable)
	}
	bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"t","query":"q","schedule":{"type":"manual"}}`)
	wantDetail(t, b, "POST", "/tasks/t/run", `{"wait":true}`, 503, "Background execution is disabled")
}

// TestBackgroundRunSkipsRequestTimeout checks the request-timeout
// middleware leaves the run route alone, at the root and under a prefix,
// while it still bounds the other background routes.
func TestBackgroundRunSkipsRequestTimeout(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "/api"} {
		var statusDeadline bool
		b, fb := setupBackground(t, func(c *Config) {
			c.RequestTimeout = time.Minute
			c.APIPrefix = prefix
		})
		fb.StatusFunc = func(ctx context.Context) BackgroundStatus {
			_, statusDeadline = ctx.Deadline()
			return BackgroundStatus{}
		}
		bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"t","query":"q","schedule":{"type":"manual"}}`)
		bgOK[map[string]any](t, b, "POST", "/tasks/t/run", `{"wait":true}`)
		if _, deadline := fb.lastTrigger(t); deadline {
			t.Errorf("prefix %q: the run route ran under the middleware's deadline", prefix)
		}
		bgOK[map[string]any](t, b, "GET", "/status", "")
		if !statusDeadline {
			t.Errorf("prefix %q: /background/status ran without the middleware's deadline", prefix)
		}
	}

	a := &API{cfg: Config{RequestTimeout: time.Second, APIPrefix: "/api"}}
	for path, want := range map[string]bool{
		"/api/background/tasks/t1/run":      true,
		"/api/background/tasks/t1/run/":     false,
		"/api/background/tasks//run":        false,
		"/api/background/tasks/t1/status":   false,
		"/api/background/tasks/t1":          false,
		"/api/background/tasks/a/b/run":     false,
		"/api/background/status":            false,
		"/api/background/runs/r1/cancel":    false,
		"/api/background/tasks/t1/runaway":  false,
		"/api/background/tasks/t1/run/more": false,
	} {
		if got := a.timeoutExempt(path); got != want {
			t.Errorf("timeoutExempt(%q) = %v, want %v", path, got, want)
		}
	}
	root := &API{cfg: Config{RequestTimeout: time.Second}}
	if !root.timeoutExempt("/background/tasks/daily_report/run") {
		t.Error("the run route at the root is not exempt")
	}
}

// TestBackgroundRunWaitEndsOnAbort checks a waiting request ends when the
// server aborts in-flight work.
func TestBackgroundRunWaitEndsOnAbort(t *testing.T) {
	t.Parallel()
	b, fb := setupBackground(t)
	waiting := make(chan struct{})
	fb.RunTriggerFunc = func(ctx context.Context, p *BackgroundRunParams) (*task.Run, error) {
		close(waiting)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"t","query":"q","schedule":{"type":"manual"}}`)
	go func() {
		<-waiting
		b.api.Abort()
	}()
	wantDetail(t, b, "POST", "/tasks/t/run", `{"wait":true}`, 503, "Server is shutting down")
}

func TestBackgroundLists(t *testing.T) {
	t.Parallel()
	b, fb := setupBackground(t)
	for _, id := range []string{"b2", "a1", "c3"} {
		fb.clock.Advance(time.Second)
		bgOK[map[string]any](t, b, "POST", "/agents", `{"spec":{"agent_id":"`+id+`"}}`)
	}
	for i, id := range []string{"t5", "t4", "t3", "t2", "t1"} {
		agent := "a1"
		if i%2 == 0 {
			agent = "b2"
		}
		bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"`+id+`","agent_id":"`+agent+`","query":"q","schedule":{"type":"manual"},"overlap_policy":"allow_parallel"}`)
	}
	var runIDs []string
	for range 5 {
		fb.clock.Advance(time.Second)
		runIDs = append(runIDs, bgOK[map[string]any](t, b, "POST", "/tasks/t1/run", ``)["run_id"].(string))
	}
	bgOK[map[string]any](t, b, "POST", "/runs/"+runIDs[1]+"/cancel", "")

	// pages follows next_cursor from path and returns the ids of field.
	pages := func(path, field, idKey string, limit int) (ids []string, totals []float64, nPages int) {
		t.Helper()
		cursor := ""
		for {
			sep := "?"
			if strings.Contains(path, "?") {
				sep = "&"
			}
			url := path + sep + "limit=" + strconv.Itoa(limit)
			if cursor != "" {
				url += "&cursor=" + cursor
			}
			page := bgOK[map[string]any](t, b, "GET", url, "")
			nPages++
			items := page[field].([]any)
			if len(items) > limit {
				t.Fatalf("%s: %d items for limit %d", url, len(items), limit)
			}
			for _, it := range items {
				ids = append(ids, it.(map[string]any)[idKey].(string))
			}
			totals = append(totals, page["total"].(float64))
			next, ok := page["next_cursor"].(string)
			if !ok {
				return ids, totals, nPages
			}
			cursor = next
			if nPages > 10 {
				t.Fatal("pagination does not end")
			}
		}
	}

	ids, totals, n := pages("/agents", "agents", "agent_id", 2)
	if diff := cmp.Diff([]string{"served", "b2", "a1", "c3"}, ids); diff != "" || n != 2 || !slices.Equal(totals, []float64{4, 4}) {
		t.Errorf("agents by created_at (-want +got):\n%s (pages %d, totals %v)", diff, n, totals)
	}
	// Tasks created at the same instant are ordered by id.
	ids, totals, _ = pages("/tasks", "tasks", "task_id", 2)
	if diff := cmp.Diff([]string{"t1", "t2", "t3", "t4", "t5"}, ids); diff != "" || totals[0] != 5 {
		t.Errorf("tasks (-want +got):\n%s (totals %v)", diff, totals)
	}
	ids, totals, _ = pages("/tasks?agent_id=b2", "tasks", "task_id", 1)
	if diff := cmp.Diff([]string{"t1", "t3", "t5"}, ids); diff != "" || totals[0] != 3 {
		t.Errorf("tasks of b2 (-want +got):\n%s (totals %v)", diff, totals)
	}
	ids, totals, n = pages("/runs?task_id=t1", "runs", "run_id", 2)
	if diff := cmp.Diff(runIDs, ids); diff != "" || n != 3 || totals[0] != 5 {
		t.Errorf("runs in queue order (-want +got):\n%s (pages %d, totals %v)", diff, n, totals)
	}
	ids, totals, _ = pages("/runs?status=queued", "runs", "run_id", 3)
	if diff := cmp.Diff(slices.Delete(slices.Clone(runIDs), 1, 2), ids); diff != "" || totals[0] != 4 {
		t.Errorf("queued runs (-want +got):\n%s (totals %v)", diff, totals)
	}
	all := bgOK[map[string]any](t, b, "GET", "/runs", "")
	if _, ok := all["next_cursor"]; ok || all["total"] != 5.0 {
		t.Errorf("unpaged runs = %v", all)
	}

	tasksPage := bgOK[map[string]any](t, b, "GET", "/tasks?limit=1", "")
	for _, tt := range []struct{ path, loc string }{
		{"/runs?limit=0", "query.limit"},
		{"/runs?limit=1001", "query.limit"},
		{"/agents?limit=-1", "query.limit"},
		{"/runs?cursor=nonsense", "query.cursor"},
		{"/agents?cursor=" + tasksPage["next_cursor"].(string), "query.cursor"},
		{"/runs?cursor=" + tasksPage["next_cursor"].(string), "query.cursor"},
	} {
		wantField(t, b, "GET", tt.path, "", tt.loc)
	}
}

func TestBackgroundWorkspaceFailureListsNothing(t *testing.T) {
	t.Parallel()
	b, fb := setupBackground(t)
	fb.WorkspaceFunc = func(context.Context, *task.Run) (string, []WorkspaceFile, error) {
		return "/secret/root", nil, errSecret
	}
	bgOK[map[string]any](t, b, "POST", "/tasks", `{"task_id":"t","query":"q","schedule":{"type":"manual"}}`)
	runID := bgOK[map[string]any](t, b, "POST", "/tasks/t/run", ``)["run_id"].(string)
	got := bgOK[map[string]any](t, b, "GET", "/runs/"+runID+"/workspace", "")
	if got["workspace_path"] != "background/served/t/"+runID || len(got["files"].([]any)) != 0 {
		t.Errorf("workspace after a listing failure = %v", got)
	}
}

func TestBackgroundStoreErrorHidesText(t *testing.T) {
	t.Parallel()
	b, fb := setupBackground(t)
	fb.StoreOverride = failingStore{Store: fb.store}
	for _, path := range []string{"/status", "/agents", "/runs"} {
		status, out := b.bg(t, "GET", path, "")
		if status != http.StatusInternalServerError {
			t.Errorf("GET %s: %d, want 500", path, status)
		}
		got := decode[map[string]any](t, out)
		if got["error_id"] == nil || strings.Contains(string(out), "hunter2") {
			t.Errorf("GET %s: body %s", path, out)
		}
	}
}

func TestBackgroundRunViewHidesLeaseToken(t *testing.T) {
	t.Parallel()
	r := &task.Run{RunID: "run_1", Status: task.RunRunning, LeaseOwner: "w", LeaseToken: "tok"}
	b, err := json.Marshal(runView(r))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "tok") || !strings.Contains(string(b), `"lease_owner":"w"`) {
		t.Errorf("run JSON = %s", b)
	}
	a, err := json.Marshal([]BackgroundAttempt{{Attempt: task.Attempt{AttemptID: "at_1", RunID: "run_1", LeaseToken: "tok", WorkerID: "w"}}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(a), "tok") || strings.Contains(string(a), "lease_token") || !strings.Contains(string(a), `"worker_id":"w"`) {
		t.Errorf("attempt JSON = %s", a)
	}
	// Every other field of the run reaches the client.
	var full, view map[string]any
	rr := *r
	rr.Error, rr.ResultPreview, rr.OccurrenceID = "e", "p", "o"
	fb, _ := json.Marshal(&rr)
	vb, _ := json.Marshal(runView(&rr))
	_ = json.Unmarshal(fb, &full)
	_ = json.Unmarshal(vb, &view)
	delete(full, "lease_token")
	if diff := cmp.Diff(full, view); diff != "" {
		t.Errorf("run view differs beyond the token (-run +view):\n%s", diff)
	}
}

func TestFieldPath(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		"query":                  {"query"},
		"schedule.timezone":      {"schedule", "timezone"},
		"tools[0].builtin":       {"tools", "0", "builtin"},
		"mcp_tools[12]":          {"mcp_tools", "12"},
		"a[1][2].b":              {"a", "1", "2", "b"},
		"model_config.provider":  {"model_config", "provider"},
		"retry_policy.retry_on":  {"retry_policy", "retry_on"},
		"session_policy.session": {"session_policy", "session"},
	} {
		if got := fieldPath(in); !cmp.Equal(got, want) {
			t.Errorf("fieldPath(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPySeconds(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		1500 * time.Millisecond: "1.5", 500 * time.Millisecond: "0.5", time.Millisecond: "0.001",
		2 * time.Second: "2.0", 299500 * time.Millisecond: "299.5",
	} {
		if got := pySeconds(d); got != want {
			t.Errorf("pySeconds(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestBackgroundTimeoutMiddlewareBoundsOtherRoutes checks a slow
// background route other than run still gets the middleware's 504.
func TestBackgroundTimeoutMiddlewareBoundsOtherRoutes(t *testing.T) {
	t.Parallel()
	fb := newFakeBackground(t)
	fb.StatusFunc = func(ctx context.Context) BackgroundStatus {
		<-ctx.Done()
		return BackgroundStatus{}
	}
	a := &API{cfg: Config{RequestTimeout: 10 * time.Millisecond, Background: fb}}
	h := a.timeoutMiddleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fb.Status(r.Context())
		w.WriteHeader(http.StatusOK)
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/background/status", nil))
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "GatewayTimeout") {
		t.Errorf("slow status: %d %s", rec.Code, rec.Body)
	}
}
