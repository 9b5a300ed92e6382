package agent

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync/atomic"
	"time"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/tool"
)

// Interface guard.
var _ Runner = (*Agent)(nil)

// Agent runs the tool-calling loop for one [Config]. It is safe for
// concurrent use: runs share nothing but the stores and the metrics.
type Agent struct {
	cfg    Config
	logger *slog.Logger
	// sessionPrefix is "omni_core_agent_<sanitised name>_".
	sessionPrefix string

	requests         atomic.Int64
	promptTokens     atomic.Int64
	completionTokens atomic.Int64
	totalTokens      atomic.Int64
	totalTime        atomic.Int64 // nanoseconds
}

// New validates cfg, fills its defaults and returns the agent.
func New(cfg Config) (*Agent, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.MaxSteps == 0 {
		cfg.MaxSteps = DefaultMaxSteps
	}
	if cfg.MaxHistory <= 0 {
		cfg.MaxHistory = DefaultMaxHistory
	}
	if cfg.Tools == nil {
		cfg.Tools = tool.NewRegistry()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Agent{
		cfg:           cfg,
		logger:        logger.With("component", "agent", "agent_name", cfg.Name),
		sessionPrefix: "omni_core_agent_" + sanitizeName(cfg.Name) + "_",
	}, nil
}

// validate reports every missing or invalid field, naming it.
func (c *Config) validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("agent config: Name is required"))
	}
	if c.Model == nil {
		errs = append(errs, errors.New("agent config: Model is required"))
	}
	if c.Memory == nil {
		errs = append(errs, errors.New("agent config: Memory is required"))
	}
	if c.Events == nil {
		errs = append(errs, errors.New("agent config: Events is required"))
	}
	if c.MaxSteps < 0 {
		errs = append(errs, errors.New("agent config: MaxSteps must not be negative"))
	}
	if c.MaxTokens < 0 {
		errs = append(errs, errors.New("agent config: MaxTokens must not be negative"))
	}
	return errors.Join(errs...)
}

// Name returns the agent's name.
func (a *Agent) Name() string { return a.cfg.Name }

// Tools returns the agent's tool registry; it is never nil.
func (a *Agent) Tools() *tool.Registry { return a.cfg.Tools }

// History returns the session's remembered messages, oldest first.
func (a *Agent) History(ctx context.Context, sessionID string) ([]llm.Message, error) {
	if sessionID == "" {
		return nil, errors.New("session id is required")
	}
	msgs, err := a.cfg.Memory.MessageList(ctx, sessionID)
	if err != nil {
		return nil, fmt.Errorf("list messages of session %s: %w", sessionID, err)
	}
	return msgs, nil
}

// ClearSession forgets the session's messages. Its telemetry events are
// kept: the event log is append-only.
func (a *Agent) ClearSession(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return errors.New("session id is required")
	}
	if err := a.cfg.Memory.MessageClear(ctx, sessionID); err != nil {
		return fmt.Errorf("clear session %s: %w", sessionID, err)
	}
	return nil
}

// NewSessionID returns "omni_core_agent_<name>_<8 hex>", where name is the
// agent's name with every run of characters outside [A-Za-z0-9_-] replaced
// by "_".
func (a *Agent) NewSessionID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return a.sessionPrefix + hex.EncodeToString(b[:])
}

// Metrics returns the agent's cumulative usage since [New].
func (a *Agent) Metrics() Metrics {
	return Metrics{
		TotalRequests:       a.requests.Load(),
		TotalRequestTokens:  a.promptTokens.Load(),
		TotalResponseTokens: a.completionTokens.Load(),
		TotalTokens:         a.totalTokens.Load(),
		TotalTime:           time.Duration(a.totalTime.Load()),
	}
}

// recordUsage adds one model call's tokens to the metrics.
func (a *Agent) recordUsage(u llm.Usage) {
	a.promptTokens.Add(int64(u.PromptTokens))
	a.completionTokens.Add(int64(u.CompletionTokens))
	a.totalTokens.Add(int64(u.TotalTokens))
}

var unsafeNameRun = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// sanitizeName keeps name safe for ids and paths.
func sanitizeName(name string) string {
	return unsafeNameRun.ReplaceAllString(name, "_")
}
