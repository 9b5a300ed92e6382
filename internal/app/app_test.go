package app

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/config"
	"github.com/omniserve/omniserve/internal/llm/llmtest"
	"github.com/omniserve/omniserve/internal/store/memstore"
)

func TestMain(m *testing.M) {
	// The Gemini SDK's dependencies start an OpenCensus worker at init;
	// it is process-wide and not ours to stop.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

func noEnv(string) (string, bool) { return "", false }

func TestNewModel(t *testing.T) {
	tests := []struct {
		spec    ModelSpec
		env     map[string]string
		wantErr string
		wantP   string
	}{
		{spec: ModelSpec{Provider: "echo"}, wantP: "echo"},
		{spec: ModelSpec{Provider: "ECHO"}, wantP: "echo"},
		{spec: ModelSpec{Provider: "openai", Model: "gpt-4o-mini"}, env: map[string]string{"LLM_API_KEY": "k"}, wantP: "openai"},
		{spec: ModelSpec{Provider: "openai", Model: "gpt-4o-mini"}, wantErr: "set LLM_API_KEY"},
		{spec: ModelSpec{Provider: "openai", Model: "m", APIKeyEnv: "MY_KEY"}, env: map[string]string{"MY_KEY": "k"}, wantP: "openai"},
		{spec: ModelSpec{Provider: "openai", Model: "m", APIKeyEnv: "MY_KEY"}, env: map[string]string{"LLM_API_KEY": "k"}, wantErr: "set MY_KEY"},
		// A base_url means a self-hosted server, which may need no key.
		{spec: ModelSpec{Provider: "openai", Model: "m", BaseURL: "http://127.0.0.1:1/v1"}, wantP: "openai"},
		{spec: ModelSpec{Provider: "ollama", Model: "llama3.1"}, wantP: "ollama"},
		{spec: ModelSpec{Provider: "openai_compatible", Model: "m"}, wantErr: "base_url is required"},
		{spec: ModelSpec{Provider: "openai"}, env: map[string]string{"LLM_API_KEY": "k"}, wantErr: "model_config.model is required"},
		{spec: ModelSpec{Provider: "nope", Model: "m"}, wantErr: `unknown model provider "nope" (known: anthropic, deepseek, echo, gemini, groq, mistral, ollama, openai, openai_compatible, openrouter, together)`},
		{spec: ModelSpec{Provider: "anthropic", Model: "claude-sonnet-4-5"}, env: map[string]string{"LLM_API_KEY": "k"}, wantP: "anthropic"},
		{spec: ModelSpec{Provider: "anthropic", Model: "claude-sonnet-4-5"}, wantErr: "set LLM_API_KEY"},
		{spec: ModelSpec{Provider: "gemini", Model: "gemini-2.0-flash"}, env: map[string]string{"LLM_API_KEY": "k"}, wantP: "gemini"},
		{spec: ModelSpec{Provider: "groq", Model: "llama-3.3-70b-versatile"}, env: map[string]string{"LLM_API_KEY": "k"}, wantP: "groq"},
		{spec: ModelSpec{Provider: "openrouter", Model: "m"}, wantErr: "set LLM_API_KEY"},
		{spec: ModelSpec{Provider: "deepseek", Model: "deepseek-chat"}, env: map[string]string{"LLM_API_KEY": "k"}, wantP: "deepseek"},
		{spec: ModelSpec{Provider: "mistral", Model: "mistral-small-latest"}, env: map[string]string{"LLM_API_KEY": "k"}, wantP: "mistral"},
		{spec: ModelSpec{Provider: "together", Model: "m"}, env: map[string]string{"LLM_API_KEY": "k"}, wantP: "together"},
	}
	for _, tt := range tests {
		lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
		m, err := NewModel(tt.spec, lookup, nil)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: error %v, want %q", tt.spec, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%+v: %v", tt.spec, err)
			continue
		}
		if m.Provider() != tt.wantP {
			t.Errorf("%+v: provider %q, want %q", tt.spec, m.Provider(), tt.wantP)
		}
	}
}

// TestGracefulShutdown drives the whole lifecycle over a real listener:
// ready, then a stop signal with a run in flight; /ready turns 503 during
// the shutdown delay; past the grace period the run is cancelled and its
// stream ends with an error frame and the closing session frame.
func TestGracefulShutdown(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	started := make(chan struct{})
	store := memstore.New()
	runner, err := agent.New(agent.Config{
		Name:   "slow",
		Model:  llmtest.NewScripted(llmtest.Step{Started: started, Block: block, Text: "late"}),
		Memory: store, Events: store,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.ShutdownDelay = 300 * time.Millisecond
	cfg.ShutdownGrace = 100 * time.Millisecond
	srv, err := NewServer(&Agent{Runner: runner, Events: store, Memory: store}, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()

	if code := status(t, base+"/ready"); code != http.StatusOK {
		t.Fatalf("/ready = %d before shutdown", code)
	}
	resp, err := http.Post(base+"/run", "application/json", strings.NewReader(`{"query":"hi","session_id":"s"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-started

	stop()
	// During the shutdown delay the server still answers, with 503 on /ready.
	deadline := time.Now().Add(5 * time.Second)
	for status(t, base+"/ready") != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatal("/ready never turned 503")
		}
		time.Sleep(5 * time.Millisecond)
	}

	var frames []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok {
			frames = append(frames, name)
		}
		if strings.Contains(sc.Text(), "shutting down") {
			frames = append(frames, "(shutdown message)")
		}
	}
	got := strings.Join(frames, ",")
	if !strings.HasSuffix(got, "error,(shutdown message),session") {
		t.Errorf("stream ended with %s, want an error frame about shutting down then session", got)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get(base + "/health"); err == nil {
		t.Error("server still accepting after shutdown")
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestEventMetrics(t *testing.T) {
	tools, err := BuiltinTools("calculate")
	if err != nil {
		t.Fatal(err)
	}
	ag, err := NewAgent(t.Context(), AgentSpec{Name: "m", Model: ModelSpec{Provider: "echo"}, Tools: tools}, noEnv, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ag, config.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv.Handler())
	defer h.Close()
	for _, q := range []string{
		`calc\n{\"tool\": \"calculate\", \"arguments\": {\"expression\": \"1+1\"}}`,
		`made up\n{\"tool\": \"rm_rf_everything\", \"arguments\": {}}`,
	} {
		resp, err := http.Post(h.URL+"/run/sync", "application/json", strings.NewReader(`{"query":"`+q+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	resp, err := http.Get(h.URL + "/prometheus")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`omniserve_tool_calls_total{outcome="ok",tool="calculate"} 1`,
		`omniserve_tool_calls_total{outcome="error",tool="unknown"} 1`,
		`omniserve_model_calls_total{model="echo",outcome="ok",provider="echo"} 4`,
		`omniserve_runs_total{mode="sync",outcome="completed"} 2`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/prometheus lacks %s", want)
		}
	}
	if strings.Contains(string(body), "rm_rf_everything") {
		t.Error("a made-up tool name became a label")
	}
}

// TestOpenTelemetryExport: with the standard OTLP variable set, a run's
// spans reach the collector by the time the agent is closed.
func TestOpenTelemetryExport(t *testing.T) {
	var posts atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" && r.Method == http.MethodPost {
			posts.Add(1)
		}
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	ag, err := NewAgent(t.Context(), AgentSpec{Name: "traced", Model: ModelSpec{Provider: "echo"}}, lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := NewServer(ag, config.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv.Handler())
	defer h.Close()
	resp, err := http.Post(h.URL+"/run/sync", "application/json", strings.NewReader(`{"query":"hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := ag.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if posts.Load() == 0 {
		t.Error("no spans reached the collector")
	}
}
