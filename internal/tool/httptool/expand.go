package httptool

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnsetVariable is returned, wrapped, when a ${NAME} reference names a
// variable the lookup does not have. The error names the variable.
var ErrUnsetVariable = errors.New("variable is not set")

// expand replaces every ${NAME} in s with the value lookup returns for NAME
// and also returns the values it substituted. A variable that is missing or
// empty is an error naming it; a nil lookup has no variables. A "$" not
// followed by "{" is kept as is. Errors never quote a value.
func expand(s string, lookup func(string) (string, bool)) (string, []string, error) {
	var (
		b      strings.Builder
		values []string
	)
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), values, nil
		}
		b.WriteString(s[:i])
		rest := s[i+len("${"):]
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return "", nil, errors.New("unterminated ${")
		}
		name := rest[:end]
		if !validName(name) {
			return "", nil, fmt.Errorf("invalid variable name %q", name)
		}
		var v string
		if lookup != nil {
			v, _ = lookup(name)
		}
		if v == "" {
			return "", nil, fmt.Errorf("%w: %s", ErrUnsetVariable, name)
		}
		b.WriteString(v)
		values = append(values, v)
		s = rest[end+1:]
	}
}

// validName reports whether name is an environment variable name: a letter
// or underscore, then letters, digits and underscores.
func validName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
