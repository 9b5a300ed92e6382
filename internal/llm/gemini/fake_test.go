package gemini

import (
	"cmp"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
)

// testKey is the key the adapter-specific tests use; it must never show up
// in an error or a log line.
const testKey = "AIzaSyD-test-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"

const testModel = "gemini-2.5-flash"

// reply is one scripted answer of [fakeAPI].
type reply struct {
	status int               // defaults to 200
	header map[string]string // extra response headers
	file   string            // testdata file sent as the body
	body   string            // sent instead of file when set
	// cut drops the connection after the body instead of ending the
	// response cleanly; block holds the response open after the body until
	// the client goes away.
	cut   bool
	block bool
}

// received is one request as the server saw it.
type received struct {
	Method   string
	Path     string
	RawQuery string
	Header   http.Header
	Body     map[string]any
}

// fakeAPI is a loopback Gemini API replaying testdata files, one reply per
// request (the last one repeats), recording what it receives.
type fakeAPI struct {
	t       *testing.T
	srv     *httptest.Server
	release chan struct{}
	// arrived gets a value when a request is being served.
	arrived chan struct{}
	// done gets a value when a blocked handler sees its request end.
	done chan struct{}

	mu       sync.Mutex
	replies  []reply
	requests []received
}

func newFakeAPI(t *testing.T, replies ...reply) *fakeAPI {
	t.Helper()
	f := &fakeAPI{
		t:       t,
		replies: replies,
		release: make(chan struct{}),
		arrived: make(chan struct{}, 16),
		done:    make(chan struct{}, 16),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	// Cleanups run last-in first-out: blocked handlers are released
	// before Close waits for them.
	t.Cleanup(func() { close(f.release) })
	return f
}

func (f *fakeAPI) Requests() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.requests...)
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read request body: %v", err)
		return
	}
	rec := received{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone()}
	if err := json.Unmarshal(data, &rec.Body); err != nil {
		f.t.Errorf("request body is not JSON: %v", err)
	}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	rp := f.replies[min(len(f.requests), len(f.replies))-1]
	f.mu.Unlock()
	signal(f.arrived)

	body := rp.body
	if rp.file != "" {
		body = string(readTestdata(f.t, rp.file))
	}
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	switch {
	case w.Header().Get("Content-Type") != "":
	case strings.HasSuffix(rp.file, ".sse"):
		w.Header().Set("Content-Type", "text/event-stream")
	case strings.HasSuffix(rp.file, ".html"):
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	default:
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(cmp.Or(rp.status, http.StatusOK))
	rc := http.NewResponseController(w)
	// Frames go out one by one, as the API sends them.
	for frame := range strings.SplitAfterSeq(body, "\r\n\r\n") {
		_, _ = io.WriteString(w, frame)
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if rp.cut {
		panic(http.ErrAbortHandler)
	}
	if rp.block {
		select {
		case <-r.Context().Done():
			signal(f.done)
		case <-f.release:
		}
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read testdata: %v", err)
	}
	return data
}

// newTestModel returns a Model talking to f, with retries that never wait.
// edit, if given, adjusts the config first.
func newTestModel(t *testing.T, f *fakeAPI, edit func(*Config)) (*Model, *llmtest.SleepRecorder) {
	t.Helper()
	sleeps := &llmtest.SleepRecorder{}
	cfg := Config{
		Model:      testModel,
		BaseURL:    f.srv.URL,
		APIKey:     testKey,
		HTTPClient: f.srv.Client(),
		Retry: llm.RetryPolicy{
			BaseDelay: time.Millisecond,
			MaxDelay:  time.Minute,
			SleepFunc: sleeps.Sleep,
			RandFunc:  func(upTo time.Duration) time.Duration { return upTo },
		},
	}
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m, sleeps
}

// decodeJSON decodes a JSON literal for comparison with a recorded body.
func decodeJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode want JSON: %v", err)
	}
	return v
}

// signal notes an event on c without ever blocking the handler.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// userText is a one-message request.
func userText(s string) *llm.Request {
	return &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: s}}}
}
