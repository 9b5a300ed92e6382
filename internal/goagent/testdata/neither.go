//go:build ignore

package agent

import "github.com/omniserve/omniserve"

func NewAgent() (*omniserve.Agent, error) {
	return omniserve.NewAgent(omniserve.AgentConfig{Name: "x", Model: omniserve.ModelConfig{Provider: "echo"}})
}
