package httpapi

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// openStream starts POST /run and returns a reader of its frames.
func (b *testBundle) openStream(t *testing.T, ctx context.Context, body string) (*http.Response, *bufio.Reader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.srv.URL+"/run", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

// nextFrame reads one frame, or a comment line reported as event ":".
func nextFrame(t *testing.T, r *bufio.Reader) sseFrame {
	t.Helper()
	var f sseFrame
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read frame: %v (partial %+v)", err, f)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if f != (sseFrame{}) {
				return f
			}
		case strings.HasPrefix(line, ": "):
			f.Event = ":"
			f.Data = line[2:]
		case strings.HasPrefix(line, "event: "):
			f.Event = line[len("event: "):]
		case strings.HasPrefix(line, "id: "):
			f.ID = line[len("id: "):]
		case strings.HasPrefix(line, "data: "):
			f.Data = line[len("data: "):]
		}
	}
}

func TestRunStreamClientDisconnectCancelsRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	started := make(chan struct{})
	ended := make(chan error, 1)
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		close(started)
		<-ctx.Done()
		ended <- ctx.Err()
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithCancel(t.Context())
	_, r := b.openStream(t, ctx, `{"query":"x","session_id":"dc"}`)
	if f := nextFrame(t, r); f.Event != "session" {
		t.Fatalf("first frame = %+v", f)
	}
	<-started
	cancel()
	if err := <-ended; err == nil {
		t.Fatal("run context not cancelled")
	}
}

func TestRunStreamKeepAlive(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.KeepAlive = time.Millisecond })
	release := make(chan struct{})
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		<-release
		return b.runner.Runner.Run(ctx, p)
	}
	_, r := b.openStream(t, t.Context(), `{"query":"hi","session_id":"ka"}`)
	for {
		f := nextFrame(t, r)
		if f.Event == ":" {
			if f.Data != "keep-alive" {
				t.Errorf("comment = %q", f.Data)
			}
			break
		}
	}
	close(release)
	var last sseFrame
	for last.Event != "session" || !strings.Contains(last.Data, "ended") {
		last = nextFrame(t, r)
	}
}

func TestRunStreamErrorFrame(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) { c.RequestTimeout = 10 * time.Millisecond })
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	_, r := b.openStream(t, t.Context(), `{"query":"x","session_id":"to"}`)
	var events []string
	var errData string
	for {
		f := nextFrame(t, r)
		events = append(events, f.Event)
		if f.Event == "error" {
			errData = f.Data
		}
		if f.Event == "session" && strings.Contains(f.Data, "ended") {
			break
		}
	}
	if !strings.Contains(errData, `"error":"Request timed out"`) || !strings.Contains(errData, `"run_id":"run_`) {
		t.Errorf("error frame = %s", errData)
	}
	if got := strings.Join(events, ","); got != "session,serve_request_start,serve_request_error,error,session" {
		t.Errorf("frames = %s", got)
	}
}

// TestRunStreamAbortEndsWithFrame checks that a shutdown past the grace
// period ends an open stream with an error frame, not a cut connection.
func TestRunStreamAbortEndsWithFrame(t *testing.T) {
	t.Parallel()
	b := setup(t)
	started := make(chan struct{})
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	_, r := b.openStream(t, t.Context(), `{"query":"x","session_id":"ab"}`)
	<-started
	b.api.Abort()
	var sawError bool
	for {
		f := nextFrame(t, r)
		if f.Event == "error" {
			sawError = strings.Contains(f.Data, "shutting down")
		}
		if f.Event == "session" && strings.Contains(f.Data, "ended") {
			break
		}
	}
	if !sawError {
		t.Error("no shutdown error frame before the end")
	}
}

// TestRunStreamOnlyThisRun checks a concurrent run in the same session does
// not leak into another run's stream.
func TestRunStreamOnlyThisRun(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Another run's event in the same session, appended mid-stream.
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		_ = b.store.EventAppend(ctx, &telemetry.Event{EventType: "user_message", SessionID: p.SessionID, RunID: "run_other"})
		return b.runner.Runner.Run(ctx, p)
	}
	_, r := b.openStream(t, t.Context(), `{"query":"hi","session_id":"shared"}`)
	for {
		f := nextFrame(t, r)
		if strings.Contains(f.Data, "run_other") {
			t.Fatalf("frame of another run: %+v", f)
		}
		if f.Event == "session" && strings.Contains(f.Data, "ended") {
			break
		}
	}
}
