package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/omniserve/omniserve/internal/agentfile"
	"github.com/omniserve/omniserve/internal/config"
)

type addArgs struct {
	A int `json:"a"`
	B int `json:"b"`
}

// mcpServer is a streamable-HTTP MCP server with an "add" tool.
func mcpServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "app-test", Version: "v0.0.1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "add", Description: "Adds two integers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(in.A + in.B)}}}, nil, nil
		})
	h := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(h.Close)
	return h
}

// serveFile builds and serves the agent file text, returning the base URL.
func serveFile(t *testing.T, yamlText string, env map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(path, []byte(yamlText), 0o600); err != nil {
		t.Fatal(err)
	}
	return serveAgentFile(t, path, env)
}

func serveAgentFile(t *testing.T, path string, env map[string]string) string {
	t.Helper()
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f, err := agentfile.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := SpecFromFile(f, lookup)
	if err != nil {
		t.Fatal(err)
	}
	ag, err := NewAgent(t.Context(), spec, lookup, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ag.Close(context.Background()) })
	srv, err := NewServer(ag, config.Default(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(srv.Handler())
	srv.SetReady()
	t.Cleanup(h.Close)
	return h.URL
}

func callTool(t *testing.T, base, name, args string) string {
	t.Helper()
	q := fmt.Sprintf("please\n{\"tool\": %q, \"arguments\": %s}", name, args)
	body, _ := json.Marshal(map[string]string{"query": q})
	resp, err := http.Post(base+"/run/sync", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s: status %d: %s", name, resp.StatusCode, b)
	}
	var out struct {
		Response string `json:"response"`
	}
	_ = json.Unmarshal(b, &out)
	return out.Response
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode
}

// TestOneFileMixesEveryToolSource: built-in, shell, HTTP and MCP tools in
// one agent file, each called through a run.
func TestOneFileMixesEveryToolSource(t *testing.T) {
	if _, err := exec.LookPath("cat"); err != nil {
		t.Skip("cat not found")
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "secret-value" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "weather in %s: sunny", r.URL.Query().Get("city"))
	}))
	defer api.Close()
	mcpSrv := mcpServer(t)
	base := serveFile(t, `
name: mixed
model_config: {provider: echo}
tools:
  - builtin: calculate
  - shell:
      name: echo_args
      description: Returns its JSON arguments.
      command: [cat]
      parameters: {type: object, properties: {text: {type: string}}, required: [text]}
  - http:
      name: weather
      description: Current weather.
      url: `+api.URL+`/weather
      headers: {X-Token: "${WEATHER_TOKEN}"}
      parameters: {type: object, properties: {city: {type: string}}}
mcp_servers:
  - name: maths
    transport_type: streamable_http
    url: `+mcpSrv.URL+`
`, map[string]string{"WEATHER_TOKEN": "secret-value"})

	if got := callTool(t, base, "calculate", `{"expression": "6*7"}`); !strings.Contains(got, `"result":42`) {
		t.Errorf("calculate: %q", got)
	}
	if got := callTool(t, base, "echo_args", `{"text": "; rm -rf /"}`); strings.TrimSpace(got) != `{"text":"; rm -rf /"}` {
		t.Errorf("echo_args: %q", got)
	}
	if got := callTool(t, base, "weather", `{"city": "Paris"}`); got != "weather in Paris: sunny" {
		t.Errorf("weather: %q", got)
	}
	if got := callTool(t, base, "add", `{"a": 2, "b": 40}`); got != "42" {
		t.Errorf("mcp add: %q", got)
	}

	var tools struct {
		Tools []struct{ Name, Type, Server string } `json:"tools"`
	}
	getJSON(t, base+"/tools", &tools)
	var got []string
	for _, tl := range tools.Tools {
		got = append(got, tl.Name+":"+tl.Type+":"+tl.Server)
	}
	want := "calculate:local:,echo_args:local:,weather:local:,add:mcp:maths"
	if strings.Join(got, ",") != want {
		t.Errorf("/tools = %s, want %s", strings.Join(got, ","), want)
	}
	var ready map[string]any
	if code := getJSON(t, base+"/ready", &ready); code != http.StatusOK || ready["mcp_connected"] != true {
		t.Errorf("/ready = %d %v", code, ready)
	}
	servers, _ := ready["mcp_servers"].([]any)
	if len(servers) != 1 || servers[0].(map[string]any)["connected"] != true {
		t.Errorf("mcp_servers = %v", ready["mcp_servers"])
	}
}

// TestReadyTracksMCP: a configured server that is down keeps /ready at 503
// with its error, without stopping the server from starting.
func TestReadyTracksMCP(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	base := serveFile(t, `
name: waiting
model_config: {provider: echo}
mcp_servers:
  - {name: gone, transport_type: streamable_http, url: "`+url+`", timeout: 2}
`, nil)
	var ready struct {
		Ready        bool `json:"ready"`
		MCPConnected bool `json:"mcp_connected"`
		MCPServers   []struct {
			Name      string `json:"name"`
			Connected bool   `json:"connected"`
			Error     string `json:"error"`
		} `json:"mcp_servers"`
	}
	code := getJSON(t, base+"/ready", &ready)
	if code != http.StatusServiceUnavailable || ready.Ready || ready.MCPConnected {
		t.Errorf("/ready = %d %+v", code, ready)
	}
	if len(ready.MCPServers) != 1 || ready.MCPServers[0].Connected || ready.MCPServers[0].Error == "" {
		t.Errorf("mcp_servers = %+v", ready.MCPServers)
	}
}

// TestExampleFiles runs the shipped examples that need no key.
func TestExampleFiles(t *testing.T) {
	t.Run("shell-tool", func(t *testing.T) {
		base := serveAgentFile(t, "../../examples/shell-tool.yaml", nil)
		if got := callTool(t, base, "echo_args", `{"text": "hi"}`); !strings.Contains(got, `"text":"hi"`) {
			t.Errorf("echo_args: %q", got)
		}
		if got := callTool(t, base, "utc_now", `{}`); !strings.HasPrefix(got, time.Now().UTC().Format("2006")) {
			t.Errorf("utc_now: %q", got)
		}
	})
	t.Run("mcp", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a third-party MCP server from npm; skipped in -short")
		}
		if _, err := exec.LookPath("npx"); err != nil {
			t.Skip("npx not found: install Node.js to run the MCP example")
		}
		base := serveAgentFile(t, "../../examples/mcp.yaml", nil)
		var ready map[string]any
		if code := getJSON(t, base+"/ready", &ready); code != http.StatusOK {
			t.Skipf("the npm MCP server did not connect (no registry access?): %v", ready)
		}
		if got := callTool(t, base, "echo", `{"message": "hello mcp"}`); !strings.Contains(got, "hello mcp") {
			t.Errorf("echo: %q", got)
		}
	})
}

func TestExpandVars(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"TOKEN": "s3cret", "EMPTY": ""}[k]
		return v, ok
	}
	if got, err := expandVars("Bearer ${TOKEN}", lookup); err != nil || got != "Bearer s3cret" {
		t.Errorf("got %q, %v", got, err)
	}
	for _, in := range []string{"${MISSING}", "x ${EMPTY}"} {
		_, err := expandVars(in, lookup)
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s: error %v", in, err)
		}
	}
	m, err := expandMap(map[string]string{"Authorization": "Bearer ${TOKEN}"}, lookup)
	if err != nil || m["Authorization"] != "Bearer s3cret" {
		t.Errorf("map: %v %v", m, err)
	}
}
