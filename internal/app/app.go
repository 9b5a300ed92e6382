// Package app is the composition root: it turns configuration and an agent
// definition into stores, a model, tools, the agent and the HTTP server, and
// owns the order in which they start and stop. It is the only package that
// imports backends.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/omniserve/omniserve/internal/agent"
	"github.com/omniserve/omniserve/internal/config"
	"github.com/omniserve/omniserve/internal/httpapi"
	"github.com/omniserve/omniserve/internal/memory"
	"github.com/omniserve/omniserve/internal/metrics"
	"github.com/omniserve/omniserve/internal/store/memstore"
	"github.com/omniserve/omniserve/internal/task"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/telemetry/otelexport"
	"github.com/omniserve/omniserve/internal/tool"
	"github.com/omniserve/omniserve/internal/tool/mcptool"
	"github.com/omniserve/omniserve/internal/version"
)

// AgentSpec defines an agent independently of where it came from (an agent
// file, the CLI's quickstart flags, or the Go API).
type AgentSpec struct {
	Name              string
	SystemInstruction string
	Model             ModelSpec
	Tools             *tool.Registry
	// MCPServers are connected by NewAgent; their tools join Tools.
	MCPServers []mcptool.ServerConfig
	MaxSteps   int
}

// Agent is a built agent together with the stores it writes to and the
// metrics its events feed.
type Agent struct {
	Runner *agent.Agent
	Events telemetry.Store
	Memory memory.Store
	// Metrics is the Prometheus registry of the server that serves this
	// agent; nil means a fresh one.
	Metrics *metrics.Metrics
	// MCP connects the agent's MCP servers; nil when it has none.
	MCP *mcptool.Manager

	otel *otelexport.Exporter
	// rawEvents is the event log below the metrics decorator, shared by
	// agents built from background specs.
	rawEvents telemetry.Store
	// spec is what the agent was built from.
	spec AgentSpec
	// lookup reads the environment, for agents built from stored specs.
	lookup func(string) (string, bool)
	// tasks is the task store the agent's StoreSet opened, if any.
	tasks task.Store
}

// mcpStatus adapts the MCP manager's status for /ready.
func (a *Agent) mcpStatus() func() []httpapi.MCPServerStatus {
	if a.MCP == nil {
		return nil
	}
	return func() []httpapi.MCPServerStatus {
		st := a.MCP.Status()
		out := make([]httpapi.MCPServerStatus, 0, len(st))
		for _, s := range st {
			out = append(out, httpapi.MCPServerStatus{Name: s.Name, Connected: s.Connected, Tools: s.Tools, Error: s.Error})
		}
		return out
	}
}

// Close stops what the agent started: MCP sessions and their processes,
// and the OpenTelemetry exporter (flushing its spans).
func (a *Agent) Close(ctx context.Context) error {
	if a == nil {
		return nil
	}
	var errs []error
	if a.MCP != nil {
		errs = append(errs, a.MCP.Stop(ctx))
	}
	errs = append(errs, a.otel.Shutdown(ctx))
	return errors.Join(errs...)
}

// NewAgent builds an agent on in-memory stores and connects its MCP
// servers (each within its timeout; a server that is down keeps being
// retried in the background and /ready says so). lookup reads the model's
// key variable. Call [Agent.Close] when done.
func NewAgent(ctx context.Context, spec AgentSpec, lookup func(string) (string, bool), logger *slog.Logger) (*Agent, error) {
	store := memstore.New()
	return NewAgentWithStores(ctx, spec, Stores{Events: store, Memory: store}, lookup, logger)
}

// Stores are the stores an agent and its server write to.
type Stores struct {
	Events telemetry.Store
	Memory memory.Store
	// Tasks is the background task store; nil means the one the server's
	// configuration selects.
	Tasks task.Store
}

// NewAgentWithStores is [NewAgent] on the given stores.
func NewAgentWithStores(ctx context.Context, spec AgentSpec, stores Stores, lookup func(string) (string, bool), logger *slog.Logger) (*Agent, error) {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	var otel *otelexport.Exporter
	if otelexport.Enabled(lookup) {
		var err error
		otel, err = otelexport.New(ctx, otelexport.Config{
			LookupFunc: lookup, ServiceVersion: version.String(),
			Logger: logger.With(slog.String("component", "otel")),
		})
		if err != nil {
			return nil, fmt.Errorf("opentelemetry: %w", err)
		}
	}
	// A nil exporter wraps nothing.
	ag, err := buildAgent(ctx, spec, otel.Wrap(stores.Events), stores.Memory, metrics.New(), lookup, logger)
	if err != nil {
		_ = otel.Shutdown(context.WithoutCancel(ctx))
		return nil, err
	}
	ag.otel = otel
	ag.lookup = lookup
	ag.tasks = stores.Tasks
	return ag, nil
}

// newAgentOn builds an agent that shares like's stores, exporter and
// metrics: agents of background runs built from stored specs.
func newAgentOn(ctx context.Context, spec AgentSpec, like *Agent, lookup func(string) (string, bool), logger *slog.Logger) (*Agent, error) {
	return buildAgent(ctx, spec, like.rawEvents, like.Memory, like.Metrics, lookup, logger)
}

func buildAgent(ctx context.Context, spec AgentSpec, raw telemetry.Store, mem memory.Store, m *metrics.Metrics, lookup func(string) (string, bool), logger *slog.Logger) (*Agent, error) {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	model, err := NewModel(spec.Model, lookup, logger.With(slog.String("component", "model")))
	if err != nil {
		return nil, err
	}
	tools := spec.Tools
	if tools == nil {
		tools = tool.NewRegistry()
	}
	events := observedEvents{Store: raw, m: m, tools: tools}
	var mcp *mcptool.Manager
	if len(spec.MCPServers) > 0 {
		mcp, err = startMCP(ctx, spec.MCPServers, tools, events, lookup, logger)
		if err != nil {
			return nil, err
		}
	}
	runner, err := agent.New(agent.Config{
		Name:              spec.Name,
		SystemInstruction: spec.SystemInstruction,
		Model:             model,
		Tools:             tools,
		Memory:            mem,
		Events:            events,
		MaxSteps:          spec.MaxSteps,
		Temperature:       spec.Model.Temperature,
		MaxTokens:         spec.Model.MaxTokens,
		Logger:            logger.With(slog.String("component", "agent")),
	})
	if err != nil {
		if mcp != nil {
			_ = mcp.Close()
		}
		return nil, err
	}
	return &Agent{Runner: runner, Events: events, Memory: mem, Metrics: m, MCP: mcp, rawEvents: raw, spec: spec}, nil
}

// Server serves one agent over HTTP.
type Server struct {
	cfg config.Config
	api *httpapi.API
	log *slog.Logger
	// bg is the background control plane; nil when disabled.
	bg *Background
	// closeTasks closes a task store the server opened itself.
	closeTasks func() error
}

// NewServer builds the HTTP server for ag with cfg, which must already be
// loaded and validated.
func NewServer(ag *Agent, cfg config.Config, logger *slog.Logger) (*Server, error) {
	if ag == nil || ag.Runner == nil {
		return nil, errors.New("app: agent is required")
	}
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	authToken := ""
	if cfg.AuthEnabled {
		authToken = cfg.AuthToken
	}
	rateLimit := 0
	if cfg.RateLimitEnabled {
		rateLimit = cfg.RateLimitRequests
	}
	var bg *Background
	var closeTasks func() error
	if cfg.BackgroundEnabled {
		store, closer, err := taskStoreFor(ag, cfg, logger)
		if err != nil {
			return nil, err
		}
		closeTasks = closer
		bg, err = NewBackground(BackgroundConfig{
			Config: cfg, Store: store, Served: ag, Lookup: ag.lookup,
			Logger: logger.With(slog.String("component", "background")),
		})
		if err != nil {
			if closer != nil {
				_ = closer()
			}
			return nil, err
		}
	}
	var bgService httpapi.BackgroundService
	if bg != nil {
		bgService = bg
	}
	api, err := httpapi.New(httpapi.Config{
		Background:     bgService,
		Runner:         ag.Runner,
		Events:         ag.Events,
		Metrics:        ag.Metrics,
		Version:        version.String(),
		APIPrefix:      cfg.APIPrefix,
		RequestTimeout: cfg.RequestTimeout,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		KeepAlive:      cfg.KeepAliveInterval,
		MaxStreamLag:   cfg.StreamMaxLag,
		AuthToken:      authToken,
		RequestLogging: cfg.RequestLogging,
		MCPStatusFunc:  ag.mcpStatus(),
		EnableDocs:     cfg.EnableDocs,
		EnableRedoc:    cfg.EnableRedoc,
		CORS: httpapi.CORSConfig{
			Enabled: cfg.CORSEnabled, Origins: cfg.CORSOrigins, Methods: cfg.CORSMethods,
			Headers: cfg.CORSHeaders, Credentials: cfg.CORSCredentials,
		},
		RateLimit:         rateLimit,
		RateLimitWindow:   cfg.RateLimitWindow,
		TrustedProxies:    cfg.TrustedProxies,
		MaxConcurrentRuns: cfg.MaxConcurrentRuns,
		RunAdmissionWait:  cfg.RunAdmissionWait,
		Logger:            logger.With(slog.String("component", "http")),
	})
	if err != nil {
		return nil, err
	}
	return &Server{cfg: cfg, api: api, log: logger, bg: bg, closeTasks: closeTasks}, nil
}

// Handler returns the server's handler, for tests and embedding. It answers
// /ready with 503 until [Server.SetReady] or [Server.Serve] marks it ready.
func (s *Server) Handler() http.Handler { return s.api.Handler() }

// SetReady marks the server ready without serving, for embedders that run
// their own http.Server around [Server.Handler].
func (s *Server) SetReady() { s.api.SetReady(true) }

// Addr is the configured listen address.
func (s *Server) Addr() string {
	return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
}

// ListenAndServe listens on the configured address and serves until ctx
// ends, then shuts down gracefully.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.Addr(), err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends. Shutdown then goes: /ready answers 503
// (for ShutdownDelay the server still accepts requests), the listener
// closes, in-flight requests get the grace period to finish; past it, runs
// are cancelled and streams end with an error frame.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if s.bg != nil {
		if err := s.bg.Start(context.WithoutCancel(ctx)); err != nil {
			_ = ln.Close()
			s.api.Close()
			return fmt.Errorf("start background: %w", err)
		}
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	s.api.SetReady(true)
	s.log.Info("serving", slog.String("addr", ln.Addr().String()))

	select {
	case err := <-serveErr:
		s.api.Close()
		s.stopBackground()
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down", slog.Duration("delay", s.cfg.ShutdownDelay), slog.Duration("grace", s.cfg.ShutdownGrace))
	s.api.BeginDrain()
	if s.cfg.ShutdownDelay > 0 {
		// Keep serving while /ready says 503, so load balancers move
		// traffic away before connections are refused.
		time.Sleep(s.cfg.ShutdownDelay)
	}
	graceCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	err := srv.Shutdown(graceCtx)
	if err != nil {
		// Grace is over: end runs and streams, give handlers a moment to
		// write their final frames, then drop what is left.
		s.api.Abort()
		finalCtx, cancelFinal := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelFinal()
		if err = srv.Shutdown(finalCtx); err != nil {
			_ = srv.Close()
		}
	}
	s.api.Close()
	<-serveErr
	s.stopBackground()
	s.log.Info("stopped")
	return nil
}

// stopBackground stops the background engine: in-flight runs get the
// shutdown grace period, then are cancelled (and re-queued or failed as
// their retry policy says).
func (s *Server) stopBackground() {
	if s.bg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
	defer cancel()
	if err := s.bg.Stop(ctx); err != nil {
		s.log.Warn("stop background", slog.String("error", err.Error()))
	}
	if s.closeTasks != nil {
		if err := s.closeTasks(); err != nil {
			s.log.Warn("close task store", slog.String("error", err.Error()))
		}
	}
}
