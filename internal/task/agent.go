package task

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// AgentSpec is a stored description of an agent that background runs
// execute. A worker first looks the agent up among the agents registered in
// its own process; failing that it builds one from [AgentSpec.ModelConfig],
// so a spec without a model config can only run where its agent object
// lives.
type AgentSpec struct {
	// AgentID identifies the agent; required, a safe id (see [ValidateID]).
	AgentID string `json:"agent_id"`
	// Name is a display name. Defaults to AgentID.
	Name string `json:"name"`
	// SystemInstruction is the system prompt.
	SystemInstruction string `json:"system_instruction,omitempty"`
	// ModelConfig says which model a worker builds the agent with; nil
	// when the agent only exists as a process-local object.
	ModelConfig *ModelConfig `json:"model_config,omitempty"`
	// AgentConfig is the original's free-form agent configuration, kept
	// as given.
	AgentConfig map[string]any `json:"agent_config,omitempty"`
	// Tools lists the built-in tools the agent may call, in order.
	Tools []ToolRef `json:"tools,omitempty"`
	// MCPServers holds the agent's MCP server configurations, opaque to
	// this package; the agent builder decodes them. The JSON key is the
	// original's "mcp_tools".
	MCPServers []json.RawMessage `json:"mcp_tools,omitempty"`
	// LocalToolsRef is an application-owned reference to process-local
	// tools, which cannot travel through the store.
	LocalToolsRef string `json:"local_tools_ref,omitempty"`
	// WorkspaceConfig is the agent's workspace configuration, kept as
	// given.
	WorkspaceConfig map[string]any `json:"workspace_config,omitempty"`
	// Metadata is free-form and replaced as a whole on update.
	Metadata map[string]any `json:"metadata,omitempty"`
	// CreatedAt is set by the store on first registration and kept on
	// replacement.
	CreatedAt time.Time `json:"created_at"`
	// UpdatedAt is set by the store on every write.
	UpdatedAt time.Time `json:"updated_at"`
}

// ModelConfig names a provider and model and tunes how they are called. It
// mirrors the agent file's model_config.
type ModelConfig struct {
	// Provider is the model provider, such as "openai"; required.
	Provider string `json:"provider"`
	// Model is the provider's model name.
	Model string `json:"model,omitempty"`
	// BaseURL points an OpenAI-compatible provider at another endpoint.
	BaseURL string `json:"base_url,omitempty"`
	// Temperature is the sampling temperature, 0 to 2; nil leaves it to
	// the provider.
	Temperature *float64 `json:"temperature,omitempty"`
	// MaxTokens caps the tokens of one response; 0 leaves it to the
	// provider.
	MaxTokens int `json:"max_tokens,omitempty"`
	// APIKeyEnv names the environment variable holding the API key; empty
	// means LLM_API_KEY. The key itself is never stored.
	APIKeyEnv string `json:"api_key_env,omitempty"`
}

// ToolRef is one entry of [AgentSpec.Tools].
type ToolRef struct {
	// Builtin names a built-in tool, such as "calculate".
	Builtin string `json:"builtin"`
}

// WithDefaults returns a copy of a with its defaults filled in: Name
// defaults to AgentID.
func (a AgentSpec) WithDefaults() AgentSpec {
	if strings.TrimSpace(a.Name) == "" {
		a.Name = a.AgentID
	}
	return a
}

// Validate checks a, naming the first invalid field in a
// [*ValidationError].
func (a *AgentSpec) Validate() error {
	if err := ValidateID("agent_id", a.AgentID); err != nil {
		return err
	}
	if mc := a.ModelConfig; mc != nil {
		switch {
		case strings.TrimSpace(mc.Provider) == "":
			return invalid("model_config.provider", "is required")
		case mc.Temperature != nil && (math.IsNaN(*mc.Temperature) || *mc.Temperature < 0 || *mc.Temperature > 2):
			return invalid("model_config.temperature", "must be between 0 and 2")
		case mc.MaxTokens < 0:
			return invalid("model_config.max_tokens", "must not be negative")
		}
	}
	for i, tr := range a.Tools {
		if strings.TrimSpace(tr.Builtin) == "" {
			return invalid("tools["+strconv.Itoa(i)+"].builtin", "is required")
		}
	}
	for i, raw := range a.MCPServers {
		if !json.Valid(raw) {
			return invalid("mcp_tools["+strconv.Itoa(i)+"]", "must be valid JSON")
		}
	}
	return nil
}
