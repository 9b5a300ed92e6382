package gemini

import (
	"encoding/json"
	"strconv"
	"strings"

	"google.golang.org/genai"

	"github.com/omniserve/omniserve/internal/llm"
)

// accumulator assembles an answer from one response or from the frames of
// a stream. Each frame adds text and function-call parts; usage and the
// model version are running values, so the latest wins.
type accumulator struct {
	model string
	text  strings.Builder
	calls []llm.ToolCall
	// finish is the raw finish reason, or "" while the answer goes on.
	finish genai.FinishReason
	// blocked is set when the prompt itself was refused.
	blocked    bool
	usage      llm.Usage
	candidates bool
}

// add folds one response in and returns its text.
func (a *accumulator) add(r *genai.GenerateContentResponse) string {
	if r == nil {
		return ""
	}
	if r.ModelVersion != "" {
		a.model = r.ModelVersion
	}
	if u := r.UsageMetadata; u != nil {
		// Completion counts the answer only: thinking tokens
		// (thoughtsTokenCount) are not in candidatesTokenCount, and the
		// total is recomputed so that it is the sum of the two.
		a.usage = llm.Usage{
			PromptTokens:     int(u.PromptTokenCount),
			CompletionTokens: int(u.CandidatesTokenCount),
			TotalTokens:      int(u.PromptTokenCount) + int(u.CandidatesTokenCount),
		}
	}
	if pf := r.PromptFeedback; pf != nil && pf.BlockReason != "" && pf.BlockReason != genai.BlockedReasonUnspecified {
		a.blocked = true
	}
	// Only one candidate is ever asked for.
	if len(r.Candidates) == 0 || r.Candidates[0] == nil {
		return ""
	}
	a.candidates = true
	cand := r.Candidates[0]
	if cand.FinishReason != "" && cand.FinishReason != genai.FinishReasonUnspecified {
		a.finish = cand.FinishReason
	}
	if cand.Content == nil {
		return ""
	}
	var delta strings.Builder
	for _, p := range cand.Content.Parts {
		switch {
		case p == nil || p.Thought:
			// Thought summaries are not part of the answer.
		case p.FunctionCall != nil:
			a.addCall(p.FunctionCall)
		default:
			delta.WriteString(p.Text)
		}
	}
	a.text.WriteString(delta.String())
	return delta.String()
}

// addCall records a function call, minting an ID when the API sent none.
func (a *accumulator) addCall(fc *genai.FunctionCall) {
	id := fc.ID
	if id == "" {
		id = "call_" + strconv.Itoa(len(a.calls)+1)
	}
	args := json.RawMessage("{}")
	if len(fc.Args) > 0 {
		// Values decoded from JSON always encode again.
		if b, err := json.Marshal(fc.Args); err == nil {
			args = b
		}
	}
	a.calls = append(a.calls, llm.ToolCall{ID: id, Name: fc.Name, Arguments: args})
}

// finished reports whether the provider said the answer is complete.
func (a *accumulator) finished() bool { return a.finish != "" || a.blocked }

// answered reports whether a blocking response holds an answer, even one
// without a finish reason.
func (a *accumulator) answered() bool { return a.candidates || a.blocked }

func (a *accumulator) response() *llm.Response {
	msg := llm.Message{Role: llm.RoleAssistant, Content: a.text.String(), ToolCalls: a.calls}
	reason := finishReason(a.finish, len(a.calls) > 0)
	if a.blocked {
		reason = "content_filter"
	}
	return &llm.Response{
		Message:      msg,
		Usage:        a.usage,
		FinishReason: reason,
		Model:        a.model,
	}
}

// finishReason normalises Gemini's finish reason. Gemini says STOP after
// function calls too; reasons with no common name are passed on in lower
// case, e.g. "malformed_function_call".
func finishReason(r genai.FinishReason, hasCalls bool) string {
	switch r {
	case "", genai.FinishReasonStop:
		if hasCalls {
			return "tool_calls"
		}
		return "stop"
	case genai.FinishReasonMaxTokens, genai.FinishReasonContinuation:
		// CONTINUATION: the answer was cut short, and the SDK's automatic
		// continuation is off.
		return "length"
	case genai.FinishReasonSafety, genai.FinishReasonRecitation, genai.FinishReasonBlocklist,
		genai.FinishReasonProhibitedContent, genai.FinishReasonSPII, genai.FinishReasonImageSafety,
		genai.FinishReasonImageProhibitedContent, genai.FinishReasonImageRecitation:
		return "content_filter"
	default:
		return strings.ToLower(string(r))
	}
}
