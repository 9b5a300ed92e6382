//go:build ignore

package agent

import (
	"context"

	"github.com/omniserve/omniserve"
)

type EchoArgs struct {
	Text string `json:"text"`
}

func echo(ctx context.Context, in EchoArgs) (string, error) { return in.Text, nil }

// register takes the function as any, which the interpreter cannot pass on
// to compiled code.
func register(tools *omniserve.ToolRegistry, name string, fn any) error {
	return tools.Register(name, "Echo.", fn)
}

func CreateAgent() (*omniserve.Agent, error) {
	tools := omniserve.NewToolRegistry()
	if err := register(tools, "echo", echo); err != nil {
		return nil, err
	}
	return omniserve.NewAgent(omniserve.AgentConfig{Name: "x", Model: omniserve.ModelConfig{Provider: "echo"}, Tools: tools})
}
