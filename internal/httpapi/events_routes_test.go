package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/telemetry/telemetrytest"
)

// openGet starts a GET stream on srv and returns a reader of its frames.
func openGet(t *testing.T, ctx context.Context, srv *httptest.Server, path string, hdr ...string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

// runSync makes one POST /run/sync in session and returns its response.
func (b *testBundle) runSync(t *testing.T, session, query string) RunResponse {
	t.Helper()
	body, _ := json.Marshal(RunRequest{Query: query, SessionID: session})
	resp, out := b.do(t, http.MethodPost, "/run/sync", string(body))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("run/sync: %d %s", resp.StatusCode, out)
	}
	return decode[RunResponse](t, out)
}

// nextEvent skips keep-alive comments and returns the next frame.
func nextEvent(t *testing.T, r *bufio.Reader) sseFrame {
	t.Helper()
	for {
		if f := nextFrame(t, r); f.Event != ":" {
			return f
		}
	}
}

func TestResumeCursor(t *testing.T) {
	tests := []struct {
		query, header string
		want          int64
		wantLoc       string
	}{
		{"", "", 0, ""},
		{"7", "", 7, ""},
		{"", "9", 9, ""},
		{"7", "9", 7, ""}, // the query wins
		{"0", "9", 0, ""},
		{"x", "", 0, "query.cursor"},
		{"-1", "", 0, "query.cursor"},
		{"1.5", "", 0, "query.cursor"},
		{"", "abc", 0, "header.Last-Event-ID"},
		{"", "-3", 0, "header.Last-Event-ID"},
	}
	for _, tt := range tests {
		got, eb := resumeCursor(tt.query, tt.header)
		if tt.wantLoc != "" {
			if eb == nil {
				t.Errorf("(%q, %q): no error", tt.query, tt.header)
				continue
			}
			fields := eb.Detail.([]FieldError)
			if loc := strings.Join(fields[0].Loc, "."); loc != tt.wantLoc || eb.status != http.StatusUnprocessableEntity {
				t.Errorf("(%q, %q): error at %s (%d), want %s", tt.query, tt.header, loc, eb.status, tt.wantLoc)
			}
			continue
		}
		if eb != nil || got != tt.want {
			t.Errorf("(%q, %q) = %d, %v; want %d", tt.query, tt.header, got, eb, tt.want)
		}
	}
}

// FuzzResumeCursor feeds untrusted cursors and Last-Event-ID headers to
// the parser: it must accept only non-negative integers and never panic.
func FuzzResumeCursor(f *testing.F) {
	f.Add("", "")
	f.Add("12", "")
	f.Add("", "7")
	f.Add("-1", "x")
	f.Add("99999999999999999999", "")
	f.Fuzz(func(t *testing.T, query, header string) {
		n, eb := resumeCursor(query, header)
		if eb != nil {
			if eb.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", eb.status)
			}
			return
		}
		if n < 0 {
			t.Fatalf("resumeCursor(%q, %q) = %d", query, header, n)
		}
	})
}

func TestEventsList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r1 := b.runSync(t, "s", "one")
	r2 := b.runSync(t, "s", "two")
	b.runSync(t, "other", "three")
	list := func(path string) EventsListBody {
		t.Helper()
		resp, body := b.do(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		return decode[EventsListBody](t, body)
	}
	all := list("/events/s/list")
	if all.SessionID != "s" || all.Count != len(all.Events) || all.Count != 12 {
		t.Errorf("all: session %q count %d events %d, want 12", all.SessionID, all.Count, len(all.Events))
	}
	for i, e := range all.Events {
		if e.SequenceNumber != int64(i+1) || e.SessionID != "s" {
			t.Errorf("event %d: sequence %d session %s", i, e.SequenceNumber, e.SessionID)
		}
	}
	for _, run := range []string{r1.RunID, r2.RunID} {
		got := list("/events/s/list?run_id=" + run)
		if got.Count != 6 {
			t.Errorf("run %s: %d events, want 6", run, got.Count)
		}
		for _, e := range got.Events {
			if e.RunID != run {
				t.Errorf("run filter let through %s of %s", e.EventType, e.RunID)
			}
		}
	}
	if got := list("/events/s/list?run_id=run_none"); got.Count != 0 || got.Events == nil {
		t.Errorf("unknown run: %+v", got)
	}
	_, body := b.do(t, http.MethodGet, "/events/empty/list", "")
	if string(body) != `{"session_id":"empty","events":[],"count":0}`+"\n" {
		t.Errorf("empty session body = %s", body)
	}
}

func TestSessionPathValidation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, path := range []string{
		"/events/a%20b/list", "/events/a%20b/trace", "/events/a%20b", "/sessions/a%2Fb/history",
		"/telemetry/sessions/a%20b/trace", "/events/" + strings.Repeat("a", 257) + "/list",
	} {
		resp, body := b.do(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"loc":["path","session_id"]`) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, body := b.do(t, http.MethodDelete, "/sessions/a%20b", ""); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("DELETE: %d %s", resp.StatusCode, body)
	}
}

func TestEventsTrace(t *testing.T) {
	t.Parallel()
	b := setup(t)
	first := b.runSync(t, "s", "first")
	run := b.runSync(t, "s", "hello")
	b.runSync(t, "elsewhere", "x")
	check := func(path string, want RunResponse) {
		t.Helper()
		resp, body := b.do(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		got := decode[EventsTraceBody](t, body)
		s := got.Summary
		if got.SessionID != "s" || s.TraceID == nil || *s.TraceID != *want.TraceID || *s.RunID != want.RunID || *s.Status != "completed" ||
			s.EventCount != len(got.Steps) || s.EventCount != 4 || s.SpanCount != 2 {
			t.Errorf("%s: %s", path, body)
		}
		for _, e := range got.Steps {
			if e.TraceID != *want.TraceID {
				t.Errorf("%s: step %s of trace %s", path, e.EventType, e.TraceID)
			}
		}
	}
	check("/events/s/trace", run)
	check("/events/s/trace?run_id="+run.RunID, run)
	check("/events/s/trace?run_id="+first.RunID, first)

	// A trace of another session, or none: the empty shape, still 200.
	empty := `{"session_id":"%s","summary":{"trace_id":null,"run_id":null,"status":null,"event_count":0,"span_count":0},"steps":[]}` + "\n"
	for path, session := range map[string]string{
		"/events/other/trace?run_id=" + run.RunID: "other",
		"/events/none/trace":                      "none",
		"/events/s/trace?run_id=run_none":         "s",
	} {
		resp, body := b.do(t, http.MethodGet, path, "")
		if resp.StatusCode != http.StatusOK || string(body) != fmt.Sprintf(empty, session) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, body)
		}
	}
}

func TestSessionHistoryAndClear(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.runSync(t, "s", "hello")
	resp, body := b.do(t, http.MethodGet, "/sessions/s/history", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("history: %d %s", resp.StatusCode, body)
	}
	got := decode[map[string]any](t, body)
	want := map[string]any{
		"session_id": "s", "count": float64(2),
		"messages": []any{
			map[string]any{"role": "user", "content": "hello"},
			map[string]any{"role": "assistant", "content": "hello"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}

	resp, body = b.do(t, http.MethodDelete, "/sessions/s", "")
	if resp.StatusCode != http.StatusOK || string(body) != `{"status":"cleared","session_id":"s"}`+"\n" {
		t.Errorf("clear: %d %s", resp.StatusCode, body)
	}
	for _, s := range []string{"s", "never"} {
		_, body = b.do(t, http.MethodGet, "/sessions/"+s+"/history", "")
		if string(body) != `{"session_id":"`+s+`","messages":[],"count":0}`+"\n" {
			t.Errorf("history of %s after clear: %s", s, body)
		}
	}
	// The event log is append-only: clearing keeps the events.
	if _, body := b.do(t, http.MethodGet, "/events/s/list", ""); decode[EventsListBody](t, body).Count == 0 {
		t.Error("clearing the session dropped its events")
	}
}

func TestEventsStreamReplaysThenFollows(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r1 := b.runSync(t, "s", "one")
	b.runSync(t, "s", "two")
	resp, r := openGet(t, t.Context(), b.srv, "/events/s?run_id="+r1.RunID)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if f := nextEvent(t, r); f.Event != "session" || f.Data != `{"session_id":"s","run_id":"`+r1.RunID+`","status":"streaming"}` {
		t.Fatalf("first frame = %+v", f)
	}
	// The stored events of run 1 (sequence 1 to 6), each with its id.
	wantTypes := []string{"serve_request_start", "user_message", "model_call", "model_response", "final_answer", "serve_request_end"}
	for i, typ := range wantTypes {
		f := nextEvent(t, r)
		if f.Event != typ || f.ID != strconv.Itoa(i+1) || !strings.Contains(f.Data, `"type":"`+typ+`"`) {
			t.Fatalf("frame %d = %+v, want %s with id %d", i, f, typ, i+1)
		}
	}
	// Then live events: another run's are skipped.
	_ = b.store.EventAppend(t.Context(), &telemetry.Event{EventType: "user_message", SessionID: "s", RunID: "run_other"})
	_ = b.store.EventAppend(t.Context(), &telemetry.Event{EventType: "tool_call", SessionID: "s", RunID: r1.RunID})
	if f := nextEvent(t, r); f.Event != "tool_call" || f.ID != "14" {
		t.Errorf("live frame = %+v, want tool_call with id 14", f)
	}
}

func TestEventsStreamWithoutRunFollowsTheSession(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, r := openGet(t, t.Context(), b.srv, "/events/live")
	if f := nextEvent(t, r); f.Data != `{"session_id":"live","run_id":null,"status":"streaming"}` {
		t.Fatalf("first frame = %+v", f)
	}
	run := b.runSync(t, "live", "hi")
	for i := 1; ; i++ {
		f := nextEvent(t, r)
		if f.ID != strconv.Itoa(i) || !strings.Contains(f.Data, run.RunID) {
			t.Fatalf("frame %d = %+v", i, f)
		}
		if f.Event == "serve_request_end" {
			break
		}
	}
}

func TestEventsStreamResume(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.runSync(t, "s", "one")
	b.runSync(t, "s", "two")
	tests := []struct {
		name   string
		query  string
		hdr    []string
		wantID string
	}{
		{"from the start", "", nil, "1"},
		{"Last-Event-ID", "", []string{"Last-Event-ID", "3"}, "4"},
		{"cursor", "?cursor=5", nil, "6"},
		{"cursor wins over the header", "?cursor=5", []string{"Last-Event-ID", "2"}, "6"},
		{"with a run filter", "?run_id=RUN2&cursor=8", nil, "9"},
		{"run filter skips earlier runs", "?run_id=RUN2&cursor=2", nil, "7"},
	}
	_, list := b.do(t, http.MethodGet, "/events/s/list", "")
	run2 := decode[EventsListBody](t, list).Events[6].RunID // sequence 7 opens the second run
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			_, r := openGet(t, ctx, b.srv, "/events/s"+strings.ReplaceAll(tt.query, "RUN2", run2), tt.hdr...)
			if f := nextEvent(t, r); f.Event != "session" {
				t.Fatalf("first frame = %+v", f)
			}
			if f := nextEvent(t, r); f.ID != tt.wantID {
				t.Errorf("first event frame = %+v, want id %s", f, tt.wantID)
			}
		})
	}
}

func TestEventsStreamBadCursor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		path    string
		hdr     []string
		wantLoc string
	}{
		{"/events/s?cursor=abc", nil, `["query","cursor"]`},
		{"/events/s?cursor=-1", nil, `["query","cursor"]`},
		{"/events/s", []string{"Last-Event-ID", "x"}, `["header","Last-Event-ID"]`},
		{"/telemetry/events/stream?session_id=s&cursor=1e3", nil, `["query","cursor"]`},
		{"/telemetry/events/stream?session_id=s", []string{"Last-Event-ID", "-2"}, `["header","Last-Event-ID"]`},
	}
	for _, tt := range tests {
		resp, body := b.do(t, http.MethodGet, tt.path, "", tt.hdr...)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(resp.Header.Get("Content-Type"), "json") ||
			!strings.Contains(string(body), `"loc":`+tt.wantLoc) {
			t.Errorf("%s %v: %d %s", tt.path, tt.hdr, resp.StatusCode, body)
		}
	}
}

// TestEventsStreamResumesOnAnotherServer checks that a client can resume
// on any process sharing the event store: a run served by one API is
// followed, from a cursor, on another.
func TestEventsStreamResumesOnAnotherServer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	other, err := New(Config{Runner: b.runner, Events: b.store, KeepAlive: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(other.Handler())
	t.Cleanup(func() {
		srv.Close()
		other.Close()
	})
	run := b.runSync(t, "shared", "one")
	_, r := openGet(t, t.Context(), srv, "/events/shared?run_id="+run.RunID, "Last-Event-ID", "4")
	nextEvent(t, r)
	for _, want := range []string{"5", "6"} {
		if f := nextEvent(t, r); f.ID != want {
			t.Fatalf("frame %+v, want id %s", f, want)
		}
	}
	// Live events recorded through the first server reach the second.
	_ = b.store.EventAppend(t.Context(), &telemetry.Event{EventType: "tool_call", SessionID: "shared", RunID: run.RunID})
	if f := nextEvent(t, r); f.ID != "7" || f.Event != "tool_call" {
		t.Errorf("live frame %+v", f)
	}
}

func TestEventsStreamKeepAlive(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.KeepAlive = time.Millisecond })
	_, r := openGet(t, t.Context(), b.srv, "/telemetry/events/stream?session_id=idle")
	nextFrame(t, r)
	if f := nextFrame(t, r); f.Event != ":" || f.Data != "keep-alive" {
		t.Errorf("frame = %+v, want a keep-alive comment", f)
	}
}

// TestFollowStreamEndsOnShutdown checks both shutdown steps end a follow
// stream with the closing session frame: draining at the next idle
// keep-alive, aborting at once.
func TestFollowStreamEndsOnShutdown(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		keepAlive time.Duration
		shut      func(*API)
	}{
		{"drain", time.Millisecond, (*API).BeginDrain},
		{"abort", time.Hour, (*API).Abort},
	}
	for _, tt := range tests {
		for _, path := range []string{"/events/s?run_id=run_x", "/telemetry/events/stream?session_id=s&run_id=run_x"} {
			t.Run(tt.name+" "+path, func(t *testing.T) {
				t.Parallel()
				b := setup(t, func(c *Config) { c.KeepAlive = tt.keepAlive })
				_, r := openGet(t, t.Context(), b.srv, path)
				nextEvent(t, r)
				tt.shut(b.api)
				if f := nextEvent(t, r); f.Event != "session" || f.Data != `{"session_id":"s","run_id":"run_x","status":"ended"}` {
					t.Errorf("frame = %+v, want the session ended frame", f)
				}
				if _, err := r.ReadString('\n'); err == nil {
					t.Error("stream still open after the ended frame")
				}
			})
		}
	}
}

// TestFollowStreamCutsLaggingClient makes the client fall behind
// deterministically: the first time the stream lists the log, 300 events
// land at once, more than one batch (256) and the allowed lag (10) past
// it. The client gets that batch, then the lag error naming where to
// resume, then the end; resuming from there loses nothing.
func TestFollowStreamCutsLaggingClient(t *testing.T) {
	t.Parallel()
	var once sync.Once
	b := setup(t, func(c *Config) {
		real := c.Events
		c.MaxStreamLag = 10
		c.Events = &telemetrytest.PartialStore{Store: real, EventListFunc: func(ctx context.Context, p telemetry.ListParams) ([]telemetry.Event, error) {
			if p.SessionID == "busy" {
				once.Do(func() {
					for range 300 {
						_ = real.EventAppend(ctx, &telemetry.Event{EventType: "model_delta", SessionID: "busy"})
					}
				})
			}
			return real.EventList(ctx, p)
		}}
	})
	_, r := openGet(t, t.Context(), b.srv, "/events/busy")
	nextEvent(t, r)
	for i := 1; i <= 256; i++ {
		if f := nextEvent(t, r); f.ID != strconv.Itoa(i) {
			t.Fatalf("frame %+v, want id %d", f, i)
		}
	}
	f := nextEvent(t, r)
	if f.Event != "error" || f.Data != `{"error":"stream lagging: resume with Last-Event-ID","last_event_id":256,"session_id":"busy"}` {
		t.Fatalf("frame = %+v, want the lag error", f)
	}
	if f := nextEvent(t, r); f.Event != "session" || !strings.Contains(f.Data, `"ended"`) {
		t.Errorf("frame = %+v, want the session ended frame", f)
	}

	_, r = openGet(t, t.Context(), b.srv, "/events/busy", "Last-Event-ID", "256")
	nextEvent(t, r)
	if f := nextEvent(t, r); f.ID != "257" {
		t.Errorf("resumed at %+v, want id 257", f)
	}
}

func TestRunStreamResumeCursor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	tests := []struct {
		name, path string
		hdr        []string
		wantFirst  string
	}{
		{"no cursor", "/run", nil, "1"},
		{"cursor skips frames the client has", "/run?cursor=2", nil, "3"},
		{"Last-Event-ID", "/run", []string{"Last-Event-ID", "4"}, "5"},
	}
	for i, tt := range tests {
		session := fmt.Sprint("fresh", i)
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, b.srv.URL+tt.path, strings.NewReader(`{"query":"hi","session_id":"`+session+`"}`))
		req.Header.Set("Content-Type", "application/json")
		for j := 0; j+1 < len(tt.hdr); j += 2 {
			req.Header.Set(tt.hdr[j], tt.hdr[j+1])
		}
		resp, err := b.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		frames := readFrames(t, resp.Body)
		resp.Body.Close()
		if len(frames) < 3 || frames[1].ID != tt.wantFirst || frames[len(frames)-2].Event != "complete" {
			t.Errorf("%s: frames %+v, want the first event id %s", tt.name, frames, tt.wantFirst)
		}
	}

	resp, body := b.do(t, http.MethodPost, "/run", `{"query":"hi"}`, "Last-Event-ID", "nope")
	if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `"loc":["header","Last-Event-ID"]`) {
		t.Errorf("bad Last-Event-ID: %d %s", resp.StatusCode, body)
	}
}

// TestEventsListPages: a long session is listed in bounded pages that
// cover every event exactly once.
func TestEventsListPages(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for range 25 {
		_ = b.store.EventAppend(t.Context(), &telemetry.Event{EventType: "user_message", SessionID: "long", RunID: "run_1"})
	}
	var seen []int64
	cursor := int64(0)
	for page := 0; ; page++ {
		if page > 10 {
			t.Fatal("paging never ended")
		}
		_, body := b.do(t, http.MethodGet, "/events/long/list?limit=10&cursor="+strconv.FormatInt(cursor, 10), "")
		got := decode[EventsListBody](t, body)
		for _, e := range got.Events {
			seen = append(seen, e.SequenceNumber)
		}
		if got.NextCursor == nil {
			break
		}
		cursor = *got.NextCursor
	}
	if len(seen) != 25 || seen[0] != 1 || seen[24] != 25 {
		t.Errorf("pages covered %v", seen)
	}
	if resp, _ := b.do(t, http.MethodGet, "/events/long/list?limit=10001", ""); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("limit over the cap: %d, want 422", resp.StatusCode)
	}
}
