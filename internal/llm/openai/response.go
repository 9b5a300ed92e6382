package openai

import (
	"encoding/json"
	"strings"

	oai "github.com/openai/openai-go/v3"

	"github.com/omniserve/omniserve/internal/llm"
)

// response maps a blocking completion. Only the first choice is used; the
// adapter never asks for more.
func (m *Model) response(c *oai.ChatCompletion) (*llm.Response, error) {
	if c == nil || len(c.Choices) == 0 {
		return nil, &llm.Error{Provider: m.provider, Message: "response has no choices"}
	}
	choice := c.Choices[0]
	msg := llm.Message{
		Role: llm.RoleAssistant,
		// A refusal replaces the content; keeping it as text lets the caller
		// show it.
		Content: choice.Message.Content + choice.Message.Refusal,
	}
	for _, tc := range choice.Message.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue // custom tools are never offered
		}
		msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{
			ID:        tc.ID,
			Name:      tc.Function.Name,
			Arguments: arguments(tc.Function.Arguments),
		})
	}
	return &llm.Response{
		Message:      msg,
		Usage:        usage(c.Usage),
		FinishReason: finishReason(choice.FinishReason, len(msg.ToolCalls) > 0),
		Model:        c.Model,
	}, nil
}

func usage(u oai.CompletionUsage) llm.Usage {
	return llm.Usage{
		PromptTokens:     int(u.PromptTokens),
		CompletionTokens: int(u.CompletionTokens),
		TotalTokens:      int(u.TotalTokens),
	}
}

// arguments turns the arguments string the API sends into raw JSON. An empty
// string means no arguments. Text that is not valid JSON (models do emit
// it) is kept as a JSON string, so the message still marshals and the tool
// reports the bad input back to the model.
func arguments(s string) json.RawMessage {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage("{}")
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	quoted, _ := json.Marshal(s) // marshalling a string cannot fail
	return quoted
}

// finishReason normalises the provider's stop reason. Some compatible
// servers answer "stop" with tool calls; the legacy "function_call" means
// the same as "tool_calls".
func finishReason(reason string, hasToolCalls bool) string {
	switch {
	case reason == "function_call":
		return "tool_calls"
	case reason == "stop" && hasToolCalls:
		return "tool_calls"
	default:
		return reason
	}
}

// accumulator assembles a streamed completion from its chunks.
type accumulator struct {
	model  string
	text   strings.Builder
	finish string
	usage  llm.Usage
	calls  []*callBuilder
	// open maps a tool call's stream index to its builder.
	open map[int64]*callBuilder
}

type callBuilder struct {
	id, name string
	args     strings.Builder
}

// add folds one chunk in and returns its text delta, if any.
func (a *accumulator) add(c oai.ChatCompletionChunk) string {
	if c.Model != "" {
		a.model = c.Model
	}
	if c.JSON.Usage.Valid() {
		a.usage = usage(c.Usage)
	}
	var delta strings.Builder
	for _, choice := range c.Choices {
		if choice.Index != 0 {
			continue
		}
		// A refusal streams instead of content; see Model.response.
		delta.WriteString(choice.Delta.Content)
		delta.WriteString(choice.Delta.Refusal)
		for _, tc := range choice.Delta.ToolCalls {
			a.addToolCall(tc)
		}
		if choice.FinishReason != "" {
			a.finish = choice.FinishReason
		}
	}
	a.text.WriteString(delta.String())
	return delta.String()
}

// addToolCall folds in a tool-call fragment. The first fragment of a call
// carries its ID and name; later ones carry only the index and a piece of
// the arguments.
func (a *accumulator) addToolCall(tc oai.ChatCompletionChunkChoiceDeltaToolCall) {
	b := a.open[tc.Index]
	// A new ID at a known index is a new call: some compatible servers send
	// every complete call at index 0.
	if b == nil || (tc.ID != "" && b.id != "" && tc.ID != b.id) {
		b = &callBuilder{}
		a.calls = append(a.calls, b)
		if a.open == nil {
			a.open = make(map[int64]*callBuilder)
		}
		a.open[tc.Index] = b
	}
	if b.id == "" {
		b.id = tc.ID
	}
	if b.name == "" {
		b.name = tc.Function.Name
	}
	b.args.WriteString(tc.Function.Arguments)
}

func (a *accumulator) finished() bool { return a.finish != "" }

func (m *Model) streamResponse(a *accumulator) *llm.Response {
	msg := llm.Message{Role: llm.RoleAssistant, Content: a.text.String()}
	for _, b := range a.calls {
		msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{
			ID:        b.id,
			Name:      b.name,
			Arguments: arguments(b.args.String()),
		})
	}
	return &llm.Response{
		Message:      msg,
		Usage:        a.usage,
		FinishReason: finishReason(a.finish, len(msg.ToolCalls) > 0),
		Model:        a.model,
	}
}
