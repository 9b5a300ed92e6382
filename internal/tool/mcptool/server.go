package mcptool

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// stdioWaitDelay bounds how long stopping a stdio server waits for its
// output pipes after the process has exited, in case a grandchild holds
// them open.
const stdioWaitDelay = 5 * time.Second

// minSecretLen is the shortest header or env value scrubbed from error text;
// shorter values ("1", "true") are not secrets and would mangle messages.
const minSecretLen = 6

// baseEnvKeys are the variables a stdio server inherits from the manager's
// environment, after the MCP Python SDK's default: enough to find programs
// and a home directory, nothing that usually holds a secret.
var baseEnvKeys = func() []string {
	if runtime.GOOS == "windows" {
		return []string{
			"APPDATA", "HOMEDRIVE", "HOMEPATH", "LOCALAPPDATA", "PATH",
			"PATHEXT", "PROCESSOR_ARCHITECTURE", "SYSTEMDRIVE", "SYSTEMROOT",
			"TEMP", "USERNAME", "USERPROFILE",
		}
	}
	return []string{"HOME", "LOGNAME", "PATH", "SHELL", "TERM", "TMPDIR", "USER"}
}()

// toolInfo is one tool as the server last listed it.
type toolInfo struct {
	name        string
	description string
	schema      json.RawMessage
}

// server is the state of one configured MCP server.
type server struct {
	cfg            ServerConfig
	index          int
	callTimeout    time.Duration
	connectTimeout time.Duration
	logger         *slog.Logger
	secrets        []string

	// httpTransport is the server's own connection pool (nil for stdio), so
	// Stop can close its idle connections.
	httpTransport *http.Transport
	httpClient    *http.Client

	// probe asks the supervisor to ping the session: a call failed in a way
	// that suggests the session is gone. Capacity 1.
	probe chan struct{}
	// refresh asks the supervisor to list the tools again. Capacity 1.
	refresh chan struct{}

	mu      sync.Mutex
	session *mcp.ClientSession // nil while disconnected
	tools   []toolInfo         // latest listing; kept while disconnected
	errText string             // why the server is not connected
}

func newServer(cfg ServerConfig, index int, mcfg *ManagerConfig) *server {
	cfg.TransportType = cfg.transport()
	s := &server{
		cfg:            cfg,
		index:          index,
		callTimeout:    cmp.Or(cfg.Timeout, DefaultTimeout),
		connectTimeout: cmp.Or(cfg.Timeout, mcfg.ConnectTimeout),
		logger:         mcfg.Logger.With("server", cfg.Name),
		probe:          make(chan struct{}, 1),
		refresh:        make(chan struct{}, 1),
		errText:        "not connected yet",
	}
	for _, v := range cfg.Headers {
		s.addSecret(v)
	}
	for _, v := range cfg.Env {
		s.addSecret(v)
	}
	if u, err := url.Parse(cfg.URL); err == nil {
		s.addSecret(u.RawQuery)
		if p, ok := u.User.Password(); ok {
			s.addSecret(p)
		}
	}
	if cfg.TransportType != TransportStdio {
		s.httpTransport = newHTTPTransport()
		s.httpClient = &http.Client{Transport: &headerTransport{base: s.httpTransport, headers: cfg.Headers}}
	}
	return s
}

func (s *server) addSecret(v string) {
	if len(v) >= minSecretLen {
		s.secrets = append(s.secrets, v)
	}
}

// newHTTPTransport returns a connection pool of the server's own.
func newHTTPTransport() *http.Transport {
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		return t.Clone()
	}
	return &http.Transport{Proxy: http.ProxyFromEnvironment}
}

// newTransport returns a fresh SDK transport for one connect attempt.
func (s *server) newTransport(lookupEnv func(string) (string, bool)) mcp.Transport {
	switch s.cfg.TransportType {
	case TransportStreamableHTTP:
		return &mcp.StreamableClientTransport{Endpoint: s.cfg.URL, HTTPClient: s.httpClient}
	case TransportSSE:
		return &mcp.SSEClientTransport{Endpoint: s.cfg.URL, HTTPClient: s.httpClient}
	}
	cmd := exec.Command(s.cfg.Command, s.cfg.Args...)
	cmd.Env = s.env(lookupEnv)
	cmd.WaitDelay = stdioWaitDelay
	if s.logger.Enabled(context.Background(), slog.LevelDebug) {
		cmd.Stderr = &stderrLogger{logger: s.logger}
	}
	return &stdioTransport{cmd: cmd}
}

// env is the environment of a stdio server: the safe base, then cfg.Env.
func (s *server) env(lookupEnv func(string) (string, bool)) []string {
	vars := make(map[string]string, len(baseEnvKeys)+len(s.cfg.Env))
	for _, k := range baseEnvKeys {
		if v, ok := lookupEnv(k); ok {
			vars[k] = v
		}
	}
	maps.Copy(vars, s.cfg.Env)
	out := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, k+"="+vars[k])
	}
	return out
}

// scrub returns err with every configured secret value removed from its
// text; errors.Is and errors.As still see the original chain.
func (s *server) scrub(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, v := range s.secrets {
		clean = strings.ReplaceAll(clean, v, "[redacted]")
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

// scrubbedError is an error whose text had secrets removed.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// current returns the live session, or nil.
func (s *server) current() *mcp.ClientSession {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.session
}

func (s *server) setConnected(cs *mcp.ClientSession, tools []toolInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session, s.tools, s.errText = cs, tools, ""
}

func (s *server) setTools(tools []toolInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tools = tools
}

func (s *server) setDisconnected(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.session, s.errText = nil, reason
}

// info returns the latest listing of the tool called name.
func (s *server) info(name string) (toolInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tools {
		if t.name == name {
			return t, true
		}
	}
	return toolInfo{}, false
}

func (s *server) status() ServerStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	return ServerStatus{Name: s.cfg.Name, Connected: s.session != nil, Tools: len(s.tools), Error: s.errText}
}

// signal sends on a capacity-1 channel without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// headerTransport adds configured headers to each request that lacks them,
// leaving the SDK's own protocol headers alone.
type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

// RoundTrip implements [http.RoundTripper].
func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if len(t.headers) == 0 {
		return t.base.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	for k, v := range t.headers {
		if r.Header.Get(k) == "" {
			r.Header.Set(k, v)
		}
	}
	return t.base.RoundTrip(r)
}

// maxStderrLine caps one logged stderr line of a stdio server.
const maxStderrLine = 4096

// stderrLogger logs a stdio server's stderr, one debug record per line.
// exec.Cmd writes to it from a single goroutine.
type stderrLogger struct {
	logger *slog.Logger
	buf    []byte
}

// Write implements [io.Writer].
func (w *stderrLogger) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.log(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > maxStderrLine {
		w.log(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *stderrLogger) log(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(line) > maxStderrLine {
		line = line[:maxStderrLine]
	}
	if len(line) > 0 {
		w.logger.Debug("mcp server stderr", "line", string(line))
	}
}

// toolInfos converts a server's tool listing.
func toolInfos(tools []*mcp.Tool) []toolInfo {
	out := make([]toolInfo, 0, len(tools))
	for _, t := range tools {
		out = append(out, toolInfo{name: t.Name, description: t.Description, schema: schemaJSON(t.InputSchema)})
	}
	return out
}

// emptyObjectSchema stands in for a missing or unencodable input schema.
var emptyObjectSchema = json.RawMessage(`{"type":"object"}`)

func schemaJSON(schema any) json.RawMessage {
	if schema == nil {
		return emptyObjectSchema
	}
	b, err := json.Marshal(schema)
	if err != nil || string(b) == "null" {
		return emptyObjectSchema
	}
	return b
}

// describe names the server for logs and errors without its URL, whose
// query may carry a token.
func (s *server) describe() string {
	if s.cfg.TransportType == TransportStdio {
		return fmt.Sprintf("%s (stdio: %s)", s.cfg.Name, s.cfg.Command)
	}
	return fmt.Sprintf("%s (%s)", s.cfg.Name, s.cfg.TransportType)
}
