package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	sdk "github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/anthropics/anthropic-sdk-go/v2/packages/param"

	"github.com/omniserve/omniserve/internal/llm"
)

// newParams maps req to the SDK's request. A request it cannot express is a
// non-retryable [*llm.Error].
//
// The Messages API wants the system prompt at the top level and user and
// assistant turns that alternate, so system messages join req.System, tool
// results become tool_result blocks of a user turn, and consecutive
// messages that end up with the same role are merged into one turn.
func (m *Model) newParams(req *llm.Request) (sdk.MessageNewParams, error) {
	if req == nil {
		return sdk.MessageNewParams{}, m.invalid("request is nil")
	}
	p := sdk.MessageNewParams{
		Model:     sdk.Model(m.model),
		MaxTokens: int64(m.maxTokens),
	}
	if req.MaxTokens > 0 {
		p.MaxTokens = int64(req.MaxTokens)
	}
	if req.System != "" {
		p.System = append(p.System, sdk.TextBlockParam{Text: req.System})
	}

	var turns []turn
	for i, msg := range req.Messages {
		role, blocks, err := messageBlocks(msg)
		if err != nil {
			return sdk.MessageNewParams{}, m.invalid(fmt.Sprintf("message %d: %s", i, err))
		}
		if role == llm.RoleSystem {
			if msg.Content != "" {
				p.System = append(p.System, sdk.TextBlockParam{Text: msg.Content})
			}
			continue
		}
		if len(blocks) == 0 {
			// An empty turn is rejected by the API and says nothing.
			continue
		}
		if n := len(turns); n > 0 && turns[n-1].role == role {
			turns[n-1].blocks = append(turns[n-1].blocks, blocks...)
			continue
		}
		turns = append(turns, turn{role: role, blocks: blocks})
	}
	p.Messages = make([]sdk.MessageParam, 0, len(turns))
	for _, t := range turns {
		if t.role == llm.RoleAssistant {
			p.Messages = append(p.Messages, sdk.MessageParam{OfAssistant: &sdk.AssistantMessageParam{Content: t.blocks}})
		} else {
			p.Messages = append(p.Messages, sdk.MessageParam{OfUser: &sdk.UserMessageParam{Content: t.blocks}})
		}
	}

	for _, spec := range req.Tools {
		tp, err := toolParam(spec)
		if err != nil {
			return sdk.MessageNewParams{}, m.invalid(fmt.Sprintf("tool %q: %s", spec.Name, err))
		}
		p.Tools = append(p.Tools, tp)
	}
	if req.Temperature != nil {
		// This SDK version has no Temperature field; the API still accepts
		// the parameter.
		p.SetExtraFields(map[string]any{"temperature": *req.Temperature})
	}
	return p, nil
}

// turn is one wire message being assembled.
type turn struct {
	role   llm.Role // llm.RoleUser or llm.RoleAssistant
	blocks []sdk.ContentBlockParamUnion
}

// messageBlocks maps one message to the role of the turn it belongs to and
// its content blocks. System messages return their role and no blocks.
func messageBlocks(msg llm.Message) (llm.Role, []sdk.ContentBlockParamUnion, error) {
	switch msg.Role {
	case llm.RoleSystem:
		return llm.RoleSystem, nil, nil
	case llm.RoleUser:
		return llm.RoleUser, textBlocks(msg.Content), nil
	case llm.RoleAssistant:
		blocks := textBlocks(msg.Content)
		for _, tc := range msg.ToolCalls {
			if tc.ID == "" || tc.Name == "" {
				return "", nil, errors.New("tool call has no ID or name")
			}
			blocks = append(blocks, sdk.ContentBlockParamUnion{OfToolUse: &sdk.ToolUseBlockParam{
				ID:    tc.ID,
				Name:  tc.Name,
				Input: toolInput(tc.Arguments),
			}})
		}
		return llm.RoleAssistant, blocks, nil
	case llm.RoleTool:
		if msg.ToolCallID == "" {
			return "", nil, errors.New("tool message has no tool call ID")
		}
		res := &sdk.ToolResultBlockParam{ToolUseID: msg.ToolCallID}
		if msg.Content != "" {
			res.Content = []sdk.ToolResultBlockParamContentUnion{{OfText: &sdk.TextBlockParam{Text: msg.Content}}}
		}
		if msg.IsError {
			res.IsError = param.NewOpt(true)
		}
		return llm.RoleUser, []sdk.ContentBlockParamUnion{{OfToolResult: res}}, nil
	default:
		return "", nil, fmt.Errorf("unknown role %q", msg.Role)
	}
}

// textBlocks is s as a text block, or nothing when s is empty: the API
// rejects empty text blocks.
func textBlocks(s string) []sdk.ContentBlockParamUnion {
	if s == "" {
		return nil
	}
	return []sdk.ContentBlockParamUnion{{OfText: &sdk.TextBlockParam{Text: s}}}
}

// toolInput is the wire form of tool-call arguments, which the API requires
// to be a JSON object. Arguments that are not one (empty, or the unparsable
// text a model emitted, kept as a JSON string by [arguments]) are sent as an
// empty object: the tool result that follows already tells the model what
// went wrong, and refusing the whole request would end the conversation.
func toolInput(args json.RawMessage) json.RawMessage {
	if isObject(args) {
		return args
	}
	return json.RawMessage("{}")
}

// isObject reports whether data is a single valid JSON object.
func isObject(data []byte) bool {
	data = bytes.TrimSpace(data)
	return len(data) > 0 && data[0] == '{' && json.Valid(data)
}

func toolParam(spec llm.ToolSpec) (sdk.ToolUnionParam, error) {
	if spec.Name == "" {
		return sdk.ToolUnionParam{}, errors.New("tool has no name")
	}
	schema, err := inputSchema(spec.InputSchema)
	if err != nil {
		return sdk.ToolUnionParam{}, err
	}
	tp := &sdk.ToolParam{
		Name: spec.Name,
		// The schema is sent exactly as given (numbers included), not
		// through the SDK's typed fields.
		InputSchema: param.Override[sdk.ToolInputSchemaParam](schema),
	}
	if spec.Description != "" {
		tp.Description = param.NewOpt(spec.Description)
	}
	return sdk.ToolUnionParam{OfTool: tp}, nil
}

// inputSchema checks a tool's JSON Schema and returns it in the form the API
// requires: an object whose type is "object". A missing schema means no
// parameters; a missing type is filled in.
func inputSchema(raw json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return json.RawMessage(`{"type":"object"}`), nil
	}
	if !isObject(raw) {
		return nil, errors.New("input schema is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	// Numbers stay as written, e.g. large integer bounds.
	dec.UseNumber()
	var schema map[string]any
	if err := dec.Decode(&schema); err != nil {
		return nil, fmt.Errorf("input schema is not a JSON object: %w", err)
	}
	switch t := schema["type"]; t {
	case "object":
		return raw, nil
	case nil:
		schema["type"] = "object"
		out, err := json.Marshal(schema)
		if err != nil {
			return nil, fmt.Errorf("encode input schema: %w", err)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("input schema type is %v, want \"object\"", t)
	}
}

// invalid reports a request this adapter cannot send.
func (m *Model) invalid(msg string) *llm.Error {
	return &llm.Error{Provider: ProviderName, Message: "invalid request: " + msg}
}
