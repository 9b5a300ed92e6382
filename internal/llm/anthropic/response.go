package anthropic

import (
	"bytes"
	"encoding/json"
	"strings"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/omniserve/omniserve/internal/llm"
)

// response maps a blocking answer. Text blocks are joined in order; blocks
// of kinds the adapter never asks for (thinking, server tools) are skipped.
func response(msg *sdk.Message) *llm.Response {
	out := llm.Message{Role: llm.RoleAssistant}
	var text strings.Builder
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			out.ToolCalls = append(out.ToolCalls, llm.ToolCall{
				ID:        b.ID,
				Name:      b.Name,
				Arguments: arguments(b.Input),
			})
		}
	}
	out.Content = text.String()
	u := msg.Usage
	return &llm.Response{
		Message:      out,
		Usage:        usage(u.InputTokens+u.CacheCreationInputTokens+u.CacheReadInputTokens, u.OutputTokens),
		FinishReason: finishReason(msg.StopReason),
		Model:        string(msg.Model),
	}
}

// usage builds an [llm.Usage]. Prompt tokens include the tokens written to
// and read from the prompt cache, which the API counts apart from
// input_tokens, so that the count means the same as for other providers.
func usage(prompt, completion int64) llm.Usage {
	return llm.Usage{
		PromptTokens:     int(prompt),
		CompletionTokens: int(completion),
		TotalTokens:      int(prompt + completion),
	}
}

// finishReason normalises the API's stop reason. Reasons with no neutral
// counterpart (pause_turn, say) are passed through.
func finishReason(r sdk.StopReason) string {
	switch r {
	case sdk.StopReasonEndTurn, sdk.StopReasonStopSequence:
		return "stop"
	case sdk.StopReasonToolUse:
		return "tool_calls"
	case sdk.StopReasonMaxTokens, sdk.StopReasonModelContextWindowExceeded:
		return "length"
	case sdk.StopReasonRefusal:
		return "content_filter"
	default:
		return string(r)
	}
}

// arguments turns a tool_use input into raw JSON arguments. No input means
// no arguments. Text that is not valid JSON (a stream cut off by
// max_tokens can leave it so) is kept as a JSON string, so the message
// still marshals and the tool reports the bad input back to the model.
func arguments(input []byte) json.RawMessage {
	input = bytes.TrimSpace(input)
	if len(input) == 0 || string(input) == "null" {
		return json.RawMessage("{}")
	}
	if json.Valid(input) {
		return json.RawMessage(input)
	}
	quoted, _ := json.Marshal(string(input)) // marshalling a string cannot fail
	return quoted
}

// accumulator assembles a streamed message from its events.
type accumulator struct {
	model string
	text  strings.Builder
	stop  sdk.StopReason
	// input and output are the token counts: input from message_start
	// (message_delta may repeat it), output from message_delta, which
	// reports the running total.
	input, output int64
	calls         []*callBuilder
	// open maps a content block's index to its tool call, if it is one.
	open map[int64]*callBuilder
	// stopped is set by message_stop, the end of a complete stream.
	stopped bool
}

type callBuilder struct {
	id, name string
	// start is the input sent with content_block_start, used only when no
	// input_json_delta follows.
	start json.RawMessage
	args  strings.Builder
}

// add folds one event in and returns its text delta, if any. Events of
// kinds the adapter does not use are ignored.
func (a *accumulator) add(ev sdk.MessageStreamEventUnion) string {
	switch ev.Type {
	case "message_start":
		a.model = string(ev.Message.Model)
		u := ev.Message.Usage
		a.input = u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
		a.output = u.OutputTokens
	case "content_block_start":
		cb := ev.ContentBlock
		switch cb.Type {
		case "text":
			a.text.WriteString(cb.Text)
			return cb.Text
		case "tool_use":
			b := &callBuilder{id: cb.ID, name: cb.Name}
			if cb.Input != nil {
				b.start, _ = json.Marshal(cb.Input) // decoded JSON always re-encodes
			}
			a.calls = append(a.calls, b)
			if a.open == nil {
				a.open = make(map[int64]*callBuilder)
			}
			a.open[ev.Index] = b
		}
	case "content_block_delta":
		switch ev.Delta.Type {
		case "text_delta":
			a.text.WriteString(ev.Delta.Text)
			return ev.Delta.Text
		case "input_json_delta":
			if b := a.open[ev.Index]; b != nil {
				b.args.WriteString(ev.Delta.PartialJSON)
			}
		}
	case "message_delta":
		if ev.Delta.StopReason != "" {
			a.stop = ev.Delta.StopReason
		}
		if ev.Usage.InputTokens > 0 {
			u := ev.Usage
			a.input = u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens
		}
		a.output = max(a.output, ev.Usage.OutputTokens)
	case "message_stop":
		a.stopped = true
	}
	return ""
}

// response is the assembled message.
func (a *accumulator) response() *llm.Response {
	msg := llm.Message{Role: llm.RoleAssistant, Content: a.text.String()}
	for _, b := range a.calls {
		input := []byte(b.args.String())
		if len(bytes.TrimSpace(input)) == 0 {
			input = b.start
		}
		msg.ToolCalls = append(msg.ToolCalls, llm.ToolCall{
			ID:        b.id,
			Name:      b.name,
			Arguments: arguments(input),
		})
	}
	return &llm.Response{
		Message:      msg,
		Usage:        usage(a.input, a.output),
		FinishReason: finishReason(a.stop),
		Model:        a.model,
	}
}
