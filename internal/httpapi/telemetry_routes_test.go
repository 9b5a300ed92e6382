package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/telemetry/telemetrytest"
)

var idFormat = map[string]*regexp.Regexp{
	"run":   regexp.MustCompile(`^run_[0-9a-f]{32}$`),
	"trace": regexp.MustCompile(`^trace_[0-9a-f]{32}$`),
	"span":  regexp.MustCompile(`^span_[0-9a-f]{32}$`),
	"event": regexp.MustCompile(`^event_[0-9a-f]{32}$`),
}

// getJSON GETs path, checks the status and decodes the body.
func getJSON[T any](t *testing.T, b *testBundle, path string, status int) T {
	t.Helper()
	resp, body := b.do(t, http.MethodGet, path, "")
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, status, body)
	}
	return decode[T](t, body)
}

// TestRunSyncTracesEndToEnd checks that one POST /run/sync yields an
// agent trace and a serve trace linked by run_id, visible through every
// telemetry route, with the original's shapes.
func TestRunSyncTracesEndToEnd(t *testing.T) {
	t.Parallel()
	b := setup(t)
	query := "please add\n{\"tool\": \"add\", \"arguments\": {\"a\": 2, \"b\": 40}}"
	run := b.runSync(t, "e2e", query)
	agentTrace := *run.TraceID

	byRun := getJSON[TraceBody](t, b, "/telemetry/runs/"+run.RunID+"/trace", 200)
	tr := byRun.Trace
	if tr.TraceID != agentTrace {
		t.Fatalf("run trace = %s, want the agent trace %s", tr.TraceID, agentTrace)
	}
	if diff := cmp.Diff(map[string]any{"run_id": run.RunID, "normalize": false}, byRun.Filters); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
	wantSummary := TraceSummary{TraceID: agentTrace, RunID: run.RunID, SessionID: "e2e", Status: "completed", EventCount: len(tr.Events), SpanCount: len(tr.Spans)}
	if byRun.Summary != wantSummary {
		t.Errorf("summary = %+v, want %+v", byRun.Summary, wantSummary)
	}
	if tr.SchemaVersion != 3 || tr.ExecutionSurface != "interactive" || tr.EvidenceStatus != "complete" || tr.Incomplete ||
		tr.Status != "completed" || tr.EndedAt == nil || *tr.Metadata.AgentName != "tester" || *tr.Metadata.ModelProvider != "echo" {
		t.Errorf("trace fields: %+v", tr)
	}
	var kinds []string
	for _, s := range tr.Spans {
		kinds = append(kinds, s.Kind)
		if !idFormat["span"].MatchString(s.SpanID) || s.Status != "completed" || len(s.EventIDs) == 0 {
			t.Errorf("span %+v", s)
		}
	}
	if want := []string{"agent.run", "model.call", "tool.call", "model.call"}; !slices.Equal(kinds, want) {
		t.Errorf("span kinds %v, want %v", kinds, want)
	}
	for _, e := range tr.Events {
		if !idFormat["event"].MatchString(e.EventID) || !idFormat["trace"].MatchString(e.TraceID) || e.Meta("span_kind") == "" {
			t.Errorf("event %s: id %s trace %s span kind %q", e.EventType, e.EventID, e.TraceID, e.Meta("span_kind"))
		}
	}
	if !idFormat["run"].MatchString(run.RunID) {
		t.Errorf("run id %s", run.RunID)
	}

	// The same trace by id and by session.
	for path, filters := range map[string]map[string]any{
		"/telemetry/traces/" + agentTrace:              {"trace_id": agentTrace, "normalize": false},
		"/telemetry/sessions/e2e/trace":                {"session_id": "e2e", "normalize": false},
		"/telemetry/sessions/e2e/trace?normalize=true": {"session_id": "e2e", "normalize": true},
	} {
		got := getJSON[TraceBody](t, b, path, 200)
		if got.Trace.TraceID != agentTrace || got.Summary != wantSummary {
			t.Errorf("%s: trace %s summary %+v", path, got.Trace.TraceID, got.Summary)
		}
		if diff := cmp.Diff(filters, got.Filters); diff != "" {
			t.Errorf("%s filters (-want +got):\n%s", path, diff)
		}
	}

	// Two traces share the run id: the agent's and the serve trace.
	list := getJSON[TracesBody](t, b, "/telemetry/traces?run_id="+run.RunID, 200)
	if diff := cmp.Diff(map[string]any{"run_id": run.RunID, "limit": float64(100), "normalize": false}, list.Filters); diff != "" {
		t.Errorf("list filters (-want +got):\n%s", diff)
	}
	if list.Count != 2 || len(list.Traces) != 2 {
		t.Fatalf("%d traces for the run, want 2", list.Count)
	}
	var serve telemetry.Trace
	for _, tr := range list.Traces {
		if tr.RunID != run.RunID || tr.SessionID != "e2e" {
			t.Errorf("trace %s: run %s session %s", tr.TraceID, tr.RunID, tr.SessionID)
		}
		if tr.TraceID != agentTrace {
			serve = tr
		}
	}
	if serve.Status != "completed" || len(serve.Spans) != 1 || serve.Spans[0].Kind != "serve.request" ||
		serve.Spans[0].Name != "POST /run/sync" || !slices.Equal(serve.Metadata.Tags, []string{"serve"}) {
		t.Errorf("serve trace = %+v", serve)
	}

	// Events of the run, with the original's filter echo.
	events := getJSON[TelemetryEventsBody](t, b, "/telemetry/events?run_id="+run.RunID+"&session_id=e2e", 200)
	if diff := cmp.Diff(map[string]any{"limit": float64(200), "run_id": run.RunID, "session_id": "e2e"}, events.Filters); diff != "" {
		t.Errorf("event filters (-want +got):\n%s", diff)
	}
	if n := len(events.Events); n != events.Count || n < 8 || events.Events[0].EventType != "serve_request_start" ||
		events.Events[n-1].EventType != "serve_request_end" || events.NextCursor != nil {
		t.Errorf("events: count %d, next %v", events.Count, events.NextCursor)
	}
	results := getJSON[TelemetryEventsBody](t, b, "/telemetry/events?run_id="+run.RunID+"&event_type=tool_result", 200)
	if results.Count != 1 || !strings.Contains(string(results.Events[0].Output), `"result":"42"`) {
		t.Errorf("tool results: %+v", results.Events)
	}
}

func TestTelemetryEventsFiltersAndPaging(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	var all []string
	for i := range 9 {
		e := &telemetry.Event{
			EventType: []string{"tool_call", "tool_result", "final_answer"}[i%3],
			SessionID: fmt.Sprint("s", i%2), RunID: fmt.Sprint("run_", i%3), TraceID: fmt.Sprint("trace_", i%3),
		}
		if i == 4 {
			e.Metadata = map[string]any{"task_id": "task_1"}
		}
		_ = b.store.EventAppend(ctx, e)
		all = append(all, e.EventID)
	}
	tests := []struct {
		query       string
		want        []int // indexes into all
		wantFilters map[string]any
	}{
		{"", []int{0, 1, 2, 3, 4, 5, 6, 7, 8}, map[string]any{"limit": 200.0}},
		{"trace_id=trace_1", []int{1, 4, 7}, map[string]any{"limit": 200.0, "trace_id": "trace_1"}},
		{"run_id=run_2&session_id=s0", []int{2, 8}, map[string]any{"limit": 200.0, "run_id": "run_2", "session_id": "s0"}},
		{"session_id=s1", []int{1, 3, 5, 7}, map[string]any{"limit": 200.0, "session_id": "s1"}},
		{"task_id=task_1", []int{4}, map[string]any{"limit": 200.0, "task_id": "task_1"}},
		{"event_type=final_answer", []int{2, 5, 8}, map[string]any{"limit": 200.0, "event_type": []any{"final_answer"}}},
		{"event_type=final_answer&event_type=tool_call&session_id=s0", []int{0, 2, 6, 8},
			map[string]any{"limit": 200.0, "session_id": "s0", "event_type": []any{"final_answer", "tool_call"}}},
		{"limit=2", []int{0, 1}, map[string]any{"limit": 2.0}},
	}
	for _, tt := range tests {
		got := getJSON[map[string]json.RawMessage](t, b, "/telemetry/events?"+tt.query, 200)
		var body TelemetryEventsBody
		raw, _ := json.Marshal(got)
		_ = json.Unmarshal(raw, &body)
		var ids []string
		for _, e := range body.Events {
			ids = append(ids, e.EventID)
		}
		var want []string
		for _, i := range tt.want {
			want = append(want, all[i])
		}
		if !slices.Equal(ids, want) || body.Count != len(want) {
			t.Errorf("%q: events %v, want %v", tt.query, ids, want)
		}
		if diff := cmp.Diff(tt.wantFilters, body.Filters); diff != "" {
			t.Errorf("%q: filters (-want +got):\n%s", tt.query, diff)
		}
		if _, ok := got["next_cursor"]; !ok {
			t.Errorf("%q: no next_cursor key", tt.query)
		}
	}

	// Paging with next_cursor visits every event once.
	var paged []string
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("paging does not end")
		}
		page := getJSON[TelemetryEventsBody](t, b, "/telemetry/events?limit=4&cursor="+url.QueryEscape(cursor), 200)
		for _, e := range page.Events {
			paged = append(paged, e.EventID)
		}
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
	}
	if !slices.Equal(paged, all) {
		t.Errorf("paged %v, want %v", paged, all)
	}

	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=bogus"} {
		resp, body := b.do(t, http.MethodGet, "/telemetry/events?"+q, "")
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"detail":[`) {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
}

func TestTelemetryTracesFilters(t *testing.T) {
	t.Parallel()
	b := setup(t)
	done := b.runSync(t, "s1", "hello")
	// A second run that is cut off: its agent trace stays running.
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		_ = b.store.EventAppend(ctx, &telemetry.Event{EventType: "user_message", TraceID: "trace_open", SessionID: p.SessionID, RunID: p.RunID,
			Metadata: map[string]any{"agent_id": "agent_a", "workflow_id": "wf_a", "task_id": "task_a", "model": "gpt-x"}})
		return nil, context.Canceled
	}
	b.do(t, http.MethodPost, "/run/sync", `{"query":"x","session_id":"s2"}`)
	ids := func(q string) []string {
		t.Helper()
		body := getJSON[TracesBody](t, b, "/telemetry/traces?"+q, 200)
		var out []string
		for _, tr := range body.Traces {
			out = append(out, tr.TraceID)
		}
		if body.Count != len(out) {
			t.Errorf("%q: count %d, %d traces", q, body.Count, len(out))
		}
		return out
	}
	all := ids("")
	// Newest first: the open trace, the cut-off run's serve trace, then
	// the first run's agent and serve traces.
	if len(all) != 4 || all[0] != "trace_open" || all[2] != *done.TraceID {
		t.Fatalf("all traces = %v", all)
	}
	tests := []struct {
		query string
		want  []string
	}{
		{"status=running", []string{"trace_open"}},
		{"status=cancelled", all[1:2]}, // the serve trace of the cut-off run
		{"status=completed&session_id=s1", all[2:]},
		{"agent_id=agent_a", []string{"trace_open"}},
		{"workflow_id=wf_a", []string{"trace_open"}},
		{"task_id=task_a", []string{"trace_open"}},
		{"model=gpt-x", []string{"trace_open"}},
		{"trace_id=trace_open", []string{"trace_open"}},
		{"run_id=" + done.RunID + "&limit=1", all[2:3]},
		{"status=suspended", nil},
	}
	for _, tt := range tests {
		if got := ids(tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("%q: %v, want %v", tt.query, got, tt.want)
		}
	}

	resp, body := b.do(t, http.MethodGet, "/telemetry/traces?status=bogus", "")
	want := `{"detail":"Invalid trace status 'bogus'. Expected one of: running, completed, failed, cancelled, timeout, ` +
		`aborted_resource_guard, aborted_safety_guard, partial, suspended"}` + "\n"
	if resp.StatusCode != http.StatusUnprocessableEntity || string(body) != want {
		t.Errorf("bad status: %d %s", resp.StatusCode, body)
	}
	for _, q := range []string{"limit=0", "limit=1001", "normalize=maybe"} {
		if resp, body := b.do(t, http.MethodGet, "/telemetry/traces?"+q, ""); resp.StatusCode != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s", q, resp.StatusCode, body)
		}
	}
	f := getJSON[TracesBody](t, b, "/telemetry/traces?normalize=true&model=echo&status=completed", 200).Filters
	if diff := cmp.Diff(map[string]any{"limit": 100.0, "normalize": true, "model": "echo", "status": "completed"}, f); diff != "" {
		t.Errorf("filters (-want +got):\n%s", diff)
	}
}

func TestTraceNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for path, detail := range map[string]string{
		"/telemetry/traces/trace_none":       "Trace not found: trace_none",
		"/telemetry/runs/run_none/trace":     "Trace not found for run: run_none",
		"/telemetry/sessions/none/trace":     "Trace not found for session: none",
		"/telemetry/sessions/none/trace?x=1": "Trace not found for session: none",
	} {
		resp, body := b.do(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusNotFound || string(body) != `{"detail":"`+detail+`"}`+"\n" {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

// TestTraceMismatchIsNotFound checks the routes do not trust the store: a
// trace that does not match the selector is a 404, as in the original.
func TestTraceMismatchIsNotFound(t *testing.T) {
	t.Parallel()
	wrong := telemetry.Trace{TraceID: "trace_other", RunID: "run_other", SessionID: "other"}
	b := setup(t, func(c *Config) {
		c.Events = &telemetrytest.PartialStore{
			Store:                     c.Events,
			TraceGetFunc:              func(context.Context, string) (telemetry.Trace, error) { return wrong, nil },
			TraceLatestForRunFunc:     func(context.Context, string) (telemetry.Trace, error) { return wrong, nil },
			TraceLatestForSessionFunc: func(context.Context, string) (telemetry.Trace, error) { return wrong, nil },
		}
	})
	for path, detail := range map[string]string{
		"/telemetry/traces/trace_1":   "Trace not found: trace_1",
		"/telemetry/runs/run_1/trace": "Trace not found for run: run_1",
		"/telemetry/sessions/s/trace": "Trace not found for session: s",
	} {
		resp, body := b.do(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusNotFound || string(body) != `{"detail":"`+detail+`"}`+"\n" {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

// TestTelemetryStoreFailureHidesText checks a failing store gives a 500
// with only an error id.
func TestTelemetryStoreFailureHidesText(t *testing.T) {
	t.Parallel()
	fail := fmt.Errorf("dial db: password=hunter2")
	b := setup(t, func(c *Config) {
		c.Events = &telemetrytest.PartialStore{
			Store: c.Events,
			EventQueryFunc: func(context.Context, telemetry.EventQueryParams) (telemetry.EventPage, error) {
				return telemetry.EventPage{}, fail
			},
			TraceGetFunc: func(context.Context, string) (telemetry.Trace, error) { return telemetry.Trace{}, fail },
		}
	})
	for _, path := range []string{"/telemetry/events", "/telemetry/traces/trace_1"} {
		resp, body := b.do(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "hunter2") || !strings.Contains(string(body), "error_id") {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestTelemetryEventsStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r1 := b.runSync(t, "s", "one")
	r2 := b.runSync(t, "s", "two")

	resp, body := b.do(t, http.MethodGet, "/telemetry/events/stream", "")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"loc":["query","session_id"]`) {
		t.Errorf("without session_id: %d %s", resp.StatusCode, body)
	}

	// Frames of another run are not sent.
	_, r := openGet(t, t.Context(), b.srv, "/telemetry/events/stream?session_id=s&run_id="+r2.RunID)
	if f := nextEvent(t, r); f.Data != `{"session_id":"s","run_id":"`+r2.RunID+`","status":"streaming"}` {
		t.Fatalf("first frame = %+v", f)
	}
	for {
		f := nextEvent(t, r)
		if strings.Contains(f.Data, r1.RunID) || !strings.Contains(f.Data, r2.RunID) {
			t.Fatalf("frame of another run: %+v", f)
		}
		if f.Event == "final_answer" {
			break
		}
	}

	// Last-Event-ID is the resume cursor when no cursor is given.
	_, r = openGet(t, t.Context(), b.srv, "/telemetry/events/stream?session_id=s", "Last-Event-ID", "10")
	nextEvent(t, r)
	if f := nextEvent(t, r); f.ID != "11" {
		t.Errorf("resumed at %+v, want id 11", f)
	}
}

// TestTelemetryRoutesNeedAToken checks the new routes are protected (the
// OpenAPI walk in TestEveryOperationIsProtected covers them too).
func TestTelemetryRoutesNeedAToken(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.AuthToken = "tok" })
	for _, path := range []string{
		"/events/s", "/events/s/list", "/events/s/trace", "/sessions/s/history",
		"/telemetry/events", "/telemetry/events/stream?session_id=s", "/telemetry/traces",
		"/telemetry/traces/t", "/telemetry/runs/r/trace", "/telemetry/sessions/s/trace",
	} {
		if resp, _ := b.do(t, http.MethodGet, path, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d", path, resp.StatusCode)
		}
	}
	if resp, _ := b.do(t, http.MethodDelete, "/sessions/s", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("DELETE without a token: %d", resp.StatusCode)
	}
	if resp, _ := b.do(t, http.MethodGet, "/telemetry/events", "", "Authorization", "Bearer tok"); resp.StatusCode != http.StatusOK {
		t.Errorf("with the token: %d", resp.StatusCode)
	}
}
