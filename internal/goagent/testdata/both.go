//go:build ignore

package both

import "github.com/omniserve/omniserve"

var Agent, _ = omniserve.NewAgent(omniserve.AgentConfig{
	Name:  "from_var",
	Model: omniserve.ModelConfig{Provider: "echo"},
})

func CreateAgent() *omniserve.Agent {
	panic("CreateAgent must not be called when Agent is defined")
}
