package agentfile

import (
	"fmt"
	"maps"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
)

// validate checks what the types cannot: required keys, ranges, names and
// duplicates. It reads what the checker c recorded: the line of each key
// present in the file, the null values and the converted parameters.
func validate(f *File, c *checker) []Problem {
	lines := c.lines
	v := validator{lines: lines, nulls: c.nulls, raws: c.raws}
	v.required("", "name", f.Name)

	mc := f.ModelConfig
	if _, present := lines["model_config"]; !present && mc.Provider == "" && mc.Model == "" {
		v.missing("", "model_config")
	} else {
		v.required("model_config", "provider", mc.Provider)
		// The echo provider replays its input and has no models to pick.
		if !strings.EqualFold(strings.TrimSpace(mc.Provider), "echo") {
			v.required("model_config", "model", mc.Model)
		}
		// Written so that NaN fails too.
		if t := mc.Temperature; t != nil && !(*t >= 0 && *t <= 2) {
			v.invalid("model_config.temperature", "must be between 0 and 2")
		}
		if mc.MaxTokens < 0 {
			v.invalid("model_config.max_tokens", "must be at least 0")
		}
	}

	if f.MaxSteps < 0 {
		v.invalid("max_steps", "must be at least 0")
	}

	tools := map[string]string{} // tool name → key path of the entry using it
	for i, t := range f.Tools {
		v.tool(fmt.Sprintf("tools[%d]", i), t, tools)
	}
	servers := map[string]string{} // server name → key path of its name
	for i, s := range f.MCPServers {
		v.mcpServer(fmt.Sprintf("mcp_servers[%d]", i), s, servers)
	}
	return v.problems
}

type validator struct {
	lines    map[string]int
	nulls    map[string]bool
	raws     map[string]rawValue
	problems []Problem
}

// required reports a missing or blank value and returns whether the value
// is usable.
func (v *validator) required(parent, key, value string) bool {
	if strings.TrimSpace(value) != "" {
		return true
	}
	path := joinKey(parent, key)
	if _, present := v.lines[path]; present {
		v.invalid(path, "must not be blank")
	} else {
		v.missing(parent, key)
	}
	return false
}

func (v *validator) missing(parent, key string) {
	in, line := "", 0
	if parent != "" {
		line = v.lines[parent]
		in = " in " + parent
	}
	v.problems = append(v.problems, Problem{
		Key:     joinKey(parent, key),
		Line:    line,
		Message: fmt.Sprintf("missing required key %q%s%s", key, in, at(line)),
	})
}

func (v *validator) invalid(path, msg string) {
	v.problems = append(v.problems, problemAt(path, v.lines[path], msg))
}

// present reports whether the key at path is in the file with a value
// other than null.
func (v *validator) present(path string) bool {
	_, ok := v.lines[path]
	return ok && !v.nulls[path]
}

// toolKinds are the keys of a [ToolRef], one of which an entry must have.
var toolKinds = []string{"builtin", "shell", "http"}

// tool checks the tools entry at item. names maps the tool names seen so
// far to the entries using them.
func (v *validator) tool(item string, t ToolRef, names map[string]string) {
	var kinds []string
	for _, k := range toolKinds {
		// A null value counts: "shell:" alone is a shell tool missing its
		// keys.
		if _, ok := v.lines[joinKey(item, k)]; ok {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) != 1 {
		found := "none"
		if len(kinds) > 1 {
			found = strings.Join(kinds[:len(kinds)-1], ", ") + " and " + kinds[len(kinds)-1]
		}
		v.invalid(item, "must have exactly one of builtin, shell or http, found "+found)
		return
	}
	switch kinds[0] {
	case "builtin":
		if v.required(item, "builtin", t.Builtin) {
			v.uniqueTool(names, strings.TrimSpace(t.Builtin), item, item+".builtin")
		}
	case "shell":
		s := t.Shell
		if s == nil {
			s = &ShellTool{}
		}
		p := item + ".shell"
		v.toolName(p, s.Name, item, names)
		cmd := p + ".command"
		_, hasCmd := v.lines[cmd]
		switch {
		case !hasCmd:
			v.missing(p, "command")
		case len(s.Command) == 0:
			v.invalid(cmd, "must not be empty")
		case strings.TrimSpace(s.Command[0]) == "":
			v.invalid(cmd+"[0]", "must not be blank: it names the program")
		}
		v.parameters(p + ".parameters")
		v.timeout(p+".timeout", s.TimeoutSeconds)
		v.envNames(p+".env", s.Env)
	case "http":
		h := t.HTTP
		if h == nil {
			h = &HTTPTool{}
		}
		p := item + ".http"
		v.toolName(p, h.Name, item, names)
		if v.required(p, "url", h.URL) {
			v.httpURL(p+".url", h.URL)
		}
		if h.Method != "" && !slices.Contains(httpMethods, strings.ToUpper(h.Method)) {
			v.invalid(p+".method", fmt.Sprintf("%q is not one of %s", h.Method, strings.Join(httpMethods, ", ")))
		}
		v.headers(p+".headers", h.Headers)
		v.parameters(p + ".parameters")
		v.timeout(p+".timeout", h.TimeoutSeconds)
	}
}

// httpMethods are the methods an HTTP tool may use.
var httpMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}

// toolNamePattern is what model providers accept as a tool name.
var toolNamePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// toolName checks the name of the shell or http tool at parent, in the
// entry item.
func (v *validator) toolName(parent, name, item string, names map[string]string) {
	if !v.required(parent, "name", name) {
		return
	}
	path := parent + ".name"
	if !toolNamePattern.MatchString(name) {
		v.invalid(path, fmt.Sprintf("%q is not a valid tool name: use 1 to 64 letters, digits, underscores or hyphens", name))
		return
	}
	v.uniqueTool(names, name, item, path)
}

// uniqueTool records that the entry item uses the tool name held at path,
// reporting a name already used by another entry.
func (v *validator) uniqueTool(names map[string]string, name, item, path string) {
	if prev, dup := names[name]; dup {
		v.invalid(path, fmt.Sprintf("duplicate tool name %q, already used by %s%s", name, entryOf(prev), at(v.lines[prev])))
		return
	}
	names[name] = path
}

// entryOf returns the list entry a key path is in: "tools[0]" for
// "tools[0].shell.name".
func entryOf(path string) string {
	if i := strings.IndexByte(path, ']'); i >= 0 {
		return path[:i+1]
	}
	return path
}

// mcpServer checks the mcp_servers entry at item. names maps the server
// names seen so far to the key paths holding them.
func (v *validator) mcpServer(item string, s MCPServer, names map[string]string) {
	if v.required(item, "name", s.Name) {
		path := item + ".name"
		if prev, dup := names[s.Name]; dup {
			v.invalid(path, fmt.Sprintf("duplicate server name %q, already used by %s%s", s.Name, entryOf(prev), at(v.lines[prev])))
		} else {
			names[s.Name] = path
		}
	}
	switch s.Transport() {
	case TransportStdio:
		v.required(item, "command", s.Command)
	case TransportStreamableHTTP, TransportSSE:
		if v.required(item, "url", s.URL) {
			v.httpURL(item+".url", s.URL)
		}
	default:
		v.invalid(item+".transport_type", fmt.Sprintf("%q is not one of %s, %s or %s",
			s.TransportType, TransportStdio, TransportStreamableHTTP, TransportSSE))
	}
	v.envNames(item+".env", s.Env)
	v.headers(item+".headers", s.Headers)
	v.timeout(item+".timeout", s.TimeoutSeconds)
}

// parameters checks the converted parameters at path, if any: a JSON
// Schema for the arguments object, which the tools require to say so.
func (v *validator) parameters(path string) {
	r, ok := v.raws[path]
	if !ok {
		return
	}
	switch {
	case !r.hasType:
		v.missing(path, "type")
	case !r.isObject:
		v.problems = append(v.problems, problemAt(path+".type", r.typeLine, `must be "object"`))
	}
}

// timeout checks a timeout in seconds, unless it is absent or null.
func (v *validator) timeout(path string, seconds float64) {
	if !v.present(path) {
		return
	}
	switch {
	case !(seconds > 0): // NaN fails too.
		v.invalid(path, "must be greater than 0")
	case seconds > maxTimeoutSeconds:
		v.invalid(path, fmt.Sprintf("must be at most %d seconds", math.MaxInt64/int64(time.Second)))
	}
}

// placeholder matches a ${VAR} reference.
var placeholder = regexp.MustCompile(`\$\{[^{}]*\}`)

// httpURL checks that raw is an absolute http or https URL. ${VAR}
// references are not expanded: each stands for a value that fits where it
// is, and one at the very start may hold the whole URL. The URL is not
// quoted in the message, as its query may carry a token.
func (v *validator) httpURL(path, raw string) {
	if strings.HasPrefix(raw, "${") {
		return
	}
	u, err := url.Parse(placeholder.ReplaceAllString(raw, "0"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.invalid(path, "must be an absolute http or https URL")
	}
}

// envNames checks the variable names of an env mapping.
func (v *validator) envNames(path string, env map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			v.invalidKey(path, k, fmt.Sprintf("invalid variable name %q", k))
		}
	}
}

// headers checks the names and values of a headers mapping. Values are
// never quoted: they may hold secrets.
func (v *validator) headers(path string, headers map[string]string) {
	for _, k := range slices.Sorted(maps.Keys(headers)) {
		switch {
		case !validHeaderName(k):
			v.invalidKey(path, k, fmt.Sprintf("invalid header name %q", k))
		case strings.ContainsAny(headers[k], "\r\n\x00"):
			v.invalidKey(path, k, fmt.Sprintf("value of header %q contains a line break or NUL", k))
		}
	}
}

// invalidKey reports a problem with key k of the mapping at path, on the
// key's line.
func (v *validator) invalidKey(path, k, msg string) {
	key := joinKey(path, k)
	line := v.lines[key]
	v.problems = append(v.problems, Problem{Key: key, Line: line, Message: fmt.Sprintf("%s%s: %s", path, at(line), msg)})
}

// validHeaderName reports whether name is an HTTP token (RFC 9110).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
