package cli

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// fakeChatServer speaks the OpenAI Chat Completions wire format, streaming
// included, the way any OpenAI-compatible server (Ollama, vLLM…) does. It
// asks for the calculate tool when the last message is the user's, and
// answers with the tool's result once it has one.
func fakeChatServer(t *testing.T, wantKey string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if r.URL.Path != "/v1/chat/completions" {
			http.Error(w, `{"error":{"message":"not found"}}`, http.StatusNotFound)
			return
		}
		if got := r.Header.Get("Authorization"); got != "Bearer "+wantKey {
			http.Error(w, `{"error":{"message":"bad key","type":"invalid_request_error"}}`, http.StatusUnauthorized)
			return
		}
		var req struct {
			Model    string `json:"model"`
			Stream   bool   `json:"stream"`
			Messages []struct {
				Role    string `json:"role"`
				Content any    `json:"content"`
			} `json:"messages"`
			Tools []struct {
				Function struct {
					Name string `json:"name"`
				} `json:"function"`
			} `json:"tools"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		last := req.Messages[len(req.Messages)-1]
		var toolCall, text string
		if last.Role == "tool" {
			var res struct {
				Result float64 `json:"result"`
			}
			_ = json.Unmarshal([]byte(fmt.Sprint(last.Content)), &res)
			text = "6*7 is " + strconv.FormatFloat(res.Result, 'f', -1, 64) + "."
		} else {
			hasCalc := false
			for _, tl := range req.Tools {
				hasCalc = hasCalc || tl.Function.Name == "calculate"
			}
			if !hasCalc {
				http.Error(w, `{"error":{"message":"calculate tool missing"}}`, http.StatusBadRequest)
				return
			}
			toolCall = `{"expression": "6*7"}`
		}
		if !req.Stream {
			msg := map[string]any{"role": "assistant", "content": text}
			finish := "stop"
			if toolCall != "" {
				msg["content"] = nil
				msg["tool_calls"] = []any{map[string]any{"id": "call_abc", "type": "function", "function": map[string]any{"name": "calculate", "arguments": toolCall}}}
				finish = "tool_calls"
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{
				"id": "chatcmpl-1", "object": "chat.completion", "created": 1764300000, "model": req.Model,
				"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
				"usage":   map[string]any{"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60},
			})
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		chunk := func(delta map[string]any, finish any) {
			b, _ := json.Marshal(map[string]any{
				"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1764300000, "model": req.Model,
				"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}},
			})
			fmt.Fprintf(w, "data: %s\n\n", b)
		}
		chunk(map[string]any{"role": "assistant", "content": ""}, nil)
		if toolCall != "" {
			chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": "call_abc", "type": "function", "function": map[string]any{"name": "calculate", "arguments": ""}}}}, nil)
			chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": toolCall[:10]}}}}, nil)
			chunk(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": toolCall[10:]}}}}, nil)
			chunk(map[string]any{}, "tool_calls")
		} else {
			for _, word := range strings.SplitAfter(text, " ") {
				chunk(map[string]any{"content": word}, nil)
			}
			chunk(map[string]any{}, "stop")
		}
		usage, _ := json.Marshal(map[string]any{"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1764300000, "model": req.Model, "choices": []any{}, "usage": map[string]any{"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}})
		fmt.Fprintf(w, "data: %s\n\ndata: [DONE]\n\n", usage)
	}))
	t.Cleanup(srv.Close)
	return srv, &calls
}

// TestCalculatorExampleAgainstOpenAICompatibleServer is the walking
// skeleton's acceptance test: examples/calculator.yaml, pointed at an
// OpenAI-compatible server, answers "what is 6*7?" through the calculate
// tool, over both /run/sync and /run.
func TestCalculatorExampleAgainstOpenAICompatibleServer(t *testing.T) {
	model, calls := fakeChatServer(t, "test-key")
	example, err := os.ReadFile("../../examples/calculator.yaml")
	if err != nil {
		t.Fatal(err)
	}
	agentFile := filepath.Join(t.TempDir(), "calculator.yaml")
	pointed := strings.Replace(string(example), "model_config:\n", "model_config:\n  base_url: "+model.URL+"/v1\n", 1)
	if err := os.WriteFile(agentFile, []byte(pointed), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	env := map[string]string{"LLM_API_KEY": "test-key"}
	var syncAnswer map[string]any
	var frames []string
	var complete map[string]any
	r := runCLI(t, env, serveAndCall(t, func(base string) {
		syncAnswer = postSync(t, base, "what is 6*7?")

		body, _ := json.Marshal(map[string]string{"query": "what is 6*7?"})
		resp, err := http.Post(base+"/run", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var event string
		for sc.Scan() {
			line := sc.Text()
			if name, ok := strings.CutPrefix(line, "event: "); ok {
				event = name
				frames = append(frames, name)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok && event == "complete" {
				_ = json.Unmarshal([]byte(data), &complete)
			}
		}
		_, _ = io.Copy(io.Discard, resp.Body)
	}), "run", "--agent", agentFile, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	if r.code != ExitOK {
		t.Fatalf("code %d\nstderr: %s", r.code, r.stderr)
	}
	if got := syncAnswer["response"]; got != "6*7 is 42." {
		t.Errorf("/run/sync response = %v, want %q", got, "6*7 is 42.")
	}
	if complete["response"] != "6*7 is 42." {
		t.Errorf("/run complete = %v", complete)
	}
	joined := strings.Join(frames, ",")
	for _, want := range []string{"tool_call,tool_result", "model_delta", "final_answer", "complete,session"} {
		if !strings.Contains(joined, want) {
			t.Errorf("stream frames %s lack %s", joined, want)
		}
	}
	// Two model calls per run (tool call, then answer), two runs.
	if n := calls.Load(); n != 4 {
		t.Errorf("model server got %d calls, want 4", n)
	}
}
