//go:build ignore

package agent

import "github.com/omniserve/omniserve"

func CreateAgent() (*omniserve.Agent, error) {
	return nil, nil
}
