package openai

import (
	"cmp"
	"encoding/json"
	"io"
	"maps"
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

const testKey = "sk-test-2f9c1e7a4b8d6f0e3a5c7b9d1f2e4a6c8wxyz"

// reply is one scripted answer of [fakeAPI].
type reply struct {
	status int               // defaults to 200
	header map[string]string // extra response headers
	file   string            // testdata file sent as the body
	// For text/event-stream bodies: cutAfter > 0 closes the connection
	// after that many events; dropDone omits "data: [DONE]"; block holds
	// the response open after the events until the client goes away.
	cutAfter int
	dropDone bool
	block    bool
}

// received is one request as the server saw it.
type received struct {
	Method string
	Path   string
	Header http.Header
	Body   map[string]any
}

// fakeAPI is a loopback Chat Completions server replaying testdata files,
// one reply per request (the last one repeats), recording what it
// receives.
type fakeAPI struct {
	t       *testing.T
	srv     *httptest.Server
	release chan struct{}
	// arrived gets a value when a request is being served.
	arrived chan struct{}
	// done gets a value when a handler sees the client go away.
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

func (f *fakeAPI) URL() string { return f.srv.URL + "/v1" }

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
	rec := received{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone()}
	if err := json.Unmarshal(data, &rec.Body); err != nil {
		f.t.Errorf("request body is not JSON: %v", err)
	}
	f.mu.Lock()
	f.requests = append(f.requests, rec)
	rp := f.replies[min(len(f.requests), len(f.replies))-1]
	f.mu.Unlock()
	signal(f.arrived)

	body := readTestdata(f.t, rp.file)
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	if !strings.HasSuffix(rp.file, ".sse") {
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(cmp.Or(rp.status, http.StatusOK))
		_, _ = w.Write(body)
		if rp.block {
			f.wait(r)
		}
		return
	}

	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.WriteHeader(cmp.Or(rp.status, http.StatusOK))
	rc := http.NewResponseController(w)
	events := strings.SplitAfter(string(body), "\n\n")
	for i, ev := range events {
		if ev == "" || (rp.dropDone && strings.HasPrefix(ev, "data: [DONE]")) {
			continue
		}
		if rp.cutAfter > 0 && i == rp.cutAfter {
			conn, _, err := rc.Hijack()
			if err != nil {
				f.t.Errorf("hijack: %v", err)
				return
			}
			_ = conn.Close()
			return
		}
		_, _ = io.WriteString(w, ev)
		if err := rc.Flush(); err != nil {
			signal(f.done) // the client went away mid-stream
			return
		}
	}
	if rp.block {
		f.wait(r)
	}
}

func (f *fakeAPI) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
		signal(f.done)
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
		Model:      "gpt-4o-mini",
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

// withoutKeys returns a copy of m without the given keys.
func withoutKeys(m map[string]any, keys ...string) map[string]any {
	out := maps.Clone(m)
	for _, k := range keys {
		delete(out, k)
	}
	return out
}

// signal notes an event on c without ever blocking the handler.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
