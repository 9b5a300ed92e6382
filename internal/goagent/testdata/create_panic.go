//go:build ignore

package agent

import "github.com/omniserve/omniserve"

func CreateAgent() *omniserve.Agent {
	var names []string
	return build(names)
}

func build(names []string) *omniserve.Agent {
	if names[3] == "" {
		return nil
	}
	return nil
}
