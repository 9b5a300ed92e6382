// Package llm holds the provider-neutral vocabulary every model adapter speaks:
// messages, tool calls, token usage, streaming chunks and the [Model]
// interface. It imports only the standard library; adapters under
// internal/llm/* map their vendor's wire types onto these.
package llm

import (
	"context"
	"encoding/json"
	"iter"
)

// Role is the author of a [Message].
type Role string

// The roles a conversation can hold.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// Message is one turn of a conversation.
//
// An assistant message may carry ToolCalls; a tool message answers exactly
// one of them and names it with ToolCallID (and the tool with Name).
type Message struct {
	Role       Role       `json:"role"`
	Content    string     `json:"content"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	Name       string     `json:"name,omitempty"`
	// IsError marks a tool message whose content describes a failure.
	IsError bool `json:"is_error,omitempty"`
}

// ToolCall is a model's request to run one tool.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// ToolSpec describes a tool to the model.
type ToolSpec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

// Usage counts the tokens of one model call (or a sum of calls).
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Add returns the element-wise sum of u and o.
func (u Usage) Add(o Usage) Usage {
	return Usage{
		PromptTokens:     u.PromptTokens + o.PromptTokens,
		CompletionTokens: u.CompletionTokens + o.CompletionTokens,
		TotalTokens:      u.TotalTokens + o.TotalTokens,
	}
}

// Request is one call to a model.
type Request struct {
	// System is the system instruction; adapters place it where their API
	// expects it.
	System   string
	Messages []Message
	Tools    []ToolSpec
	// Temperature is nil for the provider's default.
	Temperature *float64
	// MaxTokens caps the completion; zero means the provider's default.
	MaxTokens int
}

// Response is a complete model answer.
type Response struct {
	// Message is the assistant message: text, tool calls, or both.
	Message Message
	Usage   Usage
	// FinishReason is the provider's stop reason, normalised where possible
	// to "stop", "tool_calls", "length" or "content_filter".
	FinishReason string
	// Model is the model name the provider reports, when it reports one.
	Model string
}

// Chunk is one piece of a streamed answer. Text chunks carry a TextDelta;
// the last chunk of a successful stream has Done set and carries the whole
// assembled Response, so callers never reassemble tool-call fragments.
type Chunk struct {
	TextDelta string
	Done      bool
	Response  *Response
}

// Model is a chat model with tool calling.
type Model interface {
	// Provider names the adapter, e.g. "openai" or "echo".
	Provider() string
	// Name is the model identifier sent to the provider.
	Name() string
	// Generate makes one blocking call.
	Generate(ctx context.Context, req *Request) (*Response, error)
	// GenerateStream makes one streaming call. The sequence ends after a
	// chunk with Done set, or after yielding one error. A stream that ends
	// early without an error from the provider yields an error too.
	GenerateStream(ctx context.Context, req *Request) iter.Seq2[*Chunk, error]
}
