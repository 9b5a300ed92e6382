package app

import (
	"fmt"

	"github.com/omniserve/omniserve/internal/agentfile"
	"github.com/omniserve/omniserve/internal/tool"
	"github.com/omniserve/omniserve/internal/tool/builtin"
)

// SpecFromFile turns a parsed agent file into an [AgentSpec], building its
// tools.
func SpecFromFile(f *agentfile.File) (AgentSpec, error) {
	tools := tool.NewRegistry()
	for _, ref := range f.Tools {
		t, err := builtin.New(ref.Builtin)
		if err != nil {
			return AgentSpec{}, fmt.Errorf("tools: %w", err)
		}
		if err := tools.Add(t); err != nil {
			return AgentSpec{}, fmt.Errorf("tools: %w", err)
		}
	}
	mc := f.ModelConfig
	return AgentSpec{
		Name:              f.Name,
		SystemInstruction: f.SystemInstruction,
		Model: ModelSpec{
			Provider:    mc.Provider,
			Model:       mc.Model,
			BaseURL:     mc.BaseURL,
			Temperature: mc.Temperature,
			MaxTokens:   mc.MaxTokens,
			APIKeyEnv:   mc.APIKeyEnv,
		},
		Tools:    tools,
		MaxSteps: f.MaxSteps,
	}, nil
}

// BuiltinTools returns a registry holding the named built-in tools.
func BuiltinTools(names ...string) (*tool.Registry, error) {
	reg := tool.NewRegistry()
	for _, n := range names {
		t, err := builtin.New(n)
		if err != nil {
			return nil, err
		}
		if err := reg.Add(t); err != nil {
			return nil, err
		}
	}
	return reg, nil
}
