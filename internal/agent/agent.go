// Package agent is the tool-calling loop: system instruction, session
// history and the user's message go to the model; the tools it asks for run
// (concurrently when it asks for several); their results go back; until the
// model answers or the step budget runs out. Every step is appended to the
// telemetry event log, which is how the run is observed and streamed.
package agent

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/memory"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/tool"
)

// DefaultMaxHistory is how many remembered messages a run sends the model
// when Config.MaxHistory is zero.
const DefaultMaxHistory = 200

// DefaultMaxSteps is the model-call budget of one run when Config.MaxSteps is zero.
const DefaultMaxSteps = 10

// ErrMaxSteps ends a run whose model kept calling tools past the budget.
var ErrMaxSteps = errors.New("max steps exceeded")

// Config defines an agent.
type Config struct {
	// Name identifies the agent in responses and events. Required.
	Name string
	// SystemInstruction is sent as the system prompt. Optional.
	SystemInstruction string
	// Model answers. Required.
	Model llm.Model
	// Tools the model may call. Nil means none.
	Tools *tool.Registry
	// Memory keeps each session's conversation. Required.
	Memory memory.Store
	// Events is the telemetry log every step is appended to. Required.
	Events telemetry.Store
	// MaxSteps caps model calls per run. Defaults to DefaultMaxSteps.
	MaxSteps int
	// Temperature is passed to the model; nil means the provider default.
	Temperature *float64
	// MaxTokens caps each completion; zero means the provider default.
	MaxTokens int
	// MaxHistory caps how many of the session's remembered messages a run
	// sends the model (the most recent, starting at a user message, so a
	// tool exchange is never cut in half); memory itself keeps them all.
	// Defaults to DefaultMaxHistory.
	MaxHistory int
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// RunParams is one run.
type RunParams struct {
	// Query is the user's message. Required.
	Query string
	// SessionID names the conversation. Required (callers mint one).
	SessionID string
	// RunID correlates this run's events. Minted ("run_…") when empty.
	RunID string
	// Stream uses the model's streaming call and appends a model_delta
	// event per text chunk; otherwise blocking calls are used.
	Stream bool
}

// Result is the outcome of a successful run.
type Result struct {
	Response  string
	AgentName string
	SessionID string
	RunID     string
	TraceID   string
	Usage     llm.Usage
	// Steps is the number of model calls made.
	Steps    int
	Duration time.Duration
}

// Metrics is an agent's cumulative usage since it was created.
type Metrics struct {
	TotalRequests       int64         `json:"total_requests"`
	TotalRequestTokens  int64         `json:"total_request_tokens"`
	TotalResponseTokens int64         `json:"total_response_tokens"`
	TotalTokens         int64         `json:"total_tokens"`
	TotalTime           time.Duration `json:"-"`
}

// Runner is what serving layers need from an agent.
type Runner interface {
	Name() string
	Run(ctx context.Context, p RunParams) (*Result, error)
	Metrics() Metrics
	Tools() *tool.Registry
	History(ctx context.Context, sessionID string) ([]llm.Message, error)
	ClearSession(ctx context.Context, sessionID string) error
	// NewSessionID mints a session id for a request that brought none.
	NewSessionID() string
}
