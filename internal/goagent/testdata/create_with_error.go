//go:build ignore

package agent

import "github.com/omniserve/omniserve"

func CreateAgent() (*omniserve.Agent, error) {
	return omniserve.NewAgent(omniserve.AgentConfig{
		Name:  "created_with_error",
		Model: omniserve.ModelConfig{Provider: "echo"},
	})
}
