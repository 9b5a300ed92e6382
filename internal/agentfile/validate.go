package agentfile

import (
	"fmt"
	"strings"
)

// validate checks what the types cannot: required keys, ranges and
// duplicates. lines holds the line of each key present in the file.
func validate(f *File, lines map[string]int) []Problem {
	v := validator{lines: lines}
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

	first := map[string]string{} // builtin name → key path of its first entry
	for i, t := range f.Tools {
		item := fmt.Sprintf("tools[%d]", i)
		if !v.required(item, "builtin", t.Builtin) {
			continue
		}
		name, path := strings.TrimSpace(t.Builtin), item+".builtin"
		if prev, dup := first[name]; dup {
			v.invalid(path, fmt.Sprintf("duplicate builtin %q, already listed%s", name, at(lines[prev])))
			continue
		}
		first[name] = path
	}
	return v.problems
}

type validator struct {
	lines    map[string]int
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
