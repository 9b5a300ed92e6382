//go:build ignore

package agent

import (
	"context"

	"github.com/omniserve/omniserve"
)

type Page struct {
	Size   int `json:"size"`
	cursor string
}

type Filter struct {
	Tag string `json:"tag"`
}

type SearchArgs struct {
	Query string `json:"query"`
	limit int
	Page  `json:"page"` // Tagged: nested in compiled Go too.
	Filter
	Hidden string `json:"-"`
	secret string `json:"-"`
}

func search(ctx context.Context, in SearchArgs) (string, error) { return in.Query, nil }

func CreateAgent() (*omniserve.Agent, error) {
	tools := omniserve.NewToolRegistry()
	if err := tools.Register("search", "Search.", search); err != nil {
		return nil, err
	}
	return omniserve.NewAgent(omniserve.AgentConfig{Name: "x", Model: omniserve.ModelConfig{Provider: "echo"}, Tools: tools})
}

func search2(ctx context.Context, in *SearchArgs) (string, error) { return in.Query, nil }

// Registered twice: each problem is reported once.
func more(tools *omniserve.ToolRegistry) error {
	return tools.Register("search2", "Search again.", search2)
}
