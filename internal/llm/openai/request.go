package openai

import (
	"bytes"
	"encoding/json"
	"fmt"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/omniserve/omniserve/internal/llm"
)

// newParams maps req to the SDK's request. A request it cannot express is a
// non-retryable [*llm.Error].
func (m *Model) newParams(req *llm.Request) (oai.ChatCompletionNewParams, error) {
	if req == nil {
		return oai.ChatCompletionNewParams{}, m.invalid("request is nil")
	}
	p := oai.ChatCompletionNewParams{
		Model:    m.model,
		Messages: make([]oai.ChatCompletionMessageParamUnion, 0, len(req.Messages)+1),
	}
	if req.System != "" {
		p.Messages = append(p.Messages, oai.SystemMessage(req.System))
	}
	for i, msg := range req.Messages {
		mp, err := m.message(msg)
		if err != nil {
			return oai.ChatCompletionNewParams{}, m.invalid(fmt.Sprintf("message %d: %s", i, err))
		}
		p.Messages = append(p.Messages, mp)
	}
	for _, spec := range req.Tools {
		tp, err := toolParam(spec)
		if err != nil {
			return oai.ChatCompletionNewParams{}, m.invalid(fmt.Sprintf("tool %q: %s", spec.Name, err))
		}
		p.Tools = append(p.Tools, tp)
	}
	if req.Temperature != nil {
		p.Temperature = oai.Float(*req.Temperature)
	}
	if req.MaxTokens > 0 {
		if m.provider == DefaultProvider {
			// OpenAI deprecated max_tokens, and reasoning models reject it.
			p.MaxCompletionTokens = oai.Int(int64(req.MaxTokens))
		} else {
			p.MaxTokens = oai.Int(int64(req.MaxTokens))
		}
	}
	return p, nil
}

func (m *Model) message(msg llm.Message) (oai.ChatCompletionMessageParamUnion, error) {
	switch msg.Role {
	case llm.RoleSystem:
		return oai.SystemMessage(msg.Content), nil
	case llm.RoleUser:
		return oai.UserMessage(msg.Content), nil
	case llm.RoleAssistant:
		var a oai.ChatCompletionAssistantMessageParam
		// Content may be omitted only when tool calls stand in for it.
		if msg.Content != "" || len(msg.ToolCalls) == 0 {
			a.Content.OfString = oai.String(msg.Content)
		}
		for _, tc := range msg.ToolCalls {
			a.ToolCalls = append(a.ToolCalls, oai.ChatCompletionMessageToolCallUnionParam{
				OfFunction: &oai.ChatCompletionMessageFunctionToolCallParam{
					ID: tc.ID,
					Function: oai.ChatCompletionMessageFunctionToolCallFunctionParam{
						Name:      tc.Name,
						Arguments: argumentsString(tc.Arguments),
					},
				},
			})
		}
		return oai.ChatCompletionMessageParamUnion{OfAssistant: &a}, nil
	case llm.RoleTool:
		if msg.ToolCallID == "" {
			return oai.ChatCompletionMessageParamUnion{}, fmt.Errorf("tool message has no tool call ID")
		}
		// Chat Completions has no error flag on tool results; the content
		// itself describes the failure.
		return oai.ToolMessage(msg.Content, msg.ToolCallID), nil
	default:
		return oai.ChatCompletionMessageParamUnion{}, fmt.Errorf("unknown role %q", msg.Role)
	}
}

// argumentsString is the wire form of tool-call arguments: the raw JSON, or
// an empty object when there is none.
func argumentsString(args json.RawMessage) string {
	if len(bytes.TrimSpace(args)) == 0 {
		return "{}"
	}
	return string(args)
}

func toolParam(spec llm.ToolSpec) (oai.ChatCompletionToolUnionParam, error) {
	def := shared.FunctionDefinitionParam{Name: spec.Name}
	if spec.Name == "" {
		return oai.ChatCompletionToolUnionParam{}, fmt.Errorf("tool has no name")
	}
	if spec.Description != "" {
		def.Description = oai.String(spec.Description)
	}
	if len(bytes.TrimSpace(spec.InputSchema)) > 0 {
		// Each member stays raw JSON, so the schema is sent exactly as
		// written (large integer bounds included) rather than round-tripped
		// through float64.
		var members map[string]json.RawMessage
		if err := json.Unmarshal(spec.InputSchema, &members); err != nil {
			return oai.ChatCompletionToolUnionParam{}, fmt.Errorf("input schema is not a JSON object: %w", err)
		}
		if members != nil {
			def.Parameters = make(shared.FunctionParameters, len(members))
			for k, v := range members {
				def.Parameters[k] = v
			}
		}
	}
	return oai.ChatCompletionFunctionTool(def), nil
}

// invalid reports a request this adapter cannot send.
func (m *Model) invalid(msg string) *llm.Error {
	return &llm.Error{Provider: m.provider, Message: "invalid request: " + msg}
}
