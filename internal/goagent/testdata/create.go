//go:build ignore

package main

import "github.com/omniserve/omniserve"

func CreateAgent() *omniserve.Agent {
	a, err := omniserve.NewAgent(omniserve.AgentConfig{
		Name:  "created",
		Model: omniserve.ModelConfig{Provider: "echo"},
	})
	if err != nil {
		panic(err)
	}
	return a
}
