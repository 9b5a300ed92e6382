package app

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/echo"
	"github.com/omniserve/omniserve/internal/llm/openai"
)

// ModelSpec says which model an agent uses; it mirrors the agent file's
// model_config.
type ModelSpec struct {
	Provider    string
	Model       string
	BaseURL     string
	Temperature *float64
	MaxTokens   int
	// APIKeyEnv names the variable holding the key. Defaults to LLM_API_KEY.
	APIKeyEnv string
}

// DefaultAPIKeyEnv is the one documented model credential.
const DefaultAPIKeyEnv = "LLM_API_KEY"

// openAICompatible lists providers served by the OpenAI adapter, with the
// base URL each uses when none is given and whether it needs a key.
var openAICompatible = map[string]struct {
	baseURL string
	keyless bool
}{
	"openai": {baseURL: ""},
	// Gemini's OpenAI-compatible endpoint, until the native adapter lands.
	"gemini":            {baseURL: "https://generativelanguage.googleapis.com/v1beta/openai/"},
	"ollama":            {baseURL: "http://localhost:11434/v1", keyless: true},
	"openai_compatible": {keyless: true},
}

// Providers lists every provider name NewModel accepts.
func Providers() []string {
	names := []string{"echo"}
	for n := range openAICompatible {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ProviderNeedsKey reports whether provider cannot work without an API key.
func ProviderNeedsKey(provider string) bool {
	p, ok := openAICompatible[strings.ToLower(provider)]
	return ok && !p.keyless
}

// NewModel builds the model spec names. lookup reads the key variable.
func NewModel(spec ModelSpec, lookup func(string) (string, bool), logger *slog.Logger) (llm.Model, error) {
	provider := strings.ToLower(strings.TrimSpace(spec.Provider))
	if provider == "echo" {
		return echo.New(spec.Model), nil
	}
	p, ok := openAICompatible[provider]
	if !ok {
		return nil, fmt.Errorf("unknown model provider %q (known: %s)", spec.Provider, strings.Join(Providers(), ", "))
	}
	if spec.Model == "" {
		return nil, fmt.Errorf("model_config.model is required for provider %s", provider)
	}
	baseURL := spec.BaseURL
	if baseURL == "" {
		baseURL = p.baseURL
	}
	if provider == "openai_compatible" && baseURL == "" {
		return nil, fmt.Errorf("model_config.base_url is required for provider openai_compatible")
	}
	keyEnv := spec.APIKeyEnv
	if keyEnv == "" {
		keyEnv = DefaultAPIKeyEnv
	}
	key, _ := lookup(keyEnv)
	if key == "" && !p.keyless && spec.BaseURL == "" {
		return nil, fmt.Errorf("provider %s needs an API key: set %s (or use provider echo for an offline demo)", provider, keyEnv)
	}
	return openai.New(openai.Config{
		Provider: provider,
		Model:    spec.Model,
		BaseURL:  baseURL,
		APIKey:   key,
		Logger:   logger,
	})
}
