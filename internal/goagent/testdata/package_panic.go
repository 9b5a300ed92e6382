//go:build ignore

package agent

import "github.com/omniserve/omniserve"

var names = []string{}

var firstName = names[1]

var Agent *omniserve.Agent
