package app

import (
	"cmp"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/llm/anthropic"
	"github.com/omniserve/omniserve/internal/llm/echo"
	"github.com/omniserve/omniserve/internal/llm/gemini"
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
	"openai":            {baseURL: ""},
	"ollama":            {baseURL: "http://localhost:11434/v1", keyless: true},
	"openrouter":        {baseURL: "https://openrouter.ai/api/v1"},
	"groq":              {baseURL: "https://api.groq.com/openai/v1"},
	"deepseek":          {baseURL: "https://api.deepseek.com/v1"},
	"mistral":           {baseURL: "https://api.mistral.ai/v1"},
	"together":          {baseURL: "https://api.together.xyz/v1"},
	"openai_compatible": {keyless: true},
}

// native lists providers with adapters of their own.
var native = []string{"anthropic", "echo", "gemini"}

// Providers lists every provider name NewModel accepts.
func Providers() []string {
	names := slices.Clone(native)
	for n := range openAICompatible {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ProviderNeedsKey reports whether provider cannot work without an API key.
func ProviderNeedsKey(provider string) bool {
	switch p := strings.ToLower(provider); p {
	case "anthropic", "gemini":
		return true
	default:
		c, ok := openAICompatible[p]
		return ok && !c.keyless
	}
}

// NewModel builds the model spec names. lookup reads the key variable.
func NewModel(spec ModelSpec, lookup func(string) (string, bool), logger *slog.Logger) (llm.Model, error) {
	provider := strings.ToLower(strings.TrimSpace(spec.Provider))
	if provider == "echo" {
		return echo.New(spec.Model), nil
	}
	compat, isCompat := openAICompatible[provider]
	if !isCompat && !slices.Contains(native, provider) {
		return nil, fmt.Errorf("unknown model provider %q (known: %s)", spec.Provider, strings.Join(Providers(), ", "))
	}
	if spec.Model == "" {
		return nil, fmt.Errorf("model_config.model is required for provider %s", provider)
	}
	keyEnv := cmp.Or(spec.APIKeyEnv, DefaultAPIKeyEnv)
	key, _ := lookup(keyEnv)
	key = strings.TrimSpace(key)
	// A base_url usually means a self-hosted or proxied endpoint, which may
	// need no key; the provider says so with a 401 if it does.
	if key == "" && spec.BaseURL == "" && ProviderNeedsKey(provider) {
		return nil, fmt.Errorf("provider %s needs an API key: set %s (or use provider echo for an offline demo)", provider, keyEnv)
	}
	switch provider {
	case "anthropic":
		return anthropic.New(anthropic.Config{Model: spec.Model, BaseURL: spec.BaseURL, APIKey: key, Logger: logger})
	case "gemini":
		return gemini.New(gemini.Config{Model: spec.Model, BaseURL: spec.BaseURL, APIKey: key, Logger: logger})
	}
	baseURL := cmp.Or(spec.BaseURL, compat.baseURL)
	if provider == "openai_compatible" && baseURL == "" {
		return nil, fmt.Errorf("model_config.base_url is required for provider openai_compatible")
	}
	return openai.New(openai.Config{
		Provider: provider,
		Model:    spec.Model,
		BaseURL:  baseURL,
		APIKey:   key,
		Logger:   logger,
	})
}
