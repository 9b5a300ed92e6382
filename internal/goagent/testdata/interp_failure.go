//go:build ignore

// A generic function: valid Go that the interpreter fails on.
package agent

import "github.com/omniserve/omniserve"

func first[T any](xs []T) T { return xs[0] }

var name = first([]string{"generic"})

var Agent *omniserve.Agent
