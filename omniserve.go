// Package omniserve serves an LLM agent as a production REST and
// Server-Sent-Events API.
//
// Define an agent with [NewAgent], give it Go functions as tools with a
// [ToolRegistry], and serve it with [New] and [Server.Start]:
//
//	tools := omniserve.NewToolRegistry()
//	_ = tools.Register("greet", "Greet someone by name.", func(ctx context.Context, in struct {
//		Name string `json:"name"`
//	}) (string, error) {
//		return "Hello, " + in.Name + "!", nil
//	})
//	agent, err := omniserve.NewAgent(omniserve.AgentConfig{
//		Name:              "greeter",
//		SystemInstruction: "You greet people.",
//		Model:             omniserve.ModelConfig{Provider: "openai", Model: "gpt-4o-mini"},
//		Tools:             tools,
//	})
//	...
//	err = omniserve.New(agent, omniserve.Config{Port: 8000}).Start(ctx)
//
// OMNICOREAGENT_SERVE_* environment variables always override [Config]
// values, as they do for the omniserve command.
package omniserve

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/omniserve/omniserve/internal/app"
	"github.com/omniserve/omniserve/internal/config"
	"github.com/omniserve/omniserve/internal/tool"
	"github.com/omniserve/omniserve/internal/tool/builtin"
	"github.com/omniserve/omniserve/internal/tool/mcptool"
)

// ModelConfig chooses the model an agent talks to.
type ModelConfig struct {
	// Provider is "openai", "gemini", "ollama", "openai_compatible" (any
	// server speaking the OpenAI Chat Completions API; set BaseURL) or
	// "echo" (offline and deterministic, for demos and tests).
	Provider string
	// Model is the provider's model name, e.g. "gpt-4o-mini".
	Model string
	// BaseURL points the OpenAI-compatible adapter at another server,
	// e.g. "http://localhost:11434/v1" for Ollama or a vLLM endpoint.
	BaseURL string
	// Temperature is nil for the provider's default.
	Temperature *float64
	// MaxTokens caps each completion; zero means the provider's default.
	MaxTokens int
	// APIKeyEnv names the variable holding the key. Defaults to LLM_API_KEY.
	APIKeyEnv string
}

// AgentConfig defines an agent.
type AgentConfig struct {
	// Name identifies the agent. Required.
	Name string
	// SystemInstruction is the system prompt.
	SystemInstruction string
	// Model is the model the agent uses. Required.
	Model ModelConfig
	// Tools the agent may call; nil means none.
	Tools *ToolRegistry
	// MCPServers are MCP servers whose tools the agent may call. They are
	// connected by NewAgent; one that is down keeps being retried.
	MCPServers []MCPServerConfig
	// MaxSteps caps model calls per run. Defaults to 10.
	MaxSteps int
	// LookupEnv reads the model key's variable. Defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// MCPServerConfig is one MCP server. The field names follow the agent
// file's mcp_servers keys.
type MCPServerConfig struct {
	// Name identifies the server; its tools keep their own names unless two
	// servers clash, when the later one's become "<server>__<tool>".
	Name string
	// TransportType is "stdio", "streamable_http" or "sse".
	TransportType string
	// Command and Args start a stdio server.
	Command string
	Args    []string
	// Env is added to the stdio server's (minimal) environment.
	Env map[string]string
	// URL and Headers reach an HTTP server.
	URL     string
	Headers map[string]string
	// Timeout bounds connecting and each call. Defaults to 30s.
	Timeout time.Duration
}

// ToolRegistry holds the tools of an agent.
type ToolRegistry struct {
	reg *tool.Registry
}

// NewToolRegistry returns an empty registry.
func NewToolRegistry() *ToolRegistry { return &ToolRegistry{reg: tool.NewRegistry()} }

// Register adds a Go function as a tool. fn is a func(context.Context, T)
// (R, error) or a func(T) (R, error) where T is a struct: the tool's JSON
// Schema is derived from T's fields and their json and jsonschema tags. A
// string result is passed to the model as is; anything else as JSON.
func (r *ToolRegistry) Register(name, description string, fn any) error {
	t, err := tool.NewFunc(name, description, fn)
	if err != nil {
		return err
	}
	return r.reg.Add(t)
}

// RegisterBuiltin adds a built-in tool by name: "calculate" or "get_time".
func (r *ToolRegistry) RegisterBuiltin(name string) error {
	t, err := builtin.New(name)
	if err != nil {
		return err
	}
	return r.reg.Add(t)
}

// Agent is a built agent, ready to serve.
type Agent struct {
	a *app.Agent
}

// NewAgent builds an agent. Its session memory and event log are kept in
// memory.
func NewAgent(cfg AgentConfig) (*Agent, error) {
	var tools *tool.Registry
	if cfg.Tools != nil {
		tools = cfg.Tools.reg
	}
	m := cfg.Model
	servers := make([]mcptool.ServerConfig, 0, len(cfg.MCPServers))
	for _, s := range cfg.MCPServers {
		servers = append(servers, mcptool.ServerConfig{
			Name: s.Name, TransportType: s.TransportType, Command: s.Command, Args: s.Args,
			Env: s.Env, URL: s.URL, Headers: s.Headers, Timeout: s.Timeout,
		})
	}
	a, err := app.NewAgent(context.Background(), app.AgentSpec{
		Name:              cfg.Name,
		SystemInstruction: cfg.SystemInstruction,
		Model: app.ModelSpec{
			Provider: m.Provider, Model: m.Model, BaseURL: m.BaseURL,
			Temperature: m.Temperature, MaxTokens: m.MaxTokens, APIKeyEnv: m.APIKeyEnv,
		},
		Tools:      tools,
		MCPServers: servers,
		MaxSteps:   cfg.MaxSteps,
	}, lookupOr(cfg.LookupEnv), cfg.Logger)
	if err != nil {
		return nil, err
	}
	return &Agent{a: a}, nil
}

// Name is the agent's name.
func (a *Agent) Name() string { return a.a.Runner.Name() }

// ToolCount is the number of tools the agent can call.
func (a *Agent) ToolCount() int { return a.a.Runner.Tools().Len() }

// Close disconnects the agent's MCP servers and stops their processes.
func (a *Agent) Close(ctx context.Context) error { return a.a.Close(ctx) }

// Config configures a [Server]. Zero values mean the defaults, and the
// OMNICOREAGENT_SERVE_* environment variables override every field.
type Config struct {
	// Host to listen on. Defaults to 0.0.0.0.
	Host string
	// Port to listen on. Defaults to 8000.
	Port int
	// APIPrefix mounts the agent routes under a path such as "/api/v1".
	APIPrefix string
	// AuthToken, when set, requires "Authorization: Bearer <token>" on
	// every route except /health, /ready, /openapi.json and /prometheus.
	AuthToken string
	// RequestTimeout bounds one run. Defaults to 300s.
	RequestTimeout time.Duration
	// MaxBodyBytes caps request bodies. Defaults to 1 MiB.
	MaxBodyBytes int64
	// ShutdownGrace is how long in-flight requests may take to finish after
	// Start's context ends. Defaults to 30s.
	ShutdownGrace time.Duration
	// CORSOrigins are the origins allowed to call from a browser. Defaults
	// to ["*"].
	CORSOrigins []string
	// RateLimit, when positive, allows each client that many requests per
	// 60 seconds.
	RateLimit int
	// DisableDocs turns off /docs and /redoc.
	DisableDocs bool
	// LookupEnv reads the environment. Defaults to os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Logger receives logs; nil discards them.
	Logger *slog.Logger
}

// Server serves one agent.
type Server struct {
	srv *app.Server
	err error
}

// New builds a server for agent. Configuration errors are reported by
// [Server.Start] and [Server.Err].
func New(agent *Agent, cfg Config) *Server {
	if agent == nil {
		return &Server{err: errors.New("omniserve: agent is required")}
	}
	code := config.Default()
	code.Host = cmp.Or(cfg.Host, code.Host)
	code.Port = cmp.Or(cfg.Port, code.Port)
	code.APIPrefix = cmp.Or(cfg.APIPrefix, code.APIPrefix)
	if cfg.AuthToken != "" {
		code.AuthEnabled, code.AuthToken = true, cfg.AuthToken
	}
	code.RequestTimeout = cmp.Or(cfg.RequestTimeout, code.RequestTimeout)
	code.MaxBodyBytes = cmp.Or(cfg.MaxBodyBytes, code.MaxBodyBytes)
	code.ShutdownGrace = cmp.Or(cfg.ShutdownGrace, code.ShutdownGrace)
	if len(cfg.CORSOrigins) > 0 {
		code.CORSOrigins = cfg.CORSOrigins
	}
	if cfg.RateLimit > 0 {
		code.RateLimitEnabled, code.RateLimitRequests, code.RateLimitWindow = true, cfg.RateLimit, time.Minute
	}
	if cfg.DisableDocs {
		code.EnableDocs, code.EnableRedoc = false, false
	}
	loaded, err := config.Load(code, lookupOr(cfg.LookupEnv))
	if err != nil {
		return &Server{err: err}
	}
	srv, err := app.NewServer(agent.a, loaded, cfg.Logger)
	if err != nil {
		return &Server{err: err}
	}
	return &Server{srv: srv}
}

// Err reports why the server cannot run, or nil.
func (s *Server) Err() error { return s.err }

// Start listens and serves until ctx ends, then shuts down gracefully.
func (s *Server) Start(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	return s.srv.ListenAndServe(ctx)
}

// ListenAndServe is [Server.Start].
func (s *Server) ListenAndServe(ctx context.Context) error { return s.Start(ctx) }

// Addr is the address the server listens on, host:port.
func (s *Server) Addr() string {
	if s.err != nil {
		return ""
	}
	return s.srv.Addr()
}

// Handler returns the server's HTTP handler, for tests or an http.Server of
// your own. It reports ready at once. If the configuration was invalid it
// answers every request with 500 and the error.
func (s *Server) Handler() http.Handler {
	if s.err != nil {
		err := s.err
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "omniserve: "+err.Error(), http.StatusInternalServerError)
		})
	}
	s.srv.SetReady()
	return s.srv.Handler()
}

func lookupOr(f func(string) (string, bool)) func(string) (string, bool) {
	if f != nil {
		return f
	}
	return os.LookupEnv
}
