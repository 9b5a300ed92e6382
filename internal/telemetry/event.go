// Package telemetry owns the one event log everything that streams is a view
// of: typed [Event] records, the [Store] they are appended to with a
// per-session sequence number, and live follow over that store.
package telemetry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"time"
)

// SchemaVersion is the version of the event shape, as in the original.
const SchemaVersion = 3

// Event types this server emits (a subset of the original's closed
// vocabulary).
const (
	EventUserMessage       = "user_message"
	EventModelCall         = "model_call"
	EventModelResponse     = "model_response"
	EventModelDelta        = "model_delta"
	EventModelError        = "model_error"
	EventToolCall          = "tool_call"
	EventToolResult        = "tool_result"
	EventToolError         = "tool_error"
	EventFinalAnswer       = "final_answer"
	EventRuntimeError      = "runtime_error"
	EventServeRequestStart = "serve_request_start"
	EventServeRequestEnd   = "serve_request_end"
	EventServeRequestError = "serve_request_error"
	EventAgentStart        = "agent_start"
	EventAgentEnd          = "agent_end"
)

// Actor types.
const (
	ActorUser  = "user"
	ActorAgent = "agent"
	ActorModel = "model"
	ActorTool  = "tool"
	ActorServe = "serve"
)

// Actor is who an event is about.
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// EventError describes a failure carried by an event.
type EventError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Retryable bool   `json:"retryable"`
}

// TokenUsage counts tokens, as events carry them.
type TokenUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Event is one record of the log. Field names match the original's
// telemetry events; SessionID and RunID are also copied to the top level
// because every client filters on them.
type Event struct {
	EventID       string `json:"event_id"`
	EventType     string `json:"event_type"`
	TraceID       string `json:"trace_id"`
	SpanID        string `json:"span_id,omitempty"`
	ParentEventID string `json:"parent_event_id,omitempty"`
	// SequenceNumber is the event's position in its session, from 1,
	// assigned by the store on append. It is also the SSE frame id.
	SequenceNumber int64           `json:"sequence_number"`
	Timestamp      time.Time       `json:"timestamp"`
	SessionID      string          `json:"session_id"`
	RunID          string          `json:"run_id,omitempty"`
	Actor          Actor           `json:"actor"`
	Input          json.RawMessage `json:"input,omitempty"`
	Output         json.RawMessage `json:"output,omitempty"`
	Error          *EventError     `json:"error,omitempty"`
	DurationMS     *float64        `json:"duration_ms,omitempty"`
	TokenUsage     *TokenUsage     `json:"token_usage,omitempty"`
	Metadata       map[string]any  `json:"metadata,omitempty"`
	SchemaVersion  int             `json:"schema_version"`
}

// NewID returns prefix + 32 lowercase hex characters, e.g. "run_3f…".
func NewID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// JSON marshals v for an event's Input or Output; values that cannot be
// marshalled are recorded as their error text.
func JSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"unencodable": err.Error()})
	}
	return b
}

// Duration converts d to the float milliseconds events carry.
func Duration(d time.Duration) *float64 {
	ms := float64(d.Microseconds()) / 1000
	return &ms
}
