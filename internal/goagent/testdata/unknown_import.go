//go:build ignore

package agent

import (
	"github.com/omniserve/omniserve"
	"github.com/omniserve/omniserve/internal/tool"
)

var Agent *omniserve.Agent

var _ = tool.NewRegistry
