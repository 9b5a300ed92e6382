//go:build ignore

package agent

import "github.com/omniserve/omniserve"

// The error is dropped, so Agent is nil.
var Agent, _ = omniserve.NewAgent(omniserve.AgentConfig{Name: "x", Model: omniserve.ModelConfig{Provider: "no-such-provider"}})
