// Package llmtest holds test helpers for code that talks to an [llm.Model].
// [Scripted] is the one shared fake model: tests of any package script its
// answers instead of writing their own.
package llmtest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/omniserve/omniserve/internal/llm"
)

// Provider and ModelName are what a [Scripted] model reports as its
// provider and name.
const (
	Provider  = "llmtest"
	ModelName = "scripted"
)

// ErrScriptExhausted is returned by calls made after every [Step] was served.
var ErrScriptExhausted = errors.New("llmtest: script exhausted")

// Interface guard.
var _ llm.Model = (*Scripted)(nil)

// Step is one scripted answer. A step with Err set fails with it; otherwise
// it answers with Text and ToolCalls.
type Step struct {
	// Text is the assistant's text. Streamed calls split it into a few
	// chunks.
	Text string
	// ToolCalls are the tools the assistant asks for.
	ToolCalls []llm.ToolCall
	// Usage is reported as the call's token usage.
	Usage llm.Usage
	// Err, when set, is returned instead of an answer.
	Err error
	// Started, when set, is closed as soon as the step is reached, so a
	// test knows the call is in progress.
	Started chan<- struct{}
	// Block, when set, holds the call until Block is closed (then the step
	// is served) or the call's context ends (then its error is returned).
	Block <-chan struct{}
}

// Scripted is an [llm.Model] that serves its steps, in order, to successive
// Generate and GenerateStream calls, and records every request. It is safe
// for concurrent use.
type Scripted struct {
	mu       sync.Mutex
	steps    []Step
	next     int
	requests []llm.Request
}

// NewScripted returns a model that answers with steps, in order.
func NewScripted(steps ...Step) *Scripted {
	return &Scripted{steps: slices.Clone(steps)}
}

// Provider implements [llm.Model].
func (s *Scripted) Provider() string { return Provider }

// Name implements [llm.Model].
func (s *Scripted) Name() string { return ModelName }

// Requests returns copies of the requests received so far, oldest first.
func (s *Scripted) Requests() []llm.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]llm.Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = copyRequest(&r)
	}
	return out
}

// Remaining returns how many steps have not been served yet.
func (s *Scripted) Remaining() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.steps) - s.next
}

// Generate implements [llm.Model].
func (s *Scripted) Generate(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	return s.serve(ctx, req)
}

// GenerateStream implements [llm.Model]. Text arrives in up to three
// chunks, followed by the Done chunk carrying the whole response.
func (s *Scripted) GenerateStream(ctx context.Context, req *llm.Request) iter.Seq2[*llm.Chunk, error] {
	return func(yield func(*llm.Chunk, error) bool) {
		resp, err := s.serve(ctx, req)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, part := range split(resp.Message.Content, 3) {
			if err := ctx.Err(); err != nil {
				yield(nil, err)
				return
			}
			if !yield(&llm.Chunk{TextDelta: part}, nil) {
				return
			}
		}
		yield(&llm.Chunk{Done: true, Response: resp}, nil)
	}
}

// serve records req, takes the next step and answers with it.
func (s *Scripted) serve(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	s.mu.Lock()
	s.requests = append(s.requests, copyRequest(req))
	if s.next >= len(s.steps) {
		n := len(s.steps)
		s.mu.Unlock()
		return nil, fmt.Errorf("%w after %d steps", ErrScriptExhausted, n)
	}
	step := s.steps[s.next]
	s.next++
	s.mu.Unlock()

	if step.Started != nil {
		close(step.Started)
	}
	if step.Block != nil {
		select {
		case <-step.Block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if step.Err != nil {
		return nil, step.Err
	}
	finish := "stop"
	if len(step.ToolCalls) > 0 {
		finish = "tool_calls"
	}
	return &llm.Response{
		Message: llm.Message{
			Role:      llm.RoleAssistant,
			Content:   step.Text,
			ToolCalls: slices.Clone(step.ToolCalls),
		},
		Usage:        step.Usage,
		FinishReason: finish,
		Model:        ModelName,
	}, nil
}

// split cuts text into at most n non-empty pieces on rune boundaries.
func split(text string, n int) []string {
	runes := []rune(text)
	if len(runes) == 0 {
		return nil
	}
	size := (len(runes) + n - 1) / n
	var out []string
	for len(runes) > 0 {
		k := min(size, len(runes))
		out = append(out, string(runes[:k]))
		runes = runes[k:]
	}
	return out
}

// copyRequest deep-copies what a caller might reuse after the call.
func copyRequest(r *llm.Request) llm.Request {
	out := *r
	out.Messages = slices.Clone(r.Messages)
	for i := range out.Messages {
		calls := slices.Clone(out.Messages[i].ToolCalls)
		for j := range calls {
			calls[j].Arguments = slices.Clone(calls[j].Arguments)
		}
		out.Messages[i].ToolCalls = calls
	}
	out.Tools = slices.Clone(r.Tools)
	if r.Temperature != nil {
		t := *r.Temperature
		out.Temperature = &t
	}
	return out
}
