package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The Gemini SDK's dependencies start an OpenCensus worker at init;
	// it is process-wide and not ours to stop.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, serve func(ctx context.Context, s Server) error, args ...string) result {
	t.Helper()
	var out, errw bytes.Buffer
	code := Main(t.Context(), args, Env{
		Stdout: &out,
		Stderr: &errw,
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		ServeFunc: serve,
	})
	return result{code: code, stdout: out.String(), stderr: errw.String()}
}

func neverServe(t *testing.T) func(context.Context, Server) error {
	return func(context.Context, Server) error {
		t.Error("the server must not start")
		return nil
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		r := runCLI(t, nil, nil, args...)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "omniserve, version ") {
			t.Errorf("%v: code %d, stdout %q", args, r.code, r.stdout)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("name: x\nmodle: y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"run without agent", nil, []string{"run"}, "Please specify an agent file with --agent or use 'omniserve quickstart'"},
		{"missing agent file", nil, []string{"run", "--agent", missing}, "not found"},
		{"bad agent file", nil, []string{"run", "--agent", bad}, "modle"},
		// Configuration is validated before the agent file is read: the
		// file does not exist, yet the error is about the configuration.
		{"port 0", nil, []string{"run", "--agent", missing, "--port", "0"}, "Invalid OmniServe config: OMNICOREAGENT_SERVE_PORT must be between 1 and 65535"},
		{"env port 0", map[string]string{"OMNICOREAGENT_SERVE_PORT": "0"}, []string{"run", "--agent", missing}, "OMNICOREAGENT_SERVE_PORT must be between 1 and 65535"},
		{"env port not int", map[string]string{"OMNICOREAGENT_SERVE_PORT": "eighty"}, []string{"run", "--agent", missing}, "OMNICOREAGENT_SERVE_PORT must be an integer"},
		{"workers 2", nil, []string{"run", "--agent", missing, "--workers", "2"}, "OMNICOREAGENT_SERVE_WORKERS must be 1"},
		{"rate limit 0", nil, []string{"run", "--agent", missing, "--rate-limit", "0"}, "RATE_LIMIT_REQUESTS must be at least 1"},
		{"empty auth token", nil, []string{"run", "--agent", missing, "--auth-token", " "}, "OMNICOREAGENT_SERVE_AUTH_TOKEN is required"},
		{"port not a number", nil, []string{"run", "--port", "abc"}, "invalid argument"},
		{"unknown flag", nil, []string{"run", "--bogus"}, "unknown flag"},
		{"unknown command", nil, []string{"serve"}, "unknown command"},
		{"quickstart port 0", nil, []string{"quickstart", "--provider", "echo", "--port", "0"}, "OMNICOREAGENT_SERVE_PORT must be between 1 and 65535"},
		{"quickstart needs key", nil, []string{"quickstart"}, "LLM_API_KEY"},
		{"quickstart unknown provider", nil, []string{"quickstart", "--provider", "nope", "--model", "m"}, "unknown model provider"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, neverServe(t), tt.args...)
			if r.code != ExitUsage {
				t.Errorf("code = %d, want %d; stderr %q", r.code, ExitUsage, r.stderr)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.want)
			}
		})
	}
}

func TestQuickstartWithoutKeySuggestsEcho(t *testing.T) {
	r := runCLI(t, nil, neverServe(t), "quickstart")
	if !strings.Contains(r.stderr, "--provider echo") {
		t.Errorf("stderr = %q, want a hint about --provider echo", r.stderr)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// serveAndCall starts the real server, waits until /ready answers 200, runs
// call against its base URL, then stops it as SIGTERM would.
func serveAndCall(t *testing.T, call func(base string)) func(context.Context, Server) error {
	return func(ctx context.Context, s Server) error {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.ListenAndServe(ctx) }()
		_, port, _ := net.SplitHostPort(s.Addr())
		base := "http://127.0.0.1:" + port
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(base + "/ready")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatal("server never became ready")
			}
			time.Sleep(10 * time.Millisecond)
		}
		call(base)
		cancel()
		return <-done
	}
}

func postSync(t *testing.T, base, query string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	resp, err := http.Post(base+"/run/sync", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestQuickstartEchoServes(t *testing.T) {
	port := freePort(t)
	var got map[string]any
	r := runCLI(t, nil, serveAndCall(t, func(base string) {
		got = postSync(t, base, "what is 6*7?\n"+`{"tool": "calculate", "arguments": {"expression": "6*7"}}`)
	}), "quickstart", "--provider", "echo", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %s", r.code, r.stderr)
	}
	if got["agent_name"] != "QuickAgent" || !strings.Contains(fmt.Sprint(got["response"]), `"result":42`) {
		t.Errorf("response = %v", got)
	}
	for _, want := range []string{"QuickAgent", fmt.Sprintf("http://127.0.0.1:%d", port), "/prometheus"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("banner %q lacks %q", r.stdout, want)
		}
	}
}

func TestRunAgentFileServes(t *testing.T) {
	port := freePort(t)
	var got map[string]any
	// The environment beats the flag: the flag's port is never used.
	env := map[string]string{"OMNICOREAGENT_SERVE_PORT": strconv.Itoa(port)}
	r := runCLI(t, env, serveAndCall(t, func(base string) {
		got = postSync(t, base, "hello from the file")
	}), "run", "--agent", "../../examples/echo.yaml", "--host", "127.0.0.1", "--port", "1")
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %s", r.code, r.stderr)
	}
	if got["response"] != "hello from the file" {
		t.Errorf("response = %v", got)
	}
}

// TestRunGoAgentFile serves examples/agent.go, a Go agent file with a Go
// tool, with no compile step.
func TestRunGoAgentFile(t *testing.T) {
	port := freePort(t)
	var got map[string]any
	r := runCLI(t, nil, serveAndCall(t, func(base string) {
		got = postSync(t, base, "count please\n"+`{"tool": "word_count", "arguments": {"text": "one two three"}}`)
	}), "run", "--agent", "../../examples/agent.go", "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %s", r.code, r.stderr)
	}
	if !strings.Contains(fmt.Sprint(got["response"]), "3") {
		t.Errorf("response = %v", got["response"])
	}
	if !strings.Contains(r.stdout, "Go agent file agent.go") {
		t.Errorf("banner: %s", r.stdout)
	}
}

func TestRunGoAgentFileErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.go")
	if err := os.WriteFile(bad, []byte("package agent\n\nfunc main() {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, nil, neverServe(t), "run", "--agent", bad)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "main") || !strings.Contains(r.stderr, "bad.go:3") {
		t.Errorf("code %d, stderr %q", r.code, r.stderr)
	}
}

// TestRunFlagsReachTheServer: --auth-token, --no-docs and --rate-limit
// change what the running server does, not just the banner.
func TestRunFlagsReachTheServer(t *testing.T) {
	port := freePort(t)
	codes := map[string]int{}
	r := runCLI(t, nil, func(ctx context.Context, s Server) error {
		return serveAndCall(t, func(base string) {
			for _, p := range []string{"/docs", "/tools", "/health"} {
				resp, err := http.Get(base + p)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				codes[p] = resp.StatusCode
				if p == "/tools" && resp.Header.Get("X-RateLimit-Limit") != "5" {
					t.Errorf("rate limit header = %q", resp.Header.Get("X-RateLimit-Limit"))
				}
			}
		})(ctx, s)
	}, "run", "--agent", "../../examples/echo.yaml", "--host", "127.0.0.1", "--port", strconv.Itoa(port),
		"--auth-token", "s3cret-token", "--no-docs", "--rate-limit", "5")
	if r.code != ExitOK {
		t.Fatalf("code %d: %s", r.code, r.stderr)
	}
	want := map[string]int{"/docs": 404, "/tools": 401, "/health": 200}
	for p, c := range want {
		if codes[p] != c {
			t.Errorf("%s = %d, want %d", p, codes[p], c)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "s3cret-token") {
		t.Error("the token was printed")
	}
}
