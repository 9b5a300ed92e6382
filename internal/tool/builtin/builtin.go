// Package builtin holds the tools OmniServe ships with, selected by name from
// an agent file (tools: [{builtin: calculate}]):
//
//   - calculate evaluates an arithmetic expression with a small parser of
//     its own; it never executes code.
//   - get_time reports the current time in an IANA time zone.
//
// Both are local tools built with [tool.Func], so their arguments are
// validated against the schema they advertise before they run.
package builtin

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/omniserve/omniserve/internal/tool"
)

// constructors maps each built-in tool name to its constructor.
var constructors = map[string]func() (tool.Tool, error){
	"calculate": newCalculate,
	"get_time":  func() (tool.Tool, error) { return newGetTime(time.Now) },
}

// Names returns the names of the built-in tools, sorted.
func Names() []string {
	names := make([]string, 0, len(constructors))
	for name := range constructors {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// New returns the built-in tool called name. An unknown name is an error
// that lists the known ones.
func New(name string) (tool.Tool, error) {
	newFunc, ok := constructors[name]
	if !ok {
		return nil, fmt.Errorf("unknown builtin tool %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	return newFunc()
}
