package anthropic

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

const (
	testKey   = "sk-ant-api03-test-7c1f0e9a2b4d6f8e0a1c3e5b7d9f1a3c"
	testModel = "claude-sonnet-4-5"
)

// reply is one scripted answer of [fakeAPI].
type reply struct {
	status int               // defaults to 200
	header map[string]string // extra response headers
	file   string            // testdata file sent as the body
	body   string            // sent instead of file when set
	// hold keeps the response open after the body until the client goes
	// away (or the test ends); stall does so before sending anything.
	hold, stall bool
}

// received is one request as the server saw it.
type received struct {
	Method string
	Path   string
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// fakeAPI is a loopback Messages API replaying testdata files, one reply per
// request (the last one repeats), recording what it receives.
type fakeAPI struct {
	t       *testing.T
	srv     *httptest.Server
	release chan struct{}
	// arrived gets a value when a request has been recorded.
	arrived chan struct{}
	// gone gets a value when a held response sees its client go away.
	gone chan struct{}

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
		gone:    make(chan struct{}, 16),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	// Cleanups run last-in first-out: held handlers are released before
	// Close waits for them.
	t.Cleanup(func() { close(f.release) })
	return f
}

func (f *fakeAPI) URL() string { return f.srv.URL }

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
	rec := received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Raw: data}
	if err := json.Unmarshal(data, &rec.Body); err != nil {
		f.t.Errorf("request body is not JSON: %v", err)
	}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	rp := f.replies[min(len(f.requests), len(f.replies))-1]
	f.mu.Unlock()
	signal(f.arrived)

	if rp.stall {
		f.wait(r)
		return
	}
	body := []byte(rp.body)
	if rp.body == "" {
		body = readTestdata(f.t, rp.file)
	}
	switch {
	case strings.HasSuffix(rp.file, ".sse") || strings.HasPrefix(rp.body, "event:"):
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	case strings.HasSuffix(rp.file, ".json") || strings.HasPrefix(rp.body, "{"):
		w.Header().Set("Content-Type", "application/json")
	default:
		w.Header().Set("Content-Type", "text/html")
	}
	w.Header().Set("Request-Id", "req_011CSHoTest0000000000000")
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(cmp.Or(rp.status, http.StatusOK))
	rc := http.NewResponseController(w)
	// Events go out one at a time, as the API sends them.
	for _, part := range strings.SplitAfter(string(body), "\n\n") {
		if part == "" {
			continue
		}
		if _, err := io.WriteString(w, part); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if rp.hold {
		f.wait(r)
	}
}

// wait holds a response open until its client goes away or the test ends.
func (f *fakeAPI) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
		signal(f.gone)
	case <-f.release:
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
		BaseURL:    f.URL(),
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
