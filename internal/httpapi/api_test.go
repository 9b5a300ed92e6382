package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/llm/echo"
	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/tool"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fakeRunner wraps a real agent and lets a test replace Run.
type fakeRunner struct {
	agent.Runner
	RunFunc func(ctx context.Context, p agent.RunParams) (*agent.Result, error)
}

func (f *fakeRunner) Run(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
	if f.RunFunc != nil {
		return f.RunFunc(ctx, p)
	}
	return f.Runner.Run(ctx, p)
}

type testBundle struct {
	api    *API
	srv    *httptest.Server
	store  *memstore.Store
	runner *fakeRunner
}

type addArgs struct {
	A int `json:"a" jsonschema:"first addend"`
	B int `json:"b" jsonschema:"second addend"`
}

func setup(t *testing.T, mutate ...func(*Config)) *testBundle {
	t.Helper()
	return setupTB(t, mutate...)
}

func setupFuzz(f *testing.F, mutate ...func(*Config)) *testBundle {
	f.Helper()
	return setupTB(f, mutate...)
}

func setupBench(b *testing.B, mutate ...func(*Config)) *testBundle {
	b.Helper()
	return setupTB(b, mutate...)
}

func setupTB(t testing.TB, mutate ...func(*Config)) *testBundle {
	t.Helper()
	store := memstore.New()
	tools := tool.NewRegistry()
	add, err := tool.NewFunc("add", "Add two integers.", func(_ context.Context, in addArgs) (int, error) {
		return in.A + in.B, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tools.Add(add); err != nil {
		t.Fatal(err)
	}
	ag, err := agent.New(agent.Config{Name: "tester", Model: echo.New(""), Tools: tools, Memory: store, Events: store})
	if err != nil {
		t.Fatal(err)
	}
	runner := &fakeRunner{Runner: ag}
	cfg := Config{Runner: runner, Events: store, Version: "1.2.3", KeepAlive: time.Hour}
	for _, m := range mutate {
		m(&cfg)
	}
	api, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	api.SetReady(true)
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		api.Close()
	})
	return &testBundle{api: api, srv: srv, store: store, runner: runner}
}

func (b *testBundle) do(t *testing.T, method, path, body string, hdr ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, b.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, out
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

func TestHealth(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, body := b.do(t, http.MethodGet, "/health", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	got := decode[map[string]any](t, body)
	if got["status"] != "healthy" || got["agent_name"] != "tester" || got["version"] != "1.2.3" {
		t.Errorf("body = %v", got)
	}
	if _, ok := got["uptime"].(float64); !ok {
		t.Errorf("uptime = %v, want a number", got["uptime"])
	}
	if resp.Header.Get("X-Process-Time") == "" || resp.Header.Get("X-Request-ID") == "" {
		t.Errorf("missing X-Process-Time or X-Request-ID: %v", resp.Header)
	}
}

func TestReadyFollowsLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t)
	check := func(wantStatus int, wantReady bool) {
		t.Helper()
		resp, body := b.do(t, http.MethodGet, "/ready", "")
		if resp.StatusCode != wantStatus {
			t.Errorf("status = %d, want %d", resp.StatusCode, wantStatus)
		}
		got := decode[map[string]any](t, body)
		want := map[string]any{"ready": wantReady, "agent_name": "tester", "initialized": got["initialized"], "mcp_connected": true}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	}
	b.api.SetReady(false)
	check(http.StatusServiceUnavailable, false)
	b.api.SetReady(true)
	check(http.StatusOK, true)
	b.api.BeginDrain()
	check(http.StatusServiceUnavailable, false)
}

func TestTools(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, body := b.do(t, http.MethodGet, "/tools", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	got := decode[ToolsBody](t, body)
	if got.Total != 1 || len(got.Tools) != 1 {
		t.Fatalf("tools = %+v", got)
	}
	tl := got.Tools[0]
	if tl.Name != "add" || tl.Type != "local" || tl.Description != "Add two integers." {
		t.Errorf("tool = %+v", tl)
	}
	schema := decode[map[string]any](t, tl.InputSchema)
	if schema["type"] != "object" {
		t.Errorf("inputSchema = %v", schema)
	}
}

func TestRunSync(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, body := b.do(t, http.MethodPost, "/run/sync", `{"query":"hello there","session_id":"s1"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	got := decode[map[string]any](t, body)
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	wantKeys := []string{"agent_name", "metric", "response", "run_id", "session_id", "trace_id", "usage"}
	if diff := cmp.Diff(wantKeys, sorted(keys)); diff != "" {
		t.Errorf("keys (-want +got):\n%s", diff)
	}
	if got["response"] != "hello there" || got["session_id"] != "s1" || got["agent_name"] != "tester" {
		t.Errorf("body = %v", got)
	}
	if !strings.HasPrefix(got["run_id"].(string), "run_") || !strings.HasPrefix(got["trace_id"].(string), "trace_") {
		t.Errorf("ids = %v %v", got["run_id"], got["trace_id"])
	}
	usage := got["usage"].(map[string]any)
	if usage["completion_tokens"] != float64(2) {
		t.Errorf("usage = %v", usage)
	}

	// The serve trace brackets the agent's events in the session log.
	events, err := b.store.EventList(t.Context(), telemetry.ListParams{SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	if first, last := events[0].EventType, events[len(events)-1].EventType; first != "serve_request_start" || last != "serve_request_end" {
		t.Errorf("first/last event = %s/%s", first, last)
	}
	for _, e := range events {
		if e.RunID != got["run_id"] {
			t.Errorf("event %s has run_id %q, want %q", e.EventType, e.RunID, got["run_id"])
		}
	}

	// The agent's usage shows up in /metrics.
	_, mbody := b.do(t, http.MethodGet, "/metrics", "")
	m := decode[MetricsBody](t, mbody)
	if m.TotalRequests != 1 || m.TotalTokens == 0 {
		t.Errorf("metrics = %+v", m)
	}
}

func TestRunSyncMintsSessionID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, body := range []string{`{"query":"hi"}`, `{"query":"hi","session_id":""}`} {
		resp, out := b.do(t, http.MethodPost, "/run/sync", body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status = %d, body %s", resp.StatusCode, out)
		}
		if s := decode[RunResponse](t, out).SessionID; !strings.HasPrefix(s, "omni_core_agent_tester_") {
			t.Errorf("session_id = %q", s)
		}
	}
}

func TestRunBadInput(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.MaxBodyBytes = 1024 })
	tests := []struct {
		name    string
		body    string
		status  int
		wantLoc string
	}{
		{"missing query", `{}`, 422, "body.query"},
		{"empty query", `{"query":""}`, 422, "body.query"},
		{"query wrong type", `{"query":5}`, 422, "body.query"},
		{"session wrong type", `{"query":"x","session_id":7}`, 422, "body.session_id"},
		{"unknown field", `{"query":"x","extra":1}`, 422, "body.extra"},
		{"bad session id", `{"query":"x","session_id":"../etc"}`, 422, "body.session_id"},
		{"invalid json", `{"query":`, 400, "body"},
		{"not an object", `[1,2]`, 422, "body"},
		{"too large", `{"query":"` + strings.Repeat("a", 2048) + `"}`, 413, ""},
	}
	for _, path := range []string{"/run/sync", "/run"} {
		for _, tt := range tests {
			t.Run(path+" "+tt.name, func(t *testing.T) {
				resp, body := b.do(t, http.MethodPost, path, tt.body)
				if resp.StatusCode != tt.status {
					t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, body)
				}
				if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "json") {
					t.Errorf("content type = %q, want JSON", ct)
				}
				got := decode[map[string]json.RawMessage](t, body)
				detail, ok := got["detail"]
				if !ok {
					t.Fatalf("no detail in %s", body)
				}
				if tt.wantLoc == "" {
					return
				}
				var fields []FieldError
				if err := json.Unmarshal(detail, &fields); err != nil {
					t.Fatalf("detail is not a field list: %s", detail)
				}
				var locs []string
				for _, f := range fields {
					locs = append(locs, strings.Join(f.Loc, "."))
				}
				found := false
				for _, l := range locs {
					found = found || l == tt.wantLoc
				}
				if !found {
					t.Errorf("locs = %v, want one to be %q (body %s)", locs, tt.wantLoc, body)
				}
			})
		}
	}
}

func TestRunSyncTimeout(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.RequestTimeout = 20 * time.Millisecond })
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	resp, body := b.do(t, http.MethodPost, "/run/sync", `{"query":"x","session_id":"s"}`)
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status = %d, body %s", resp.StatusCode, body)
	}
	if got := decode[map[string]string](t, body)["detail"]; got != "Request timed out after 0 seconds" {
		t.Errorf("detail = %q", got)
	}
	events, _ := b.store.EventList(t.Context(), telemetry.ListParams{SessionID: "s"})
	last := events[len(events)-1]
	if last.EventType != "serve_request_error" || last.Error == nil || last.Error.Type != "timeout" {
		t.Errorf("last event = %+v", last)
	}
}

func TestRunSyncInternalErrorHidesText(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.runner.RunFunc = func(context.Context, agent.RunParams) (*agent.Result, error) {
		return nil, errors.New("db password=hunter2 leaked")
	}
	resp, body := b.do(t, http.MethodPost, "/run/sync", `{"query":"x"}`)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	if strings.Contains(string(body), "hunter2") || !strings.Contains(string(body), "error id") {
		t.Errorf("body = %s", body)
	}
}

func TestPanicBecomes500WithErrorID(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.runner.RunFunc = func(context.Context, agent.RunParams) (*agent.Result, error) {
		panic("secret-token-123")
	}
	resp, body := b.do(t, http.MethodPost, "/run/sync", `{"query":"x"}`)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	got := decode[map[string]any](t, body)
	if got["error_id"] == nil || strings.Contains(string(body), "secret-token") {
		t.Errorf("body = %s", body)
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	t.Parallel()
	b := setup(t)
	resp, body := b.do(t, http.MethodGet, "/nope", "")
	if resp.StatusCode != http.StatusNotFound || decode[map[string]string](t, body)["detail"] != "Not Found" {
		t.Errorf("status = %d, body %s", resp.StatusCode, body)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.AuthToken = "s3cret" })
	tests := []struct {
		method, path, body string
		hdr                []string
		status             int
		message            string
	}{
		{"GET", "/tools", "", nil, 401, "Missing or invalid Authorization header"},
		{"GET", "/tools", "", []string{"Authorization", "Token s3cret"}, 401, "Missing or invalid Authorization header"},
		{"GET", "/tools", "", []string{"Authorization", "Bearer wrong"}, 401, "Invalid authentication token"},
		{"POST", "/run/sync", `{"query":"x"}`, nil, 401, "Missing or invalid Authorization header"},
		{"POST", "/run", `{"query":"x"}`, nil, 401, "Missing or invalid Authorization header"},
		{"GET", "/metrics", "", nil, 401, "Missing or invalid Authorization header"},
		{"GET", "/tools", "", []string{"Authorization", "Bearer s3cret"}, 200, ""},
		{"GET", "/health", "", nil, 200, ""},
		{"GET", "/ready", "", nil, 200, ""},
		{"GET", "/openapi.json", "", nil, 200, ""},
		{"GET", "/prometheus", "", nil, 200, ""},
	}
	for _, tt := range tests {
		resp, body := b.do(t, tt.method, tt.path, tt.body, tt.hdr...)
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s %v: status = %d, want %d", tt.method, tt.path, tt.hdr, resp.StatusCode, tt.status)
			continue
		}
		if tt.status == 401 {
			want := map[string]string{"error": "Unauthorized", "message": tt.message}
			if diff := cmp.Diff(want, decode[map[string]string](t, body)); diff != "" {
				t.Errorf("%s %s body (-want +got):\n%s", tt.method, tt.path, diff)
			}
		}
	}
}

// TestEveryOperationIsProtected walks the OpenAPI document so that a route
// added later cannot ship without auth.
func TestEveryOperationIsProtected(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.AuthToken = "s3cret" })
	_, body := b.do(t, http.MethodGet, "/openapi.json", "")
	doc := decode[map[string]any](t, body)
	publicPaths := map[string]bool{"/health": true, "/ready": true}
	n := 0
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			if publicPaths[path] {
				continue
			}
			n++
			resp, _ := b.do(t, strings.ToUpper(method), path, `{}`)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s %s without a token: status %d, want 401", method, path, resp.StatusCode)
			}
		}
	}
	if n < 4 {
		t.Errorf("only %d protected operations found", n)
	}
}

func TestAPIPrefix(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.APIPrefix = "/api/v1" })
	for path, want := range map[string]int{
		"/api/v1/health": 200, "/api/v1/ready": 200, "/health": 404,
		"/prometheus": 200, "/openapi.json": 200, "/api/v1/prometheus": 404,
	} {
		if resp, _ := b.do(t, http.MethodGet, path, ""); resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	resp, body := b.do(t, http.MethodPost, "/api/v1/run/sync", `{"query":"hi"}`)
	if resp.StatusCode != 200 {
		t.Errorf("run under prefix: %d %s", resp.StatusCode, body)
	}
}

func TestOpenAPIIsValid(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, body := b.do(t, http.MethodGet, "/openapi.json", "")
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("invalid OpenAPI: %v", err)
	}
	if doc.Info.Version != "1.2.3" {
		t.Errorf("version = %q", doc.Info.Version)
	}
	for _, p := range []string{"/run", "/run/sync", "/health", "/ready", "/tools", "/metrics"} {
		if doc.Paths.Find(p) == nil {
			t.Errorf("path %s missing", p)
		}
	}
	// Operations are grouped in the docs by area.
	for path, tag := range map[string]string{"/run": "Runs", "/health": "Health", "/tools": "Agent", "/telemetry/events": "Telemetry", "/events/{session_id}": "Sessions"} {
		item := doc.Paths.Find(path)
		if item == nil {
			t.Errorf("path %s missing", path)
			continue
		}
		for _, op := range item.Operations() {
			if len(op.Tags) != 1 || op.Tags[0] != tag {
				t.Errorf("%s tags = %v, want [%s]", path, op.Tags, tag)
			}
		}
	}
	if strings.Contains(string(body), "omniserve.public") {
		t.Error("internal operation metadata leaked into the document")
	}
}

func TestPrometheus(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.do(t, http.MethodGet, "/health", "")
	b.do(t, http.MethodPost, "/run/sync", `{"query":"x","session_id":"abc123"}`)
	b.do(t, http.MethodGet, "/nope/abc123", "")
	b.do(t, http.MethodGet, "/prometheus", "")
	resp, body := b.do(t, http.MethodGet, "/prometheus", "")
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("content type %q", resp.Header.Get("Content-Type"))
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	value := func(name string) float64 {
		f, ok := families[name]
		if !ok {
			t.Fatalf("%s missing", name)
		}
		m := f.GetMetric()[0]
		if c := m.GetCounter(); c != nil {
			return c.GetValue()
		}
		return m.GetGauge().GetValue()
	}
	if got := value("omniserve_requests_total"); got != 3 {
		t.Errorf("requests_total = %v, want 3 (scrapes excluded)", got)
	}
	if got := value("omniserve_requests_error"); got != 1 {
		t.Errorf("requests_error = %v, want 1", got)
	}
	if got := value("omniserve_requests_success"); got != 2 {
		t.Errorf("requests_success = %v, want 2", got)
	}
	if got := value("omniserve_active_requests"); got != 0 {
		t.Errorf("active = %v", got)
	}
	routes := map[string]bool{}
	for _, m := range families["omniserve_request_duration_seconds"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" {
				routes[l.GetValue()] = true
			}
		}
	}
	if diff := cmp.Diff(map[string]bool{"/health": true, "/run/sync": true, "unmatched": true}, routes); diff != "" {
		t.Errorf("route labels (-want +got):\n%s", diff)
	}
	if strings.Contains(string(body), "abc123") {
		t.Error("a raw path or session id leaked into a label")
	}
	if _, ok := families["go_goroutines"]; !ok {
		t.Error("Go runtime metrics missing")
	}
	// Every series has HELP and TYPE lines.
	for name, f := range families {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP line", name)
		}
		if !strings.Contains(string(body), "# TYPE "+name+" ") {
			t.Errorf("%s has no TYPE line", name)
		}
	}
}

// TestPrometheusPerInstance checks two servers never share counts.
func TestPrometheusPerInstance(t *testing.T) {
	t.Parallel()
	a, b := setup(t), setup(t)
	a.do(t, http.MethodGet, "/health", "")
	_, body := b.do(t, http.MethodGet, "/prometheus", "")
	if !strings.Contains(string(body), "omniserve_requests_total 0") {
		t.Errorf("second server counted the first one's request")
	}
}

// sseFrame is one parsed Server-Sent-Events frame.
type sseFrame struct {
	Event string
	ID    string
	Data  string
}

func readFrames(t *testing.T, r io.Reader) []sseFrame {
	t.Helper()
	var (
		frames []sseFrame
		cur    sseFrame
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (sseFrame{}) {
				frames = append(frames, cur)
			}
			cur = sseFrame{}
		case strings.HasPrefix(line, "event: "):
			cur.Event = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			cur.ID = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			cur.Data = line[len("data: "):]
		}
	}
	return frames
}

var (
	idPattern   = regexp.MustCompile(`\b(run|trace|span|event)_[0-9a-f]{32}\b`)
	timePattern = regexp.MustCompile(`"(timestamp)":"[^"]+"`)
	durPattern  = regexp.MustCompile(`"(duration_ms|total_time)":[0-9.e-]+`)
)

func normalize(s string) string {
	s = idPattern.ReplaceAllString(s, "${1}_ID")
	s = timePattern.ReplaceAllString(s, `"$1":"TIME"`)
	return durPattern.ReplaceAllString(s, `"$1":0`)
}

// TestRunStreamGolden pins the whole SSE transcript of a tool-using run.
func TestRunStreamGolden(t *testing.T) {
	t.Parallel()
	b := setup(t)
	query := "please add\n{\"tool\": \"add\", \"arguments\": {\"a\": 2, \"b\": 40}}"
	reqBody, _ := json.Marshal(RunRequest{Query: query, SessionID: "golden"})
	resp, body := b.do(t, http.MethodPost, "/run", string(reqBody))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", resp.StatusCode, body)
	}
	for h, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	frames := readFrames(t, strings.NewReader(string(body)))
	var sb strings.Builder
	for _, f := range frames {
		sb.WriteString("event: " + f.Event + "\n")
		if f.ID != "" {
			sb.WriteString("id: " + f.ID + "\n")
		}
		sb.WriteString("data: " + normalize(f.Data) + "\n\n")
	}
	got := sb.String()
	golden := filepath.Join("testdata", "run_stream.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("transcript (-want +got):\n%s", diff)
	}

	// Structure, independent of the golden file: ids are the session
	// sequence, contiguous from 1; the final answer is the tool's result.
	if frames[0].Event != "session" || frames[len(frames)-1].Event != "session" || frames[len(frames)-2].Event != "complete" {
		t.Fatalf("frame order: first %s, last %s %s", frames[0].Event, frames[len(frames)-2].Event, frames[len(frames)-1].Event)
	}
	want1 := 1
	for _, f := range frames[1 : len(frames)-2] {
		if f.ID != strconv.Itoa(want1) {
			t.Errorf("frame %s id = %s, want %d", f.Event, f.ID, want1)
		}
		want1++
	}
	complete := decode[RunResponse](t, []byte(frames[len(frames)-2].Data))
	if complete.Response != "42" {
		t.Errorf("complete.response = %q, want 42", complete.Response)
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func TestDocsPages(t *testing.T) {
	t.Parallel()
	on := setup(t, func(c *Config) { c.EnableDocs, c.EnableRedoc, c.AuthToken, c.APIPrefix = true, true, "tok", "/api" })
	for _, p := range []string{"/docs", "/docs/", "/redoc"} {
		resp, body := on.do(t, http.MethodGet, p, "")
		if resp.StatusCode != 200 || !strings.Contains(string(body), "/openapi.json") {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
	off := setup(t)
	for _, p := range []string{"/docs", "/redoc"} {
		if resp, _ := off.do(t, http.MethodGet, p, ""); resp.StatusCode != 404 {
			t.Errorf("%s with docs off: %d", p, resp.StatusCode)
		}
	}
}
