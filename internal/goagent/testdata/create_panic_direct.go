//go:build ignore

package agent

import "github.com/omniserve/omniserve"

func CreateAgent() *omniserve.Agent {
	panic("no agent today")
}
