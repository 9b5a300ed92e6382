// Package echo is an offline, deterministic [llm.Model] for demos, tests and
// benchmarks. It needs no key and makes no network call: it repeats the
// user's text, turns a trailing JSON line into a tool call, and answers with
// the last tool result once tools have run.
//
// The rules, applied to the last user message of a request:
//
//  1. If tool messages follow it, the answer is the content of the last of
//     them (finish reason "stop"). This closes an agent's tool loop.
//  2. Otherwise, if its last line (after trailing whitespace is trimmed) is a
//     JSON object {"tool": NAME, "arguments": {...}} and nothing else, the
//     answer is one call of tool NAME with those arguments (finish reason
//     "tool_calls"). Missing or null arguments become {}. Other lines may
//     precede it. A line that is JSON of another shape is plain text.
//  3. Otherwise the answer is the user's text verbatim (finish reason "stop").
//
// Token usage counts words (strings.Fields): prompt tokens are the words of
// the system prompt and of every message's content; completion tokens are
// the words of the answer text, or for a tool call the words of its compact
// arguments JSON with a minimum of one; the total is their sum.
package echo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"unicode"

	"github.com/omniserve/omniserve/internal/llm"
)

// Provider is the provider name the echo model reports.
const Provider = "echo"

// DefaultName is the model name used when [New] is given an empty one.
const DefaultName = "echo"

// Model is the echo model. The zero value is not usable; call [New]. A Model
// holds no mutable state and is safe for concurrent use.
type Model struct {
	name string
}

var _ llm.Model = (*Model)(nil)

// New returns an echo model called name, or [DefaultName] when name is empty.
func New(name string) *Model {
	if name == "" {
		name = DefaultName
	}
	return &Model{name: name}
}

// Provider returns "echo".
func (m *Model) Provider() string { return Provider }

// Name returns the model name given to [New].
func (m *Model) Name() string { return m.name }

// Generate answers req by the package rules.
func (m *Model) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if req == nil {
		return nil, errors.New("echo: nil request")
	}
	return m.answer(req), nil
}

// GenerateStream answers req by the package rules, yielding the answer text
// one word at a time (each word with the whitespace before it, so the deltas
// concatenate to exactly the answer) and then a Done chunk holding the whole
// response. A tool-call answer yields only the Done chunk. If ctx is
// cancelled between chunks the stream ends with ctx.Err().
func (m *Model) GenerateStream(ctx context.Context, req *llm.Request) iter.Seq2[*llm.Chunk, error] {
	return func(yield func(*llm.Chunk, error) bool) {
		resp, err := m.Generate(ctx, req)
		if err != nil {
			yield(nil, err)
			return
		}
		if len(resp.Message.ToolCalls) == 0 {
			for piece := range pieces(resp.Message.Content) {
				if err := ctx.Err(); err != nil {
					yield(nil, err)
					return
				}
				if !yield(&llm.Chunk{TextDelta: piece}, nil) {
					return
				}
			}
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		yield(&llm.Chunk{Done: true, Response: resp}, nil)
	}
}

// answer applies the package rules to req.
func (m *Model) answer(req *llm.Request) *llm.Response {
	prompt := words(req.System)
	lastUser := -1
	callCount := 0
	for i, msg := range req.Messages {
		prompt += words(msg.Content)
		callCount += len(msg.ToolCalls)
		if msg.Role == llm.RoleUser {
			lastUser = i
		}
	}

	resp := &llm.Response{
		Message:      llm.Message{Role: llm.RoleAssistant},
		FinishReason: "stop",
		Model:        m.name,
	}
	var completion int
	switch {
	case lastUser < 0:
		// No user message: nothing to echo.
	case hasToolResult(req.Messages[lastUser+1:]):
		resp.Message.Content = lastToolResult(req.Messages[lastUser+1:])
		completion = words(resp.Message.Content)
	default:
		text := req.Messages[lastUser].Content
		if name, args, ok := parseToolLine(text); ok {
			// Number calls after those already in the conversation so IDs
			// stay unique across the turns of an agent loop.
			resp.Message.ToolCalls = []llm.ToolCall{{
				ID:        fmt.Sprintf("call_%d", callCount+1),
				Name:      name,
				Arguments: args,
			}}
			resp.FinishReason = "tool_calls"
			completion = max(1, words(string(args)))
		} else {
			resp.Message.Content = text
			completion = words(text)
		}
	}
	resp.Usage = llm.Usage{
		PromptTokens:     prompt,
		CompletionTokens: completion,
		TotalTokens:      prompt + completion,
	}
	return resp
}

// hasToolResult reports whether msgs holds a tool message.
func hasToolResult(msgs []llm.Message) bool {
	return slices.ContainsFunc(msgs, func(m llm.Message) bool { return m.Role == llm.RoleTool })
}

// lastToolResult returns the content of the last tool message of msgs.
func lastToolResult(msgs []llm.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == llm.RoleTool {
			return msgs[i].Content
		}
	}
	return ""
}

// parseToolLine reports whether the last line of text is a tool-call
// request, and if so returns the tool name and its compact arguments.
func parseToolLine(text string) (name string, args json.RawMessage, ok bool) {
	text = strings.TrimRightFunc(text, unicode.IsSpace)
	line := text[strings.LastIndexByte(text, '\n')+1:]
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "{") {
		return "", nil, false
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &obj); err != nil {
		return "", nil, false
	}
	for k := range obj {
		if k != "tool" && k != "arguments" {
			return "", nil, false
		}
	}
	if err := json.Unmarshal(obj["tool"], &name); err != nil || name == "" {
		return "", nil, false
	}
	raw, present := obj["arguments"]
	if !present || string(raw) == "null" {
		return name, json.RawMessage(`{}`), true
	}
	if raw[0] != '{' {
		return "", nil, false
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return "", nil, false
	}
	return name, json.RawMessage(compact.Bytes()), true
}

// words counts the whitespace-separated words of s.
func words(s string) int { return len(strings.Fields(s)) }

// pieces splits s into chunks that each hold one word and the whitespace
// before it; whitespace after the last word stays with it. The pieces
// concatenate to exactly s.
func pieces(s string) iter.Seq[string] {
	return func(yield func(string) bool) {
		start := 0      // start of the current piece
		wordEnd := -1   // end of the current piece's word, once it has one
		inWord := false // whether the previous rune was part of a word
		for i, r := range s {
			space := unicode.IsSpace(r)
			switch {
			case space && inWord:
				wordEnd = i
			case !space && !inWord && wordEnd >= 0:
				// A new word starts: the piece ends where its word ended.
				if !yield(s[start:wordEnd]) {
					return
				}
				start, wordEnd = wordEnd, -1
			}
			inWord = !space
		}
		if start < len(s) {
			yield(s[start:])
		}
	}
}
