package agentfile

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// decode parses data, checks its shape against [File], decodes it strictly
// and validates the result, returning every problem found by the first
// stage that finds any.
//
// The shape check walks the syntax tree before decoding because the decoder
// stops at the first error, names Go fields rather than keys, and quietly
// truncates 1.5 to 1 for an integer field. The strict decode still runs, as
// the final word on anything the walk leaves to it (aliases, tags, merges).
func decode(data []byte) (*File, []Problem) {
	tokens := lexer.Tokenize(string(data))
	if p, ok := checkNesting(tokens); !ok {
		return nil, []Problem{p}
	}
	file, err := parser.Parse(tokens, 0)
	if err != nil {
		return nil, []Problem{libraryProblem(err, "syntax error")}
	}
	var docs []ast.Node
	for _, d := range file.Docs {
		if d != nil && d.Body != nil {
			docs = append(docs, d.Body)
		}
	}
	switch {
	case len(docs) == 0:
		return nil, []Problem{{Message: "file is empty, want a mapping with at least name and model_config"}}
	case len(docs) > 1:
		line := lineOf(docs[1])
		return nil, []Problem{{Line: line, Message: fmt.Sprintf("second document%s: want exactly one document", at(line))}}
	}
	root := docs[0]

	c := checker{lines: map[string]int{}}
	c.check(root, reflect.TypeFor[File](), "")
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	var f File
	if err := yaml.NodeToValue(root, &f, yaml.Strict()); err != nil {
		return nil, []Problem{libraryProblem(err, "invalid value")}
	}
	if problems := validate(&f, c.lines); len(problems) > 0 {
		return nil, problems
	}
	return &f, nil
}

// maxNesting bounds how deeply collections may nest. The parser's time
// grows with the square of the depth, so unbounded, a 1 MiB file of "[" or
// "- - - " would take hours; agent files nest a handful of levels.
const maxNesting = 64

// checkNesting rejects tokens nested deeper than maxNesting. It counts flow
// collections, which can nest one level per byte, and block indicators
// sharing a line ("- - - a"), which can too. Nesting by indentation is left
// alone: it costs a line and a growing indent per level, so the size cap
// already bounds it.
func checkNesting(tokens token.Tokens) (Problem, bool) {
	flow, line, onLine := 0, 0, 0
	for _, tk := range tokens {
		if tk == nil || tk.Position == nil {
			continue
		}
		if tk.Position.Line != line {
			line, onLine = tk.Position.Line, 0
		}
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.SequenceEntryType, token.MappingKeyType, token.MappingValueType:
			if flow == 0 {
				onLine++
			}
		default:
			continue
		}
		if flow+onLine > maxNesting {
			return Problem{Line: line, Message: fmt.Sprintf("line %d: nested more than %d levels deep", line, maxNesting)}, false
		}
	}
	return Problem{}, true
}

// libraryProblem turns a go-yaml error into a Problem, keeping its line.
func libraryProblem(err error, what string) Problem {
	var ye yaml.Error
	if !errors.As(err, &ye) {
		return Problem{Message: fmt.Sprintf("%s: %v", what, err)}
	}
	line := 0
	if tk := ye.GetToken(); tk != nil && tk.Position != nil {
		line = tk.Position.Line
	}
	return Problem{Line: line, Message: fmt.Sprintf("%s%s: %s", what, at(line), ye.GetMessage())}
}

// checker walks a syntax tree against a Go type, recording unknown keys and
// values of the wrong kind, and the line of every key it sees.
type checker struct {
	problems []Problem
	// lines maps each key path present in the file ("model_config.model",
	// "tools[0]") to its line, for messages about values found later.
	lines map[string]int
}

func (c *checker) check(n ast.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := n.(type) {
	case nil, *ast.NullNode:
		// A null value leaves the field at its zero value.
		return
	case *ast.AliasNode, *ast.TagNode:
		// The decoder resolves these, and checks what they stand for.
		return
	case *ast.AnchorNode:
		c.check(v.Value, t, path)
		return
	}

	switch t.Kind() {
	case reflect.Struct:
		pairs, ok := mappingPairs(n)
		if !ok {
			c.wrongType(n, path, "a mapping")
			return
		}
		fields := fieldsByKey(t)
		for _, mv := range pairs {
			if mv == nil || mv.Key == nil {
				continue
			}
			if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
				continue
			}
			key, line := keyName(mv.Key), lineOf(mv.Key)
			field, known := fields[key]
			if !known {
				c.unknownKey(key, path, line)
				continue
			}
			child := joinKey(path, key)
			c.lines[child] = line
			c.check(mv.Value, field.Type, child)
		}
	case reflect.Map:
		pairs, ok := mappingPairs(n)
		if !ok {
			c.wrongType(n, path, "a mapping")
			return
		}
		for _, mv := range pairs {
			if mv == nil || mv.Key == nil {
				continue
			}
			child := joinKey(path, keyName(mv.Key))
			c.lines[child] = lineOf(mv.Key)
			c.check(mv.Value, t.Elem(), child)
		}
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			c.wrongType(n, path, "a list")
			return
		}
		for i, item := range seq.Values {
			child := fmt.Sprintf("%s[%d]", path, i)
			c.lines[child] = lineOf(item)
			c.check(item, t.Elem(), child)
		}
	case reflect.String:
		switch n.(type) {
		case *ast.StringNode, *ast.LiteralNode:
		default:
			c.wrongType(n, path, "a string")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		switch v := n.(type) {
		case *ast.IntegerNode:
			if !fitsInt(v, t) {
				c.add(path, c.lineFor(n, path), "integer out of range")
			}
		case *ast.StringNode:
			// The parser keeps integers too long for 64 bits as plain
			// strings; call them what they are.
			if isPlainDigits(v) {
				c.add(path, c.lineFor(n, path), "integer out of range")
				return
			}
			c.wrongType(n, path, "an integer")
		default:
			c.wrongType(n, path, "an integer")
		}
	case reflect.Float32, reflect.Float64:
		switch n.(type) {
		case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		default:
			c.wrongType(n, path, "a number")
		}
	case reflect.Bool:
		if _, ok := n.(*ast.BoolNode); !ok {
			c.wrongType(n, path, "true or false")
		}
	default:
		// Other kinds are left to the decoder.
	}
}

func (c *checker) wrongType(n ast.Node, path, want string) {
	c.add(path, c.lineFor(n, path), "expected "+want)
}

func (c *checker) unknownKey(key, parent string, line int) {
	in := ""
	if parent != "" {
		in = " in " + parent
	}
	c.problems = append(c.problems, Problem{
		Key:     joinKey(parent, key),
		Line:    line,
		Message: fmt.Sprintf("unknown key %q%s%s", key, in, at(line)),
	})
}

func (c *checker) add(path string, line int, msg string) {
	c.problems = append(c.problems, problemAt(path, line, msg))
}

// lineFor prefers the line of the key that holds n, which is where a reader
// looks first, and falls back to n's own line.
func (c *checker) lineFor(n ast.Node, path string) int {
	if line, ok := c.lines[path]; ok {
		return line
	}
	return lineOf(n)
}

// problemAt describes a problem with the value at path.
func problemAt(path string, line int, msg string) Problem {
	subject := path
	if subject == "" {
		subject = "top level"
	}
	return Problem{Key: path, Line: line, Message: fmt.Sprintf("%s%s: %s", subject, at(line), msg)}
}

// mappingPairs returns the key/value pairs of a mapping. A mapping with one
// pair may come as a bare MappingValueNode.
func mappingPairs(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch m := n.(type) {
	case *ast.MappingNode:
		return m.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{m}, true
	}
	return nil, false
}

// fieldsByKey maps the yaml key of each exported field of struct type t to
// the field.
func fieldsByKey(t reflect.Type) map[string]reflect.StructField {
	fields := make(map[string]reflect.StructField, t.NumField())
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "-" {
			continue
		}
		if key == "" {
			key = strings.ToLower(f.Name)
		}
		fields[key] = f
	}
	return fields
}

func keyName(k ast.MapKeyNode) string {
	if s, ok := k.(*ast.StringNode); ok {
		return s.Value
	}
	if tk := k.GetToken(); tk != nil {
		return tk.Value
	}
	return k.String()
}

func fitsInt(n *ast.IntegerNode, t reflect.Type) bool {
	v := reflect.New(t).Elem()
	switch x := n.Value.(type) {
	case int64:
		return !v.OverflowInt(x)
	case uint64:
		return x <= math.MaxInt64 && !v.OverflowInt(int64(x))
	}
	return false
}

// isPlainDigits reports whether s is an unquoted run of decimal digits with
// an optional sign.
func isPlainDigits(s *ast.StringNode) bool {
	if tk := s.GetToken(); tk == nil || tk.Type != token.StringType {
		return false
	}
	digits := strings.TrimLeft(s.Value, "+-")
	if len(s.Value)-len(digits) > 1 || digits == "" {
		return false
	}
	return strings.Trim(digits, "0123456789") == ""
}

func lineOf(n ast.Node) int {
	if n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

func joinKey(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// at renders " at line N", or nothing when the line is unknown.
func at(line int) string {
	if line <= 0 {
		return ""
	}
	return fmt.Sprintf(" at line %d", line)
}
