package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// TestCrossProcessResume follows a session's event stream on process B
// while process A runs the agent in that session, disconnects in the
// middle of the run, and resumes on A with Last-Event-ID: the frames of
// both connections are the session's events 1..n, each once, ending with
// the run's serve_request_end. The agent's tool is an HTTP endpoint of the
// test that holds the run until the test lets it go, so the disconnect
// and the resume both happen while the run is in flight. PostgreSQL
// (LISTEN/NOTIFY wake-ups) and SQLite (polled) event stores.
func TestCrossProcessResume(t *testing.T) {
	t.Parallel()
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		testResume(t, postgresDB(t))
	})
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		testResume(t, sqliteURL(t))
	})
}

// sessionEvent is the part of an event frame's data the test checks.
type sessionEvent struct {
	EventType      string `json:"event_type"`
	SequenceNumber int64  `json:"sequence_number"`
	SessionID      string `json:"session_id"`
	RunID          string `json:"run_id"`
}

func testResume(t *testing.T, dbURL string) {
	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	dir := t.TempDir()

	// The gate tool: answers once the test releases it.
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
			_, _ = w.Write([]byte("gate opened"))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(gate.Close)
	open := sync.OnceFunc(func() { close(release) })
	t.Cleanup(open) // before gate.Close, which waits for the handler

	agent := writeAgent(t, dir, "resume", map[string]any{"http": map[string]any{
		"name": "gate", "description": "Waits at the gate.", "url": gate.URL, "method": "POST",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{}}, "timeout": 40,
	}})
	env := merge(storeEnv(dbURL), map[string]string{"OMNICOREAGENT_WORKSPACE_DIR": dir + "/workspace"})
	a := startServer(ctx, t, "A", agent, env)
	b := startServer(ctx, t, "B", agent, env)
	session := "e2e-resume-" + randomHex(t, 6)
	path := "/events/" + session

	// Follow on B before the run starts.
	streamB, err := b.openStream(ctx, path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer streamB.close()
	expectStreaming(t, "B", streamB)

	// Run on A.
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1)
	go func() {
		status, raw, err := a.call(ctx, http.MethodPost, "/run/sync", map[string]any{
			"query": toolQuery("Wait at the gate.", "gate", map[string]any{}), "session_id": session,
		}, nil)
		done <- result{status, raw, err}
	}()

	// Read on B up to the tool call, while the tool holds the run.
	var frames []sseFrame
	for {
		f := nextEvent(t, "B", streamB)
		frames = append(frames, f)
		if f.Event == "tool_call" {
			break
		}
	}
	select {
	case <-entered:
	case <-ctx.Done():
		t.Fatal("the gate tool was never called")
	}
	streamB.close()
	last := frames[len(frames)-1].ID
	fromB := len(frames)

	// Resume on A, then let the run finish.
	streamA, err := a.openStream(ctx, path, last)
	if err != nil {
		t.Fatal(err)
	}
	defer streamA.close()
	expectStreaming(t, "A", streamA)
	open()
	for {
		f := nextEvent(t, "A", streamA)
		frames = append(frames, f)
		if f.Event == "serve_request_end" {
			break
		}
	}
	streamA.close()

	var res result
	select {
	case res = <-done:
	case <-ctx.Done():
		t.Fatal("/run/sync on A never answered")
	}
	if res.err != nil || res.status != http.StatusOK {
		t.Fatalf("/run/sync on A: %d %s (err %v), want 200", res.status, res.body, res.err)
	}
	var answer struct {
		RunID    string `json:"run_id"`
		Response string `json:"response"`
	}
	if err := json.Unmarshal(res.body, &answer); err != nil {
		t.Fatal(err)
	}

	// The union of both connections: 1..n, each once, all of this run.
	types := make([]string, 0, len(frames))
	seqs := make([]int64, 0, len(frames))
	for _, f := range frames {
		var ev sessionEvent
		if err := json.Unmarshal([]byte(f.Data), &ev); err != nil {
			t.Fatalf("frame %q: %v", f.Data, err)
		}
		if id, err := strconv.ParseInt(f.ID, 10, 64); err != nil || id != ev.SequenceNumber {
			t.Errorf("frame id %q, but sequence_number %d", f.ID, ev.SequenceNumber)
		}
		if ev.EventType != f.Event || ev.SessionID != session || ev.RunID != answer.RunID {
			t.Errorf("frame %s: event_type %q session %q run %q, want %s, %s, %s", f.Event, ev.EventType, ev.SessionID, ev.RunID, f.Event, session, answer.RunID)
		}
		types = append(types, fmt.Sprintf("%d:%s", ev.SequenceNumber, ev.EventType))
		seqs = append(seqs, ev.SequenceNumber)
	}
	t.Logf("%d frames from B, %d from A after Last-Event-ID %s: %v", fromB, len(frames)-fromB, last, types)
	checkContiguous(t, "frames of both connections", seqs)
	if fromB == len(frames) {
		t.Errorf("no frames after the resume on A")
	}
	if n := len(frames); n < 2 || frames[n-2].Event != "final_answer" {
		t.Errorf("frames: got %v, want final_answer then serve_request_end at the end", types)
	}

	// Nothing of the session came after the frames the client has.
	var list struct {
		Count int `json:"count"`
	}
	b.must(ctx, t, http.MethodGet, path+"/list", nil, http.StatusOK, &list)
	if list.Count != len(frames) {
		t.Errorf("the session has %d events, the client received %d", list.Count, len(frames))
	}
}

// expectStreaming reads the stream's opening frame.
func expectStreaming(t *testing.T, name string, st *sseStream) {
	t.Helper()
	f, err := st.next()
	if err != nil {
		t.Fatalf("%s: first frame: %v", name, err)
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(f.Data), &body); err != nil || f.Event != "session" || body.Status != "streaming" {
		t.Fatalf("%s: first frame: got %s %s, want session {status: streaming}", name, f.Event, f.Data)
	}
}

// nextEvent returns the stream's next event frame (one with an id); any
// other frame fails the test.
func nextEvent(t *testing.T, name string, st *sseStream) sseFrame {
	t.Helper()
	f, err := st.next()
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: stream: no frame in time", name)
		}
		t.Fatalf("%s: stream: %v", name, err)
	}
	if f.ID == "" {
		t.Fatalf("%s: got frame %s %s, want an event frame", name, f.Event, f.Data)
	}
	return f
}
