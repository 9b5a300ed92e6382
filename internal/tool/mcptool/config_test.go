package mcptool

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestServerConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		cfg     ServerConfig
		wantErr string // substring; empty means valid
	}{
		{"Stdio", ServerConfig{Name: "fs", Command: "npx"}, ""},
		{"StdioExplicit", ServerConfig{Name: "fs", TransportType: "stdio", Command: "npx", Env: map[string]string{"TOKEN": "x"}}, ""},
		{"HTTPInferred", ServerConfig{Name: "web", URL: "https://example.com/mcp"}, ""},
		{"SSE", ServerConfig{Name: "old", TransportType: "sse", URL: "http://127.0.0.1:9/sse"}, ""},
		{"NoName", ServerConfig{Command: "npx"}, "name must not be empty"},
		{"BlankName", ServerConfig{Name: "  ", Command: "npx"}, "name must not be empty"},
		{"NoCommand", ServerConfig{Name: "fs", TransportType: "stdio"}, "command is required"},
		{"NothingSet", ServerConfig{Name: "fs"}, "command is required"},
		{"BadTransport", ServerConfig{Name: "x", TransportType: "websocket", URL: "http://h"}, "transport_type \"websocket\""},
		{"NoURL", ServerConfig{Name: "web", TransportType: "streamable_http"}, "url is required"},
		{"RelativeURL", ServerConfig{Name: "web", TransportType: "streamable_http", URL: "/mcp"}, "url must be an absolute http or https URL"},
		{"FileURL", ServerConfig{Name: "web", TransportType: "sse", URL: "file:///tmp/x"}, "url must be"},
		{"NegativeTimeout", ServerConfig{Name: "fs", Command: "npx", Timeout: -time.Second}, "timeout must not be negative"},
		{"BadEnvName", ServerConfig{Name: "fs", Command: "npx", Env: map[string]string{"A=B": "v"}}, "env: invalid variable name"},
		{"BadHeaderName", ServerConfig{Name: "web", URL: "http://h", Headers: map[string]string{"Bad Header": "v"}}, "headers: invalid header name"},
		{"BadHeaderValue", ServerConfig{Name: "web", URL: "http://h", Headers: map[string]string{"X-Key": "a\r\nb"}}, "headers: value of \"X-Key\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateHidesSecrets(t *testing.T) {
	t.Parallel()
	cfgs := []ServerConfig{
		{Name: "web", URL: "ftp://host/?token=hunter2secret"},
		{Name: "web", URL: "http://h", Headers: map[string]string{"X-Key": "hunter2secret\n"}},
	}
	for _, c := range cfgs {
		if err := c.Validate(); err == nil || strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("Validate = %v, want an error without the secret", err)
		}
	}
}

func TestManagerConfigDefaults(t *testing.T) {
	t.Parallel()
	m, err := NewManager(ManagerConfig{Servers: []ServerConfig{{Name: "fs", Command: "npx"}, {Name: "web", URL: "http://h", Timeout: time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	got := []time.Duration{m.cfg.ConnectTimeout, m.cfg.ReconnectBackoffMin, m.cfg.ReconnectBackoffMax, m.cfg.PingInterval}
	want := []time.Duration{30 * time.Second, time.Second, 30 * time.Second, 30 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	fs, web := m.servers[0], m.servers[1]
	if fs.cfg.TransportType != TransportStdio || fs.callTimeout != 30*time.Second || fs.connectTimeout != 30*time.Second {
		t.Errorf("fs: transport %q, call timeout %s, connect timeout %s", fs.cfg.TransportType, fs.callTimeout, fs.connectTimeout)
	}
	if web.cfg.TransportType != TransportStreamableHTTP || web.callTimeout != time.Second || web.connectTimeout != time.Second {
		t.Errorf("web: transport %q, call timeout %s, connect timeout %s", web.cfg.TransportType, web.callTimeout, web.connectTimeout)
	}
	want0 := []ServerStatus{{Name: "fs", Error: "not connected yet"}, {Name: "web", Error: "not connected yet"}}
	if diff := cmp.Diff(want0, m.Status()); diff != "" {
		t.Errorf("Status before Start (-want +got):\n%s", diff)
	}
	if _, err := NewManager(ManagerConfig{ReconnectBackoffMin: time.Minute}); err == nil {
		t.Error("backoff min above max: no error")
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{5, 16 * time.Second},
		{6, 30 * time.Second},
		{100, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := backoffBase(tt.attempt, time.Second, 30*time.Second); got != tt.want {
			t.Errorf("backoffBase(%d) = %s, want %s", tt.attempt, got, tt.want)
		}
	}
	m := &Manager{cfg: ManagerConfig{ReconnectBackoffMin: time.Second, ReconnectBackoffMax: 30 * time.Second}}
	for n := 1; n <= 10; n++ {
		base := backoffBase(n, time.Second, 30*time.Second)
		if got := m.backoff(n); got > base || got < base-base/5 {
			t.Errorf("backoff(%d) = %s, want within [%s, %s]", n, got, base-base/5, base)
		}
	}
}

func TestResultText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		res  *mcp.CallToolResult
		want string
	}{
		{"Empty", &mcp.CallToolResult{}, ""},
		{"Text", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "a"}, &mcp.TextContent{Text: "b"}}}, "a\nb"},
		{"Mixed", &mcp.CallToolResult{Content: []mcp.Content{
			&mcp.TextContent{Text: "see"},
			&mcp.ImageContent{MIMEType: "image/png", Data: []byte{1}},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///a.txt", Text: "inside"}},
			&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{URI: "file:///b.bin", Blob: []byte{1}}},
			&mcp.ResourceLink{URI: "file:///c"},
		}}, "see\n[image/png image omitted]\ninside\n[resource file:///b.bin omitted]\n[resource link file:///c]"},
		{"StructuredOnly", &mcp.CallToolResult{StructuredContent: map[string]int{"n": 1}}, `{"n":1}`},
		{"TextWinsOverStructured", &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "t"}}, StructuredContent: 1}, "t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := resultText(tt.res); got != tt.want {
				t.Errorf("resultText = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestStdioEnv(t *testing.T) {
	t.Parallel()
	parent := map[string]string{"PATH": "/bin", "HOME": "/home/u", "LLM_API_KEY": "sk-parent", "USER": "u"}
	lookup := func(k string) (string, bool) { v, ok := parent[k]; return v, ok }
	s := newServer(ServerConfig{Name: "fs", Command: "x", Env: map[string]string{"TOKEN": "t0ken-value", "USER": "override"}}, 0, &ManagerConfig{Logger: discardLogger()})
	want := []string{"HOME=/home/u", "PATH=/bin", "TOKEN=t0ken-value", "USER=override"}
	if diff := cmp.Diff(want, s.env(lookup)); diff != "" {
		t.Errorf("env (-want +got):\n%s", diff)
	}
}

func TestScrub(t *testing.T) {
	t.Parallel()
	s := newServer(ServerConfig{
		Name:    "web",
		URL:     "https://user:pa55word@example.com/mcp?token=query-secret",
		Headers: map[string]string{"Authorization": "Bearer header-secret", "X-Short": "abc"},
	}, 0, &ManagerConfig{Logger: discardLogger()})
	base := errors.New("boom")
	err := s.scrub(fmt.Errorf(`post "https://example.com/mcp?token=query-secret" with Bearer header-secret pa55word abc: %w`, base))
	for _, secret := range []string{"query-secret", "header-secret", "pa55word"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("scrubbed error %q still contains %q", err, secret)
		}
	}
	if !strings.Contains(err.Error(), "abc") {
		t.Errorf("scrubbed error %q lost a short, non-secret value", err)
	}
	if !errors.Is(err, base) {
		t.Error("scrubbed error lost its chain")
	}
	if clean := errors.New("fine"); s.scrub(clean) != clean {
		t.Error("scrub wrapped an error without secrets")
	}
}

func TestHeaderTransport(t *testing.T) {
	t.Parallel()
	got := make(chan http.Header, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
	}))
	t.Cleanup(hs.Close)
	base := newHTTPTransport()
	t.Cleanup(base.CloseIdleConnections)
	c := &http.Client{Transport: &headerTransport{base: base, headers: map[string]string{"X-Api-Key": "k", "Mcp-Session-Id": "configured"}}}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, hs.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Mcp-Session-Id", "from-sdk")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	h := <-got
	if h.Get("X-Api-Key") != "k" || h.Get("Mcp-Session-Id") != "from-sdk" {
		t.Errorf("headers at server: X-Api-Key %q, Mcp-Session-Id %q; want k, from-sdk", h.Get("X-Api-Key"), h.Get("Mcp-Session-Id"))
	}
	if req.Header.Get("X-Api-Key") != "" {
		t.Error("the caller's request was modified")
	}
}

func TestStderrLogger(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	h := slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == slog.LevelKey || a.Key == slog.MessageKey {
			return slog.Attr{}
		}
		return a
	}})
	w := &stderrLogger{logger: slog.New(h)}
	for _, p := range []string{"one\ntw", "o\r\n", "\nthree"} {
		if _, err := w.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := buf.String(), "line=one\nline=two\n"; got != want {
		t.Errorf("logged %q, want %q (the partial last line waits)", got, want)
	}
}
