package llmtest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/omniserve/omniserve/internal/llm"
)

// Scenario names one case of the provider suite. Every adapter replays a
// recorded wire payload for each, and the suite asserts the same
// provider-neutral outcome for all of them.
type Scenario string

// The scenarios and the canonical content their recorded payloads carry.
const (
	// ScenarioPlain: a blocking call answered with PlainText.
	ScenarioPlain Scenario = "plain"
	// ScenarioStream: a streaming call answered with PlainText in two or
	// more text deltas, with usage.
	ScenarioStream Scenario = "stream"
	// ScenarioToolRoundTrip: two blocking calls. The first is answered with
	// one call of the tool ToolName with arguments ToolArgs; the second,
	// which carries that call and its result ToolResult, with ToolAnswer.
	ScenarioToolRoundTrip Scenario = "tool_round_trip"
	// ScenarioStreamToolCall: a streaming call answered with one call of
	// ToolName whose arguments (ToolArgs) arrive in several fragments.
	ScenarioStreamToolCall Scenario = "stream_tool_call"
	// ScenarioUnauthorized: a 401 with the provider's error body.
	ScenarioUnauthorized Scenario = "unauthorized"
	// ScenarioRateLimited: a 429 (Retry-After: 0) and then PlainText.
	ScenarioRateLimited Scenario = "rate_limited"
	// ScenarioStreamCut: a stream that breaks off after some text, before
	// the provider's end-of-message marker, with the connection dropped.
	ScenarioStreamCut Scenario = "stream_cut"
)

// Canonical content of the recorded payloads.
const (
	PlainPrompt = "Say hello."
	PlainText   = "Hello! How can I help you today?"
	ToolPrompt  = "What is the weather in Paris?"
	ToolName    = "get_weather"
	ToolArgs    = `{"city":"Paris"}`
	ToolResult  = "18 degrees and sunny"
	ToolAnswer  = "It is 18 degrees and sunny in Paris."
	// APIKey is the key the suite's models must be built with; requests
	// must carry it and no error may contain it.
	APIKey = "sk-test-SECRET-0123456789"
)

// Reply is one recorded HTTP response.
type Reply struct {
	Status int
	Header http.Header
	Body   string
	// Cut drops the connection after writing Body, as a network failure
	// would, instead of ending the response cleanly.
	Cut bool
}

// Recorded is one request the suite's server received.
type Recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// ProviderSuite describes one adapter to [RunProviderSuite].
type ProviderSuite struct {
	// Provider is the adapter's provider name, expected in errors.
	Provider string
	// New builds the adapter for baseURL with key [APIKey] and a retry
	// policy whose delays are tiny.
	New func(t *testing.T, baseURL string) llm.Model
	// Replies are the recorded responses served, in order, per scenario.
	Replies map[Scenario][]Reply
	// CheckRequest, if set, asserts provider-specific details (paths,
	// headers, body shape) of each request; call counts from 0.
	CheckRequest func(t *testing.T, s Scenario, call int, r Recorded)
}

// WeatherTool is the tool spec the tool scenarios send.
var WeatherTool = llm.ToolSpec{
	Name:        ToolName,
	Description: "Get the current weather for a city.",
	InputSchema: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`),
}

// RunProviderSuite runs every scenario against the adapter.
func RunProviderSuite(t *testing.T, s ProviderSuite) {
	t.Helper()
	run := func(sc Scenario, f func(t *testing.T, m llm.Model) int) {
		t.Run(string(sc), func(t *testing.T) {
			replies, ok := s.Replies[sc]
			if !ok {
				t.Fatalf("no recorded replies for scenario %s", sc)
			}
			srv, recorded := replay(t, replies)
			m := s.New(t, srv.URL)
			wantCalls := f(t, m)
			got := recorded()
			if len(got) != wantCalls {
				t.Errorf("server got %d requests, want %d", len(got), wantCalls)
			}
			for i, r := range got {
				if s.CheckRequest != nil {
					s.CheckRequest(t, sc, i, r)
				}
			}
		})
	}

	run(ScenarioPlain, func(t *testing.T, m llm.Model) int {
		resp, err := m.Generate(t.Context(), &llm.Request{System: "Be brief.", Messages: []llm.Message{{Role: llm.RoleUser, Content: PlainPrompt}}})
		if err != nil {
			t.Fatal(err)
		}
		checkText(t, resp, PlainText)
		return 1
	})

	run(ScenarioStream, func(t *testing.T, m llm.Model) int {
		var deltas []string
		var final *llm.Response
		for c, err := range m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: PlainPrompt}}}) {
			if err != nil {
				t.Fatal(err)
			}
			if c.TextDelta != "" {
				deltas = append(deltas, c.TextDelta)
			}
			if c.Done {
				final = c.Response
			}
		}
		if len(deltas) < 2 {
			t.Errorf("got %d text deltas, want at least 2", len(deltas))
		}
		if got := strings.Join(deltas, ""); got != PlainText {
			t.Errorf("joined deltas = %q, want %q", got, PlainText)
		}
		if final == nil {
			t.Fatal("no Done chunk")
		}
		checkText(t, final, PlainText)
		return 1
	})

	run(ScenarioToolRoundTrip, func(t *testing.T, m llm.Model) int {
		req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: ToolPrompt}}, Tools: []llm.ToolSpec{WeatherTool}}
		first, err := m.Generate(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		call := checkToolCall(t, first)
		req.Messages = append(req.Messages, first.Message, llm.Message{Role: llm.RoleTool, ToolCallID: call.ID, Name: call.Name, Content: ToolResult})
		second, err := m.Generate(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		checkText(t, second, ToolAnswer)
		return 2
	})

	run(ScenarioStreamToolCall, func(t *testing.T, m llm.Model) int {
		var final *llm.Response
		req := &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: ToolPrompt}}, Tools: []llm.ToolSpec{WeatherTool}}
		for c, err := range m.GenerateStream(t.Context(), req) {
			if err != nil {
				t.Fatal(err)
			}
			if c.Done {
				final = c.Response
			}
		}
		if final == nil {
			t.Fatal("no Done chunk")
		}
		checkToolCall(t, final)
		return 1
	})

	run(ScenarioUnauthorized, func(t *testing.T, m llm.Model) int {
		_, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: PlainPrompt}}})
		var lerr *llm.Error
		if !errors.As(err, &lerr) {
			t.Fatalf("error = %v, want *llm.Error", err)
		}
		if lerr.StatusCode != http.StatusUnauthorized || lerr.Retryable {
			t.Errorf("status %d retryable %v, want 401 and final", lerr.StatusCode, lerr.Retryable)
		}
		if msg := err.Error(); !strings.Contains(msg, s.Provider) || !strings.Contains(msg, "401") {
			t.Errorf("error %q does not name the provider and status", msg)
		}
		if strings.Contains(err.Error(), APIKey) {
			t.Error("the API key leaked into the error")
		}
		return 1
	})

	run(ScenarioRateLimited, func(t *testing.T, m llm.Model) int {
		resp, err := m.Generate(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: PlainPrompt}}})
		if err != nil {
			t.Fatal(err)
		}
		checkText(t, resp, PlainText)
		return 2
	})

	run(ScenarioStreamCut, func(t *testing.T, m llm.Model) int {
		var streamErr error
		for c, err := range m.GenerateStream(t.Context(), &llm.Request{Messages: []llm.Message{{Role: llm.RoleUser, Content: PlainPrompt}}}) {
			if err != nil {
				streamErr = err
				break
			}
			if c.Done {
				t.Fatal("a cut stream reported Done")
			}
		}
		if streamErr == nil {
			t.Fatal("a cut stream ended without an error")
		}
		var lerr *llm.Error
		if !errors.As(streamErr, &lerr) {
			t.Errorf("error = %v, want *llm.Error", streamErr)
		}
		return 1
	})
}

func checkText(t *testing.T, resp *llm.Response, want string) {
	t.Helper()
	if resp.Message.Content != want {
		t.Errorf("text = %q, want %q", resp.Message.Content, want)
	}
	if len(resp.Message.ToolCalls) != 0 {
		t.Errorf("unexpected tool calls %v", resp.Message.ToolCalls)
	}
	u := resp.Usage
	if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage = %+v, want positive counts that add up", u)
	}
}

func checkToolCall(t *testing.T, resp *llm.Response) llm.ToolCall {
	t.Helper()
	calls := resp.Message.ToolCalls
	if len(calls) != 1 {
		t.Fatalf("got %d tool calls, want 1", len(calls))
	}
	c := calls[0]
	if c.Name != ToolName || c.ID == "" {
		t.Errorf("tool call = %+v, want %s with an id", c, ToolName)
	}
	var got any
	if err := json.Unmarshal(c.Arguments, &got); err != nil {
		t.Fatalf("arguments %s: %v", c.Arguments, err)
	}
	if gj, _ := json.Marshal(got); string(gj) != ToolArgs {
		t.Errorf("arguments = %s, want %s", gj, ToolArgs)
	}
	return c
}

// replay serves replies in order and records each request.
func replay(t *testing.T, replies []Reply) (*httptest.Server, func() []Recorded) {
	t.Helper()
	var (
		mu   sync.Mutex
		recs []Recorded
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		n := len(recs)
		recs = append(recs, Recorded{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		mu.Unlock()
		if n >= len(replies) {
			http.Error(w, "no more recorded replies", http.StatusTeapot)
			return
		}
		rep := replies[n]
		for k, vs := range rep.Header {
			for _, v := range vs {
				w.Header().Add(k, v)
			}
		}
		status := rep.Status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, rep.Body)
		if rep.Cut {
			_ = http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, func() []Recorded {
		mu.Lock()
		defer mu.Unlock()
		return append([]Recorded(nil), recs...)
	}
}
