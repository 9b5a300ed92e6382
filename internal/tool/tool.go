// Package tool defines what an agent can call: the [Tool] interface, the
// [Registry] that holds an agent's tools, typed Go-function tools and the
// built-in tools. Tool kinds that reach outside the process live in
// sub-packages.
package tool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/omniserve/omniserve/internal/llm"
)

// Kinds reported by [Tool.Kind] and shown as "type" by GET /tools.
const (
	KindLocal = "local"
	KindMCP   = "mcp"
)

// Tool is one callable capability.
type Tool interface {
	// Name is unique within a registry.
	Name() string
	Description() string
	// InputSchema is the JSON Schema of the arguments object.
	InputSchema() json.RawMessage
	// Kind is KindLocal or KindMCP.
	Kind() string
	// Call runs the tool. The text it returns is what the model reads. An
	// error is also shown to the model, as a failed tool result; it never
	// aborts the run.
	Call(ctx context.Context, args json.RawMessage) (string, error)
}

// ErrDuplicate is returned when a registry already holds a tool's name.
var ErrDuplicate = errors.New("tool already registered")

// ErrNotFound is returned for a tool name the registry does not hold.
var ErrNotFound = errors.New("tool not found")

// Registry is an ordered, concurrency-safe set of tools.
type Registry struct {
	mu    sync.RWMutex
	order []string
	tools map[string]Tool
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{tools: make(map[string]Tool)}
}

// Add registers t. Names must be non-empty and unique.
func (r *Registry) Add(t Tool) error {
	name := t.Name()
	if name == "" {
		return errors.New("tool name must not be empty")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.tools[name]; ok {
		return fmt.Errorf("%w: %s", ErrDuplicate, name)
	}
	r.tools[name] = t
	r.order = append(r.order, name)
	return nil
}

// Get returns the tool called name.
func (r *Registry) Get(name string) (Tool, bool) {
	if r == nil {
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.tools[name]
	return t, ok
}

// List returns the tools in registration order.
func (r *Registry) List() []Tool {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Tool, 0, len(r.order))
	for _, n := range r.order {
		out = append(out, r.tools[n])
	}
	return out
}

// Len returns the number of tools.
func (r *Registry) Len() int {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.order)
}

// Specs describes every tool for a model request.
func (r *Registry) Specs() []llm.ToolSpec {
	tools := r.List()
	out := make([]llm.ToolSpec, 0, len(tools))
	for _, t := range tools {
		out = append(out, llm.ToolSpec{Name: t.Name(), Description: t.Description(), InputSchema: t.InputSchema()})
	}
	return out
}
