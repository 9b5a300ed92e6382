package mcptool

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
)

// stdioServerEnv makes the test binary run as an MCP stdio server instead of
// running the tests; the stdio tests start it as their child.
const stdioServerEnv = "MCPTOOL_TEST_STDIO_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(stdioServerEnv) == "1" {
		runStdioServer()
		return
	}
	goleak.VerifyTestMain(m)
}

// runStdioServer serves the test tools over stdin and stdout until stdin
// closes, then exits.
func runStdioServer() {
	srv := newMCPServer(&testServer{label: "stdio"})
	if err := srv.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
		fmt.Fprintln(os.Stderr, "stdio test server:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// waitLimit stops a broken test from hanging; no test expects to get near it.
const waitLimit = time.Minute

// testServer holds what a test observes of one in-test MCP server.
type testServer struct {
	// label is what the whoami tool returns.
	label string
	// blockStarted and blockEnded receive when the block tool starts and
	// when it sees its context end. Nil means not observed.
	blockStarted chan struct{}
	blockEnded   chan struct{}
	// apiKey holds the last X-Api-Key header the HTTP handler saw.
	apiKey atomic.Value
}

type addArgs struct {
	A int `json:"a" jsonschema:"first addend"`
	B int `json:"b" jsonschema:"second addend"`
}

type noArgs struct{}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// newMCPServer builds the server every test talks to: add, fail, block,
// whoami, pid and exit.
func newMCPServer(ts *testServer) *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "mcptool-test", Version: "v0.0.1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "add", Description: "Adds two integers."},
		func(_ context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
			return textResult(strconv.Itoa(in.A + in.B)), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail", Description: "Always fails."},
		func(context.Context, *mcp.CallToolRequest, noArgs) (*mcp.CallToolResult, any, error) {
			res := textResult("boom")
			res.IsError = true
			return res, nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "block", Description: "Blocks until cancelled."},
		func(ctx context.Context, _ *mcp.CallToolRequest, _ noArgs) (*mcp.CallToolResult, any, error) {
			notify(ctx, ts.blockStarted)
			<-ctx.Done()
			notify(context.Background(), ts.blockEnded)
			return nil, nil, ctx.Err()
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "Names the server."},
		func(context.Context, *mcp.CallToolRequest, noArgs) (*mcp.CallToolResult, any, error) {
			return textResult(ts.label), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "pid", Description: "Returns the server's process ID."},
		func(context.Context, *mcp.CallToolRequest, noArgs) (*mcp.CallToolResult, any, error) {
			return textResult(strconv.Itoa(os.Getpid())), nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "exit", Description: "Ends the server's process."},
		func(context.Context, *mcp.CallToolRequest, noArgs) (*mcp.CallToolResult, any, error) {
			os.Exit(3)
			return nil, nil, nil
		})
	return srv
}

// notify sends on ch, if ch is set, unless ctx ends first.
func notify(ctx context.Context, ch chan struct{}) {
	if ch == nil {
		return
	}
	select {
	case ch <- struct{}{}:
	case <-ctx.Done():
	}
}

// httpHandler serves ts over streamable HTTP and records the X-Api-Key
// header of each request.
func (ts *testServer) httpHandler() http.Handler {
	h, _ := ts.newHTTPHandler()
	return h
}

// newHTTPHandler is httpHandler that also returns the MCP server, so that a
// test that drops the HTTP server can close the sessions it leaves behind.
func (ts *testServer) newHTTPHandler() (http.Handler, *mcp.Server) {
	srv := newMCPServer(ts)
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("X-Api-Key"); v != "" {
			ts.apiKey.Store(v)
		}
		h.ServeHTTP(w, r)
	}), srv
}

// liveServer is an HTTP server that can be stopped and started again on the
// same address, each time with a fresh MCP server.
type liveServer struct {
	t    *testing.T
	addr string
	ts   *testServer

	mu   sync.Mutex
	srv  *http.Server
	mcp  *mcp.Server
	done chan struct{}
}

// newLiveServer returns a stopped server on a free loopback address.
func newLiveServer(t *testing.T, ts *testServer) *liveServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	l := &liveServer{t: t, addr: addr, ts: ts}
	t.Cleanup(l.stop)
	return l
}

func (l *liveServer) url() string { return "http://" + l.addr + "/mcp" }

func (l *liveServer) start() {
	l.t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	ln, err := net.Listen("tcp", l.addr)
	if err != nil {
		l.t.Fatalf("listen again on %s: %v", l.addr, err)
	}
	h, ms := l.ts.newHTTPHandler()
	l.srv = &http.Server{Handler: h, ReadHeaderTimeout: waitLimit}
	l.mcp = ms
	l.done = make(chan struct{})
	srv, done := l.srv, l.done
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
}

// stop closes the listener, every connection and every MCP session, as a
// server process that exits would.
func (l *liveServer) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.srv == nil {
		return
	}
	_ = l.srv.Close()
	<-l.done
	for ss := range l.mcp.Sessions() {
		_ = ss.Close()
	}
	l.srv, l.mcp = nil, nil
}

// eventLog records a manager's events for tests to wait on.
type eventLog struct {
	ch chan Event
}

func newEventLog() *eventLog { return &eventLog{ch: make(chan Event, 4096)} }

// record is the OnEventFunc; it never blocks the manager.
func (l *eventLog) record(e Event) {
	select {
	case l.ch <- e:
	default:
	}
}

// waitFor consumes events until one of type typ for server satisfies ok
// (nil meaning any), and returns it.
func (l *eventLog) waitFor(t *testing.T, typ, server string, ok func(Event) bool) Event {
	t.Helper()
	limit := time.NewTimer(waitLimit)
	defer limit.Stop()
	for {
		select {
		case e := <-l.ch:
			if e.Type == typ && e.Server == server && (ok == nil || ok(e)) {
				return e
			}
		case <-limit.C:
			t.Fatalf("no %s event for server %s", typ, server)
		}
	}
}

// receive waits for a value on ch.
func receive[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	limit := time.NewTimer(waitLimit)
	defer limit.Stop()
	select {
	case v := <-ch:
		return v
	case <-limit.C:
		t.Fatalf("waiting for %s", what)
	}
	var zero T
	return zero
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// noEnv is a LookupEnvFunc for an empty environment.
func noEnv(string) (string, bool) { return "", false }

// startManager starts a manager with fast reconnects and no pings, stopped
// when the test ends.
func startManager(t *testing.T, cfg ManagerConfig) (*Manager, *eventLog) {
	t.Helper()
	events := newEventLog()
	cfg.OnEventFunc = events.record
	if cfg.ReconnectBackoffMin == 0 {
		cfg.ReconnectBackoffMin = 5 * time.Millisecond
		cfg.ReconnectBackoffMax = 50 * time.Millisecond
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = -1
	}
	if cfg.LookupEnvFunc == nil {
		cfg.LookupEnvFunc = noEnv
	}
	m, err := NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := m.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	return m, events
}

// toolNamed returns the manager's tool called name.
func toolNamed(t *testing.T, m *Manager, name string) *Tool {
	t.Helper()
	for _, tl := range m.Tools() {
		if tl.Name() == name {
			return tl.(*Tool)
		}
	}
	t.Fatalf("no tool %q", name)
	return nil
}

func toolNames(m *Manager) []string {
	var names []string
	for _, tl := range m.Tools() {
		names = append(names, tl.Name())
	}
	return names
}

// call calls the tool called name and fails the test on error.
func call(t *testing.T, m *Manager, name, args string) string {
	t.Helper()
	out, err := toolNamed(t, m, name).Call(t.Context(), []byte(args))
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	return out
}
