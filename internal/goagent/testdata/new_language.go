//go:build ignore

package agent

import "github.com/omniserve/omniserve"

var Agent *omniserve.Agent

func sum(xs []int) int {
	total := 0
	for i := range len(xs) {
		total += xs[i]
	}
	return max(total, 0)
}
