package mcptool

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/omniserve/omniserve/internal/tool"
)

// testToolNames are the test server's tools in the order it lists them (by name).
var testToolNames = []string{"add", "block", "exit", "fail", "pid", "whoami"}

func TestStreamableHTTP(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		m  *Manager
		ts *testServer
	}
	setup := func(t *testing.T) *testBundle {
		t.Helper()
		ts := &testServer{label: "web", blockStarted: make(chan struct{}, 1), blockEnded: make(chan struct{}, 1)}
		hs := httptest.NewServer(ts.httpHandler())
		t.Cleanup(hs.Close)
		m, _ := startManager(t, ManagerConfig{Servers: []ServerConfig{{
			Name:          "web",
			TransportType: TransportStreamableHTTP,
			URL:           hs.URL,
			Headers:       map[string]string{"X-Api-Key": "secret-token-123"},
		}}})
		return &testBundle{m: m, ts: ts}
	}

	t.Run("ListsTools", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if diff := cmp.Diff(testToolNames, toolNames(b.m)); diff != "" {
			t.Errorf("tool names (-want +got):\n%s", diff)
		}
		add := toolNamed(t, b.m, "add")
		if got, want := add.Kind(), tool.KindMCP; got != want {
			t.Errorf("Kind = %q, want %q", got, want)
		}
		if got, want := add.Server(), "web"; got != want {
			t.Errorf("Server = %q, want %q", got, want)
		}
		if got, want := add.Description(), "Adds two integers."; got != want {
			t.Errorf("Description = %q, want %q", got, want)
		}
		var schema struct {
			Type       string                     `json:"type"`
			Properties map[string]json.RawMessage `json:"properties"`
		}
		if err := json.Unmarshal(add.InputSchema(), &schema); err != nil {
			t.Fatalf("InputSchema: %v", err)
		}
		if schema.Type != "object" || schema.Properties["a"] == nil || schema.Properties["b"] == nil {
			t.Errorf("InputSchema = %s, want an object with a and b", add.InputSchema())
		}
	})

	t.Run("Call", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		if got, want := call(t, b.m, "add", `{"a":2,"b":3}`), "5"; got != want {
			t.Errorf("add = %q, want %q", got, want)
		}
		if _, err := toolNamed(t, b.m, "add").Call(t.Context(), []byte(`{"a":`)); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
			t.Errorf("bad JSON: err = %v", err)
		}
		// Empty arguments are sent as an empty object.
		if got, want := call(t, b.m, "whoami", ""), "web"; got != want {
			t.Errorf("whoami = %q, want %q", got, want)
		}
	})

	t.Run("ErrorResult", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		_, err := toolNamed(t, b.m, "fail").Call(t.Context(), nil)
		var re *ResultError
		if !errors.As(err, &re) {
			t.Fatalf("err = %v, want a *ResultError", err)
		}
		want := &ResultError{Server: "web", Tool: "fail", Text: "boom"}
		if diff := cmp.Diff(want, re); diff != "" {
			t.Errorf("ResultError (-want +got):\n%s", diff)
		}
		if got := err.Error(); got != "boom" {
			t.Errorf("err.Error() = %q, want the server's text", got)
		}
		// An error result says nothing about the session.
		if !b.m.AllConnected() {
			t.Error("AllConnected = false after an error result")
		}
	})

	t.Run("Cancel", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		errc := make(chan error, 1)
		go func() {
			_, err := toolNamed(t, b.m, "block").Call(ctx, nil)
			errc <- err
		}()
		receive(t, b.ts.blockStarted, "block to start")
		cancel()
		if err := receive(t, errc, "block to return"); !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
		receive(t, b.ts.blockEnded, "the server to see the cancellation")
		if !b.m.AllConnected() {
			t.Error("AllConnected = false after a cancelled call")
		}
	})

	t.Run("HeadersSent", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		call(t, b.m, "whoami", "{}")
		if got, _ := b.ts.apiKey.Load().(string); got != "secret-token-123" {
			t.Errorf("X-Api-Key at server = %q, want the configured value", got)
		}
	})

	t.Run("Status", func(t *testing.T) {
		t.Parallel()
		b := setup(t)
		want := []ServerStatus{{Name: "web", Connected: true, Tools: len(testToolNames)}}
		if diff := cmp.Diff(want, b.m.Status()); diff != "" {
			t.Errorf("Status (-want +got):\n%s", diff)
		}
		if !b.m.AllConnected() {
			t.Error("AllConnected = false")
		}
	})
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	ts := &testServer{label: "slow", blockEnded: make(chan struct{}, 1)}
	hs := httptest.NewServer(ts.httpHandler())
	t.Cleanup(hs.Close)
	m, _ := startManager(t, ManagerConfig{Servers: []ServerConfig{{Name: "slow", URL: hs.URL, Timeout: time.Second}}})
	_, err := toolNamed(t, m, "block").Call(t.Context(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
	// The SDK tells the server about the timeout.
	receive(t, ts.blockEnded, "the server to see the timeout")
}

func TestSSE(t *testing.T) {
	t.Parallel()
	srv := newMCPServer(&testServer{label: "old"})
	hs := httptest.NewServer(mcp.NewSSEHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	m, _ := startManager(t, ManagerConfig{Servers: []ServerConfig{{Name: "old", TransportType: TransportSSE, URL: hs.URL}}})
	if got, want := call(t, m, "add", `{"a":40,"b":2}`), "42"; got != want {
		t.Errorf("add = %q, want %q", got, want)
	}
}

// stdioServer configures the test binary as a stdio MCP server.
func stdioServer(name string) ServerConfig {
	return ServerConfig{
		Name:    name,
		Command: os.Args[0],
		Env:     map[string]string{stdioServerEnv: "1"},
	}
}

// processGone reports whether the process pid has exited and been reaped.
func processGone(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return p.Signal(syscall.Signal(0)) != nil
}

func TestStdio(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("the process checks use Unix signals")
	}

	t.Run("ListAndCall", func(t *testing.T) {
		t.Parallel()
		m, _ := startManager(t, ManagerConfig{Servers: []ServerConfig{stdioServer("local")}})
		if diff := cmp.Diff(testToolNames, toolNames(m)); diff != "" {
			t.Errorf("tool names (-want +got):\n%s", diff)
		}
		if got, want := call(t, m, "add", `{"a":1,"b":1}`), "2"; got != want {
			t.Errorf("add = %q, want %q", got, want)
		}
		if got, want := call(t, m, "whoami", ""), "stdio"; got != want {
			t.Errorf("whoami = %q, want %q", got, want)
		}
	})

	t.Run("CloseStopsChild", func(t *testing.T) {
		t.Parallel()
		m, _ := startManager(t, ManagerConfig{Servers: []ServerConfig{stdioServer("local")}})
		pid, err := strconv.Atoi(call(t, m, "pid", ""))
		if err != nil {
			t.Fatal(err)
		}
		if pid == os.Getpid() || processGone(pid) {
			t.Fatalf("pid %d is not a live child", pid)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if !processGone(pid) {
			t.Errorf("child %d still running after Close", pid)
		}
		if m.AllConnected() {
			t.Error("AllConnected = true after Close")
		}
		_, err = toolNamed(t, m, "add").Call(t.Context(), []byte(`{"a":1,"b":1}`))
		if !errors.Is(err, ErrNotConnected) {
			t.Errorf("call after Close: err = %v, want ErrNotConnected", err)
		}
		// A second Close is harmless.
		if err := m.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
	})

	t.Run("ReconnectAfterExit", func(t *testing.T) {
		t.Parallel()
		m, events := startManager(t, ManagerConfig{Servers: []ServerConfig{stdioServer("local")}})
		before := toolNamed(t, m, "pid")
		oldPID := call(t, m, "pid", "")
		if _, err := toolNamed(t, m, "exit").Call(t.Context(), nil); err == nil {
			t.Fatal("exit returned no error")
		}
		events.waitFor(t, EventDisconnected, "local", nil)
		events.waitFor(t, EventReconnect, "local", nil)
		events.waitFor(t, EventConnected, "local", nil)
		if !m.AllConnected() {
			t.Fatal("AllConnected = false after reconnect")
		}
		// The Tool value from before the drop reaches the new process.
		newPID, err := before.Call(t.Context(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if newPID == oldPID {
			t.Errorf("pid after reconnect = %s, want a new process", newPID)
		}
		if diff := cmp.Diff(testToolNames, toolNames(m)); diff != "" {
			t.Errorf("tool names changed across reconnect (-want +got):\n%s", diff)
		}
	})
}

func TestReconnect(t *testing.T) {
	t.Parallel()

	t.Run("AfterFailedCall", func(t *testing.T) {
		t.Parallel()
		live := newLiveServer(t, &testServer{label: "web"})
		live.start()
		m, events := startManager(t, ManagerConfig{Servers: []ServerConfig{{Name: "web", URL: live.url()}}})
		add := toolNamed(t, m, "add")
		if got := call(t, m, "add", `{"a":1,"b":2}`); got != "3" {
			t.Fatalf("add = %q, want 3", got)
		}

		live.stop()
		if _, err := add.Call(t.Context(), []byte(`{"a":1,"b":2}`)); err == nil {
			t.Fatal("call to a stopped server returned no error")
		}
		events.waitFor(t, EventDisconnected, "web", nil)
		st := m.Status()[0]
		if st.Connected || st.Error == "" {
			t.Errorf("Status = %+v, want disconnected with an error", st)
		}
		_, err := add.Call(t.Context(), []byte(`{"a":1,"b":2}`))
		if !errors.Is(err, ErrNotConnected) || !strings.Contains(err.Error(), "mcp server web is not connected") {
			t.Errorf("call while disconnected: err = %v, want ErrNotConnected naming the server", err)
		}
		e := events.waitFor(t, EventReconnect, "web", func(e Event) bool { return e.Error != "" })
		if e.Attempt < 1 {
			t.Errorf("reconnect attempt = %d, want >= 1", e.Attempt)
		}

		live.start()
		events.waitFor(t, EventConnected, "web", nil)
		if st := m.Status()[0]; !st.Connected || st.Error != "" {
			t.Errorf("Status = %+v, want connected", st)
		}
		out, err := add.Call(t.Context(), []byte(`{"a":1,"b":2}`))
		if err != nil || out != "3" {
			t.Errorf("add after reconnect = %q, %v; want 3", out, err)
		}
	})

	t.Run("IdleDropFoundByPing", func(t *testing.T) {
		t.Parallel()
		live := newLiveServer(t, &testServer{label: "web"})
		live.start()
		m, events := startManager(t, ManagerConfig{
			Servers:      []ServerConfig{{Name: "web", URL: live.url()}},
			PingInterval: 5 * time.Millisecond,
		})
		live.stop()
		events.waitFor(t, EventDisconnected, "web", nil)
		if m.AllConnected() {
			t.Error("AllConnected = true after the server went away")
		}
		live.start()
		events.waitFor(t, EventConnected, "web", nil)
		if got := call(t, m, "whoami", ""); got != "web" {
			t.Errorf("whoami = %q, want web", got)
		}
	})

	t.Run("DownAtStart", func(t *testing.T) {
		t.Parallel()
		live := newLiveServer(t, &testServer{label: "late"})
		m, events := startManager(t, ManagerConfig{Servers: []ServerConfig{{Name: "late", URL: live.url()}}})
		st := m.Status()[0]
		if st.Connected || st.Error == "" {
			t.Errorf("Status = %+v, want disconnected with an error", st)
		}
		if m.AllConnected() {
			t.Error("AllConnected = true with the server down")
		}
		if n := len(m.Tools()); n != 0 {
			t.Errorf("Tools = %d, want none before the server is up", n)
		}

		live.start()
		events.waitFor(t, EventReconnect, "late", func(e Event) bool { return e.Error == "" })
		events.waitFor(t, EventConnected, "late", nil)
		if !m.AllConnected() {
			t.Error("AllConnected = false after the server came up")
		}
		if got := call(t, m, "add", `{"a":20,"b":22}`); got != "42" {
			t.Errorf("add = %q, want 42", got)
		}
	})
}

func TestNameClash(t *testing.T) {
	t.Parallel()

	t.Run("SecondServerPrefixed", func(t *testing.T) {
		t.Parallel()
		alpha := httptest.NewServer((&testServer{label: "alpha"}).httpHandler())
		t.Cleanup(alpha.Close)
		beta := httptest.NewServer((&testServer{label: "beta"}).httpHandler())
		t.Cleanup(beta.Close)
		m, _ := startManager(t, ManagerConfig{Servers: []ServerConfig{
			{Name: "alpha", URL: alpha.URL},
			{Name: "beta", URL: beta.URL},
		}})
		var want []string
		want = append(want, testToolNames...)
		for _, n := range testToolNames {
			want = append(want, "beta__"+n)
		}
		if diff := cmp.Diff(want, toolNames(m)); diff != "" {
			t.Errorf("tool names (-want +got):\n%s", diff)
		}
		if got := call(t, m, "whoami", ""); got != "alpha" {
			t.Errorf("whoami = %q, want alpha", got)
		}
		if got := call(t, m, "beta__whoami", ""); got != "beta" {
			t.Errorf("beta__whoami = %q, want beta", got)
		}
		bt := toolNamed(t, m, "beta__whoami")
		if bt.Server() != "beta" || bt.RemoteName() != "whoami" {
			t.Errorf("beta__whoami: Server %q RemoteName %q, want beta, whoami", bt.Server(), bt.RemoteName())
		}
	})

	t.Run("NamesAreSticky", func(t *testing.T) {
		t.Parallel()
		// alpha comes first in the configuration but is down at Start, so
		// beta is handed the plain names; alpha's later tools are prefixed.
		alpha := newLiveServer(t, &testServer{label: "alpha"})
		beta := httptest.NewServer((&testServer{label: "beta"}).httpHandler())
		t.Cleanup(beta.Close)
		m, events := startManager(t, ManagerConfig{Servers: []ServerConfig{
			{Name: "alpha", URL: alpha.url()},
			{Name: "beta", URL: beta.URL},
		}})
		alpha.start()
		events.waitFor(t, EventConnected, "alpha", nil)
		if got := call(t, m, "whoami", ""); got != "beta" {
			t.Errorf("whoami = %q, want beta (names never move)", got)
		}
		if got := call(t, m, "alpha__whoami", ""); got != "alpha" {
			t.Errorf("alpha__whoami = %q, want alpha", got)
		}
	})
}

func TestToolListChanged(t *testing.T) {
	t.Parallel()
	ts := &testServer{label: "web"}
	h, srv := ts.newHTTPHandler()
	hs := httptest.NewServer(h)
	t.Cleanup(hs.Close)
	m, _ := startManager(t, ManagerConfig{Servers: []ServerConfig{{Name: "web", URL: hs.URL}}})
	mcp.AddTool(srv, &mcp.Tool{Name: "late", Description: "Added after connect."},
		func(context.Context, *mcp.CallToolRequest, noArgs) (*mcp.CallToolResult, any, error) {
			return textResult("here"), nil, nil
		})
	// The refresh has no event of its own: poll, with a deadline.
	deadline := time.Now().Add(waitLimit)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !slices.Contains(toolNames(m), "late") {
		if time.Now().After(deadline) {
			t.Fatalf("tool list not refreshed; tools %v", toolNames(m))
		}
		<-tick.C
	}
	if got := call(t, m, "late", ""); got != "here" {
		t.Errorf("late = %q, want here", got)
	}
	if got, want := m.Status()[0].Tools, len(testToolNames)+1; got != want {
		t.Errorf("Status tools = %d, want %d", got, want)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()

	t.Run("CloseBeforeStart", func(t *testing.T) {
		t.Parallel()
		m, err := NewManager(ManagerConfig{Servers: []ServerConfig{stdioServer("local")}})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("Close before Start: %v", err)
		}
		if err := m.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := m.Start(t.Context()); err == nil {
			t.Error("Start after Close returned no error")
		}
	})

	t.Run("StartTwice", func(t *testing.T) {
		t.Parallel()
		m, _ := startManager(t, ManagerConfig{})
		if err := m.Start(t.Context()); err == nil {
			t.Error("second Start returned no error")
		}
		if !m.AllConnected() {
			t.Error("AllConnected = false with no servers")
		}
		if got := m.Status(); len(got) != 0 {
			t.Errorf("Status = %v, want empty", got)
		}
	})

	t.Run("InvalidConfig", func(t *testing.T) {
		t.Parallel()
		_, err := NewManager(ManagerConfig{Servers: []ServerConfig{stdioServer("a"), stdioServer("a")}})
		if err == nil || !strings.Contains(err.Error(), `name "a" is used by another server`) {
			t.Errorf("duplicate names: err = %v", err)
		}
		_, err = NewManager(ManagerConfig{Servers: []ServerConfig{{Name: "x", TransportType: TransportSSE}}})
		if err == nil || !strings.Contains(err.Error(), "url is required") {
			t.Errorf("missing url: err = %v", err)
		}
	})
}

// TestNPXServerEverything runs the reference MCP server from npm, as users
// do with "command: npx".
func TestNPXServerEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the npm server in -short mode")
	}
	npx, err := exec.LookPath("npx")
	if err != nil {
		t.Skip("npx not found in PATH; skipping the npm MCP server test")
	}
	const pkg = "@modelcontextprotocol/server-everything@2026.8.31"
	const installLimit = 3 * time.Minute
	m, _ := startManager(t, ManagerConfig{
		Servers:        []ServerConfig{{Name: "everything", Command: npx, Args: []string{"-y", pkg}}},
		ConnectTimeout: installLimit,
		LookupEnvFunc:  os.LookupEnv, // npx needs PATH and HOME
	})
	if st := m.Status()[0]; !st.Connected {
		t.Skipf("could not start %s with npx within %s: %s", pkg, installLimit, st.Error)
	}
	if len(m.Tools()) == 0 {
		t.Fatal("the server listed no tools")
	}
	out, err := toolNamed(t, m, "echo").Call(t.Context(), []byte(`{"message":"hello from omniserve"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "hello from omniserve") {
		t.Errorf("echo = %q, want it to contain the message", out)
	}
}
