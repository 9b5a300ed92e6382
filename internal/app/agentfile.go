package app

import (
	"fmt"
	"os"
	"strings"

	"github.com/omniserve/omniserve/internal/agentfile"
	"github.com/omniserve/omniserve/internal/tool"
	"github.com/omniserve/omniserve/internal/tool/builtin"
	"github.com/omniserve/omniserve/internal/tool/httptool"
	"github.com/omniserve/omniserve/internal/tool/mcptool"
	"github.com/omniserve/omniserve/internal/tool/shelltool"
)

// SpecFromFile turns a parsed agent file into an [AgentSpec], building its
// built-in, shell and HTTP tools. lookup expands ${VAR} in HTTP tools and
// feeds shell tools their inherited variables. MCP servers are connected
// later, by [NewAgent].
func SpecFromFile(f *agentfile.File, lookup func(string) (string, bool)) (AgentSpec, error) {
	tools := tool.NewRegistry()
	for i, ref := range f.Tools {
		t, err := buildTool(ref, lookup)
		if err != nil {
			return AgentSpec{}, fmt.Errorf("tools[%d] (%s): %w", i, ref.Name(), err)
		}
		if err := tools.Add(t); err != nil {
			return AgentSpec{}, fmt.Errorf("tools[%d]: %w", i, err)
		}
	}
	servers := make([]mcptool.ServerConfig, 0, len(f.MCPServers))
	for i, s := range f.MCPServers {
		// ${VAR} in an MCP server's url, headers and env comes from the
		// environment, so tokens stay out of the file.
		url, err := expandVars(s.URL, lookup)
		if err != nil {
			return AgentSpec{}, fmt.Errorf("mcp_servers[%d] (%s) url: %w", i, s.Name, err)
		}
		headers, err := expandMap(s.Headers, lookup)
		if err != nil {
			return AgentSpec{}, fmt.Errorf("mcp_servers[%d] (%s) headers: %w", i, s.Name, err)
		}
		env, err := expandMap(s.Env, lookup)
		if err != nil {
			return AgentSpec{}, fmt.Errorf("mcp_servers[%d] (%s) env: %w", i, s.Name, err)
		}
		servers = append(servers, mcptool.ServerConfig{
			Name:          s.Name,
			TransportType: s.Transport(),
			Command:       s.Command,
			Args:          s.Args,
			Env:           env,
			URL:           url,
			Headers:       headers,
			Timeout:       s.Timeout(),
		})
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
		Tools:      tools,
		MCPServers: servers,
		MaxSteps:   f.MaxSteps,
	}, nil
}

func buildTool(ref agentfile.ToolRef, lookup func(string) (string, bool)) (tool.Tool, error) {
	switch {
	case ref.Shell != nil:
		s := ref.Shell
		env, err := expandMap(s.Env, lookup)
		if err != nil {
			return nil, fmt.Errorf("env: %w", err)
		}
		return shelltool.New(shelltool.Config{
			Name: s.Name, Description: s.Description, Command: s.Command, Parameters: s.Parameters,
			Timeout: s.Timeout(), Env: env, Workdir: s.Workdir, LookupEnvFunc: lookup,
		})
	case ref.HTTP != nil:
		h := ref.HTTP
		return httptool.New(httptool.Config{
			Name: h.Name, Description: h.Description, URL: h.URL, Method: h.Method, Headers: h.Headers,
			Parameters: h.Parameters, Timeout: h.Timeout(), AllowPrivate: h.AllowPrivate, LookupEnvFunc: lookup,
		})
	default:
		return builtin.New(ref.Builtin)
	}
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

// expandVars replaces ${VAR} in s from lookup. An unset or empty variable
// is an error naming it (never its value), so a missing secret stops
// startup instead of sending an empty credential.
func expandVars(s string, lookup func(string) (string, bool)) (string, error) {
	var missing []string
	out := os.Expand(s, func(name string) string {
		v, ok := lookup(name)
		if !ok || v == "" {
			missing = append(missing, name)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

func expandMap(m map[string]string, lookup func(string) (string, bool)) (map[string]string, error) {
	if len(m) == 0 {
		return m, nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		ev, err := expandVars(v, lookup)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = ev
	}
	return out, nil
}
