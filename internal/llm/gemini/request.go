package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"google.golang.org/genai"

	"github.com/omniserve/omniserve/internal/llm"
)

// skipSignature is the placeholder Google documents for function calls
// replayed without the thought signature the model attached to them: Gemini
// 3 models reject such history otherwise. [llm.ToolCall] has nowhere to
// keep the real signature, so every replayed call turn carries this one.
var skipSignature = []byte("skip_thought_signature_validator")

// call is a request mapped to the SDK's shapes, ready to send as often as
// retries need.
type call struct {
	contents    []*genai.Content
	system      string
	tools       []*genai.FunctionDeclaration
	temperature *float32
	maxTokens   int32
}

// config returns a fresh generation config for one attempt: the SDK
// modifies the one it is given.
func (c *call) config() *genai.GenerateContentConfig {
	cfg := &genai.GenerateContentConfig{
		Temperature:     c.temperature,
		MaxOutputTokens: c.maxTokens,
		// The SDK would otherwise send follow-up requests of its own when an
		// answer stops with a continuation token.
		AutomaticContinuation: genai.Ptr(false),
	}
	if c.system != "" {
		cfg.SystemInstruction = &genai.Content{Parts: []*genai.Part{{Text: c.system}}}
	}
	if len(c.tools) > 0 {
		cfg.Tools = []*genai.Tool{{FunctionDeclarations: c.tools}}
	}
	return cfg
}

// newCall maps req to the SDK's request. A request it cannot express is a
// non-retryable [*llm.Error].
func (m *Model) newCall(req *llm.Request) (*call, error) {
	if req == nil {
		return nil, m.invalid("request is nil")
	}
	c := &call{}
	system := []string{}
	if req.System != "" {
		system = append(system, req.System)
	}
	// names maps tool call IDs to tool names, for tool messages that do
	// not name their tool.
	names := map[string]string{}
	for i, msg := range req.Messages {
		switch msg.Role {
		case llm.RoleSystem:
			// Gemini has one system instruction; mid-conversation system
			// messages join it.
			if msg.Content != "" {
				system = append(system, msg.Content)
			}
		case llm.RoleUser:
			c.contents = append(c.contents, &genai.Content{
				Role:  genai.RoleUser,
				Parts: []*genai.Part{{Text: msg.Content}},
			})
		case llm.RoleAssistant:
			content, err := modelContent(msg)
			if err != nil {
				return nil, m.invalid(fmt.Sprintf("message %d: %s", i, err))
			}
			for _, tc := range msg.ToolCalls {
				names[tc.ID] = tc.Name
			}
			if content != nil {
				c.contents = append(c.contents, content)
			}
		case llm.RoleTool:
			name := msg.Name
			if name == "" {
				name = names[msg.ToolCallID]
			}
			if name == "" {
				return nil, m.invalid(fmt.Sprintf("message %d: tool message names no tool and answers no known call", i))
			}
			part := &genai.Part{FunctionResponse: &genai.FunctionResponse{
				Name:     name,
				Response: toolResponse(msg),
			}}
			// Consecutive results answer one model turn and go back in one
			// content, in the order of the calls.
			if last := lastContent(c.contents); last != nil && isFunctionResponses(last) {
				last.Parts = append(last.Parts, part)
				continue
			}
			c.contents = append(c.contents, &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{part}})
		default:
			return nil, m.invalid(fmt.Sprintf("message %d: unknown role %q", i, msg.Role))
		}
	}
	c.system = strings.Join(system, "\n\n")
	for _, spec := range req.Tools {
		decl, err := declaration(spec)
		if err != nil {
			return nil, m.invalid(fmt.Sprintf("tool %q: %s", spec.Name, err))
		}
		c.tools = append(c.tools, decl)
	}
	if req.Temperature != nil {
		c.temperature = genai.Ptr(float32(*req.Temperature))
	}
	if req.MaxTokens > 0 {
		c.maxTokens = int32(min(req.MaxTokens, math.MaxInt32))
	}
	return c, nil
}

// modelContent maps an assistant message: its text, then its function
// calls. A message with neither is dropped (nil), as the API rejects empty
// contents.
func modelContent(msg llm.Message) (*genai.Content, error) {
	content := &genai.Content{Role: genai.RoleModel}
	if msg.Content != "" {
		content.Parts = append(content.Parts, &genai.Part{Text: msg.Content})
	}
	for j, tc := range msg.ToolCalls {
		if tc.Name == "" {
			return nil, fmt.Errorf("tool call %d has no name", j)
		}
		args, err := callArgs(tc.Arguments)
		if err != nil {
			return nil, fmt.Errorf("tool call %d: %w", j, err)
		}
		part := &genai.Part{FunctionCall: &genai.FunctionCall{Name: tc.Name, Args: args}}
		if j == 0 {
			// The API puts a turn's signature on its first call only.
			part.ThoughtSignature = skipSignature
		}
		content.Parts = append(content.Parts, part)
	}
	if len(content.Parts) == 0 {
		return nil, nil
	}
	return content, nil
}

// callArgs decodes tool-call arguments, which Gemini takes as a JSON object.
// Empty arguments are an empty object.
func callArgs(raw json.RawMessage) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	var args map[string]any
	if err := json.Unmarshal(raw, &args); err != nil || args == nil {
		return nil, fmt.Errorf("arguments are not a JSON object")
	}
	return args, nil
}

// toolResponse is the response object of a function result: the tool's
// output under "result", or under "error" when the tool failed.
func toolResponse(msg llm.Message) map[string]any {
	if msg.IsError {
		return map[string]any{"error": msg.Content}
	}
	return map[string]any{"result": msg.Content}
}

func lastContent(cs []*genai.Content) *genai.Content {
	if len(cs) == 0 {
		return nil
	}
	return cs[len(cs)-1]
}

// isFunctionResponses reports whether c holds function results only.
func isFunctionResponses(c *genai.Content) bool {
	if c.Role != genai.RoleUser || len(c.Parts) == 0 {
		return false
	}
	for _, p := range c.Parts {
		if p.FunctionResponse == nil {
			return false
		}
	}
	return true
}

// declaration maps a tool spec. The input schema is sent as JSON Schema,
// unchanged (parametersJsonSchema), rather than converted to the API's
// OpenAPI subset.
func declaration(spec llm.ToolSpec) (*genai.FunctionDeclaration, error) {
	if spec.Name == "" {
		return nil, fmt.Errorf("tool has no name")
	}
	decl := &genai.FunctionDeclaration{Name: spec.Name, Description: spec.Description}
	if len(bytes.TrimSpace(spec.InputSchema)) > 0 {
		var schema map[string]any
		if err := json.Unmarshal(spec.InputSchema, &schema); err != nil || schema == nil {
			return nil, fmt.Errorf("input schema is not a JSON object")
		}
		decl.ParametersJsonSchema = schema
	}
	return decl, nil
}

// invalid reports a request this adapter cannot send.
func (m *Model) invalid(msg string) *llm.Error {
	return &llm.Error{Provider: Provider, Message: "invalid request: " + msg}
}
