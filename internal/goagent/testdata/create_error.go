//go:build ignore

package agent

import (
	"github.com/omniserve/omniserve"
)

// CreateAgent fails as a real file would without its key.
func CreateAgent() (*omniserve.Agent, error) {
	return omniserve.NewAgent(omniserve.AgentConfig{
		Name:      "keyless",
		Model:     omniserve.ModelConfig{Provider: "openai", Model: "gpt-4o-mini", APIKeyEnv: "OMNISERVE_TEST_UNSET_KEY"},
		LookupEnv: func(string) (string, bool) { return "", false },
	})
}
