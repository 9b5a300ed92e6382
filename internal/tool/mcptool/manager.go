package mcptool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/omniserve/omniserve/internal/tool"
	"github.com/omniserve/omniserve/internal/version"
)

// errStopped is the cause given to the background goroutines by Stop.
var errStopped = errors.New("mcp manager stopped")

// errConnectTimeout is the cause of a connect attempt cut off by its timeout.
var errConnectTimeout = errors.New("connect timed out")

// ServerStatus is one server's entry in GET /ready's mcp_servers.
type ServerStatus struct {
	// Name is the server's configured name.
	Name string `json:"name"`
	// Connected reports whether the server has a live session.
	Connected bool `json:"connected"`
	// Tools is the number of tools in the server's latest listing, kept
	// while it is disconnected.
	Tools int `json:"tools"`
	// Error says why the server is not connected; empty when it is.
	Error string `json:"error"`
}

// toolKey identifies a tool by its server and its name on that server.
type toolKey struct {
	server int
	name   string
}

// Manager connects to MCP servers, keeps them connected and exposes their
// tools. Create one with [NewManager]; it is safe for concurrent use.
type Manager struct {
	cfg     ManagerConfig
	logger  *slog.Logger
	client  *mcp.Client
	servers []*server

	// mu guards the name table. Names are handed out only once namesOpen is
	// set, by Start, so that the servers connected at startup are named in
	// configuration order.
	mu        sync.Mutex
	namesOpen bool
	exposed   []*Tool
	byName    map[string]*Tool
	byKey     map[toolKey]*Tool

	// life guards the start and stop state.
	life    sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelCauseFunc
	done    chan struct{} // closed when every background goroutine has ended
}

// NewManager validates cfg and returns a manager that has not connected to
// anything yet; call [Manager.Start].
func NewManager(cfg ManagerConfig) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("mcp manager config: %w", err)
	}
	m := &Manager{
		cfg:    cfg,
		logger: cfg.Logger.With("component", "mcptool"),
		byName: make(map[string]*Tool),
		byKey:  make(map[toolKey]*Tool),
	}
	cfg.Logger = m.logger
	for i, sc := range cfg.Servers {
		m.servers = append(m.servers, newServer(sc, i, &cfg))
	}
	m.client = mcp.NewClient(
		&mcp.Implementation{Name: "omniserve", Version: version.String()},
		&mcp.ClientOptions{
			Logger:                 m.logger,
			ToolListChangedHandler: m.toolListChanged,
		},
	)
	return m, nil
}

// Start connects to every server concurrently, each attempt bounded by its
// connect timeout, and returns once every server has either connected and
// listed its tools or failed its first attempt. Servers that failed keep
// being retried in the background until [Manager.Stop]; Start itself does
// not fail because a server is down.
//
// ctx bounds only the wait for the first attempts: the background work runs
// until Stop, which must be called even when Start returns an error. Start
// returns an error if ctx ends first, or if the manager was already started
// or stopped.
func (m *Manager) Start(ctx context.Context) error {
	m.life.Lock()
	if m.stopped {
		m.life.Unlock()
		return errors.New("start mcp manager: already stopped")
	}
	if m.started {
		m.life.Unlock()
		return errors.New("start mcp manager: already started")
	}
	m.started = true
	runCtx, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.done = make(chan struct{})
	first := make(chan struct{}, len(m.servers))
	var wg sync.WaitGroup
	for _, s := range m.servers {
		wg.Go(func() { m.supervise(runCtx, s, first) })
	}
	go func() {
		wg.Wait()
		close(m.done)
	}()
	m.life.Unlock()

	defer func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.namesOpen = true
		for _, s := range m.servers {
			m.assignLocked(s)
		}
	}()
	for range m.servers {
		select {
		case <-first:
		case <-ctx.Done():
			return fmt.Errorf("start mcp manager: %w", context.Cause(ctx))
		}
	}
	return nil
}

// Stop closes every session, stops stdio servers and ends the background
// goroutines, waiting for them until ctx ends. It is safe to call before
// Start and more than once.
func (m *Manager) Stop(ctx context.Context) error {
	m.life.Lock()
	m.stopped = true
	cancel, done := m.cancel, m.done
	m.life.Unlock()
	if cancel == nil {
		return nil
	}
	cancel(errStopped)
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("stop mcp manager: %w", context.Cause(ctx))
	}
	for _, s := range m.servers {
		if s.httpTransport != nil {
			s.httpTransport.CloseIdleConnections()
		}
	}
	return nil
}

// Close is Stop without a deadline.
func (m *Manager) Close() error {
	return m.Stop(context.Background())
}

// Status reports every server, in configuration order.
func (m *Manager) Status() []ServerStatus {
	out := make([]ServerStatus, 0, len(m.servers))
	for _, s := range m.servers {
		out = append(out, s.status())
	}
	return out
}

// AllConnected reports whether every server is connected; true when there
// are none.
func (m *Manager) AllConnected() bool {
	for _, s := range m.servers {
		if s.current() == nil {
			return false
		}
	}
	return true
}

// Tools returns one [tool.Tool] per exposed MCP tool, in the order names
// were handed out: servers in configuration order at Start, then tools of
// servers that connected later. Each is a *[Tool].
func (m *Manager) Tools() []tool.Tool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]tool.Tool, 0, len(m.exposed))
	for _, t := range m.exposed {
		out = append(out, t)
	}
	return out
}

// assignLocked hands out names to s's listed tools that have none yet. m.mu
// must be held.
func (m *Manager) assignLocked(s *server) {
	if !m.namesOpen {
		return
	}
	s.mu.Lock()
	tools := s.tools
	s.mu.Unlock()
	for _, ti := range tools {
		key := toolKey{server: s.index, name: ti.name}
		if _, ok := m.byKey[key]; ok {
			continue
		}
		name := ti.name
		if _, taken := m.byName[name]; taken {
			name = s.cfg.Name + "__" + ti.name
		}
		if other, taken := m.byName[name]; taken {
			m.logger.Warn("mcp tool not exposed: name already taken",
				"server", s.cfg.Name, "tool", ti.name, "name", name, "taken_by", other.s.cfg.Name)
			continue
		}
		t := &Tool{m: m, s: s, name: name, remote: ti.name, description: ti.description, schema: ti.schema}
		m.byName[name] = t
		m.byKey[key] = t
		m.exposed = append(m.exposed, t)
	}
}

// supervise keeps s connected until ctx ends. It reports on first once,
// after the first connect attempt.
func (m *Manager) supervise(ctx context.Context, s *server, first chan<- struct{}) {
	reported := false
	reportFirst := func() {
		if !reported {
			reported = true
			first <- struct{}{}
		}
	}
	defer reportFirst()

	attempt := 0
	for {
		if attempt > 0 && !sleep(ctx, m.backoff(attempt)) {
			s.setDisconnected(errStopped.Error())
			return
		}
		sess, err := m.connect(ctx, s)
		if ctx.Err() != nil {
			if sess != nil {
				sess.close()
			}
			s.setDisconnected(errStopped.Error())
			return
		}
		if err != nil {
			err = s.scrub(err)
			s.setDisconnected(err.Error())
			if attempt > 0 {
				m.emit(Event{Type: EventReconnect, Server: s.cfg.Name, Attempt: attempt, Error: err.Error()})
			}
			m.logger.Warn("mcp server connect failed", "server", s.describe(), "attempt", attempt, "error", err)
			reportFirst()
			attempt++
			continue
		}

		s.setConnected(sess.cs, sess.tools)
		m.mu.Lock()
		m.assignLocked(s)
		m.mu.Unlock()
		if attempt > 0 {
			m.emit(Event{Type: EventReconnect, Server: s.cfg.Name, Attempt: attempt})
		}
		m.emit(Event{Type: EventConnected, Server: s.cfg.Name, Attempt: attempt})
		m.logger.Info("mcp server connected", "server", s.describe(), "tools", len(sess.tools), "attempt", attempt)
		reportFirst()

		if !m.watch(ctx, s, sess) {
			return
		}
		attempt = 1
	}
}

// session is a live client session and the context that bounds its
// transport (the SSE transport's stream lives on the connect context).
type session struct {
	cs     *mcp.ClientSession
	cancel context.CancelCauseFunc
	tools  []toolInfo
}

func (s *session) close() {
	_ = s.cs.Close()
	s.cancel(errStopped)
}

// connect makes one connect attempt: connect, initialize and list tools,
// bounded by the server's connect timeout.
func (m *Manager) connect(ctx context.Context, s *server) (*session, error) {
	sctx, cancel := context.WithCancelCause(ctx)
	timer := time.AfterFunc(s.connectTimeout, func() { cancel(errConnectTimeout) })
	cs, tools, err := m.open(sctx, s)
	if !timer.Stop() && err == nil {
		// The timeout fired after the attempt succeeded, and may have cut
		// the session's transport: start again.
		_ = cs.Close()
		err = errConnectTimeout
	}
	if err != nil {
		if errors.Is(context.Cause(sctx), errConnectTimeout) {
			err = fmt.Errorf("connect: timed out after %s", s.connectTimeout)
		}
		cancel(err)
		return nil, err
	}
	return &session{cs: cs, cancel: cancel, tools: tools}, nil
}

func (m *Manager) open(ctx context.Context, s *server) (*mcp.ClientSession, []toolInfo, error) {
	cs, err := m.client.Connect(ctx, s.newTransport(m.cfg.LookupEnvFunc), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	tools, err := listTools(ctx, cs)
	if err != nil {
		_ = cs.Close()
		return nil, nil, err
	}
	return cs, tools, nil
}

func listTools(ctx context.Context, cs *mcp.ClientSession) ([]toolInfo, error) {
	var tools []*mcp.Tool
	for t, err := range cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("list tools: %w", err)
		}
		tools = append(tools, t)
	}
	return toolInfos(tools), nil
}

// watch blocks while sess is alive. When the session is lost it marks s
// disconnected at once, emits EventDisconnected, closes the session and
// returns true; when ctx ends it closes the session and returns false.
func (m *Manager) watch(ctx context.Context, s *server, sess *session) bool {
	ended := make(chan error, 1)
	go func() { ended <- sess.cs.Wait() }()
	var tick <-chan time.Time
	if m.cfg.PingInterval > 0 {
		t := time.NewTicker(m.cfg.PingInterval)
		defer t.Stop()
		tick = t.C
	}
	lost := func(reason error) {
		reason = s.scrub(reason)
		s.setDisconnected(reason.Error())
		m.logger.Warn("mcp server disconnected", "server", s.describe(), "error", reason)
		m.emit(Event{Type: EventDisconnected, Server: s.cfg.Name, Error: reason.Error()})
		sess.close()
	}
	for {
		var probe error
		select {
		case <-ctx.Done():
			s.setDisconnected(errStopped.Error())
			sess.close()
			<-ended
			return false
		case err := <-ended:
			if err == nil {
				err = errors.New("session closed")
			} else {
				err = fmt.Errorf("session closed: %w", err)
			}
			lost(err)
			return true
		case <-tick:
			probe = m.ping(ctx, s, sess.cs)
		case <-s.probe:
			probe = m.ping(ctx, s, sess.cs)
		case <-s.refresh:
			m.refreshTools(ctx, s, sess.cs)
		}
		// A JSON-RPC error answer still shows the server is there.
		if probe != nil && transportFailure(probe) {
			if ctx.Err() != nil {
				continue // Stop cut the ping short; the next pass sees ctx.
			}
			lost(probe)
			<-ended
			return true
		}
	}
}

func (m *Manager) ping(ctx context.Context, s *server, cs *mcp.ClientSession) error {
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	if err := cs.Ping(ctx, nil); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// refreshTools lists s's tools again after the server said they changed.
func (m *Manager) refreshTools(ctx context.Context, s *server, cs *mcp.ClientSession) {
	ctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	tools, err := listTools(ctx, cs)
	if err != nil {
		m.logger.Warn("mcp tool list refresh failed", "server", s.describe(), "error", s.scrub(err))
		return
	}
	s.setTools(tools)
	m.mu.Lock()
	m.assignLocked(s)
	m.mu.Unlock()
}

// toolListChanged is the SDK's hook for notifications/tools/list_changed.
func (m *Manager) toolListChanged(_ context.Context, req *mcp.ToolListChangedRequest) {
	for _, s := range m.servers {
		if cs := s.current(); cs != nil && cs == req.Session {
			signal(s.refresh)
			return
		}
	}
}

func (m *Manager) emit(e Event) {
	if m.cfg.OnEventFunc != nil {
		m.cfg.OnEventFunc(e)
	}
}

// backoff is the wait before reconnect attempt n (n >= 1): the minimum,
// doubled per earlier failed attempt, capped at the maximum, less up to a
// fifth at random so that replicas do not retry in step.
func (m *Manager) backoff(n int) time.Duration {
	d := backoffBase(n, m.cfg.ReconnectBackoffMin, m.cfg.ReconnectBackoffMax)
	if d <= 0 {
		return 0
	}
	return d - rand.N(d/5+1)
}

// backoffBase is the un-jittered wait before attempt n.
func backoffBase(n int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	return min(d, hi)
}

// sleep waits for d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
