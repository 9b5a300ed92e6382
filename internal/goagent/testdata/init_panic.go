//go:build ignore

package agent

import "github.com/omniserve/omniserve"

var Agent = mustAgent()

func mustAgent() *omniserve.Agent {
	a, err := omniserve.NewAgent(omniserve.AgentConfig{Name: "x", Model: omniserve.ModelConfig{Provider: "no-such-provider"}})
	if err != nil {
		panic(err)
	}
	return a
}
