//go:build ignore

package agent

import (
	"strings"

	"github.com/omniserve/omniserve"
)

func CreateAgent() *omniserve.Agent {
	n := strings.Fields(42)
	_ = n
	return nil
}
