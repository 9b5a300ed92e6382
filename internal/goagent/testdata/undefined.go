//go:build ignore

package agent

import "github.com/omniserve/omniserve"

func CreateAgent() *omniserve.Agent {
	return omniserve.NewAgentFromYAML("agent.yaml")
}
