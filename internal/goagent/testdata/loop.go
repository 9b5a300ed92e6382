//go:build ignore

package agent

import "github.com/omniserve/omniserve"

var spins = spin()

func spin() int {
	n := 0
	for {
		n++
	}
}

var Agent *omniserve.Agent
