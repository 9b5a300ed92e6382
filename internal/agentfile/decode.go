package agentfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
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

	c := newChecker(root)
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	c.check(root, reflect.TypeFor[File](), "")
	if len(c.problems) > 0 {
		return nil, c.problems
	}
	c.detachRaw()
	var f File
	if err := yaml.NodeToValue(root, &f, yaml.Strict()); err != nil {
		return nil, []Problem{libraryProblem(err, "invalid value")}
	}
	c.fillRaw(&f)
	if problems := validate(&f, c); len(problems) > 0 {
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

// maxAliasVisits bounds the nodes the checker visits through aliases. An
// alias costs a few bytes and may stand for a large subtree, so without a
// bound a small file of aliases of aliases would expand past any memory.
const maxAliasVisits = 1 << 16

// checker walks a syntax tree against a Go type, recording unknown keys and
// values of the wrong kind, and the line of every key it sees. It follows
// aliases, so that it sees every value the decoder will, and converts each
// [json.RawMessage] value to JSON, which the decoder cannot do.
type checker struct {
	problems []Problem
	// lines maps each key path present in the file ("model_config.model",
	// "tools[0]") to its line, for messages about values found later.
	lines map[string]int
	// nulls holds the key paths whose value is null, which validate treats
	// as absent.
	nulls map[string]bool
	// anchors maps each anchor name to the node it marks.
	anchors map[string]ast.Node
	// aliasDepth counts the aliases being followed, and aliasVisits the
	// nodes visited through them.
	aliasDepth, aliasVisits int
	// raws maps the key path of each json.RawMessage value to its JSON.
	raws map[string]rawValue
	// converted caches conversions by node, so that a value reached through
	// several aliases is converted, and its problems reported, once.
	converted map[ast.Node]rawValue
	// rawPairs are the pairs that hold a json.RawMessage value.
	rawPairs []*ast.MappingValueNode
}

// rawValue is a json.RawMessage value converted to JSON, with what
// validate needs to know about its top-level "type" key.
type rawValue struct {
	json json.RawMessage
	// hasType says whether the mapping has a "type" key, on line typeLine.
	hasType  bool
	typeLine int
	// isObject says whether that key's value is the string "object".
	isObject bool
}

var rawType = reflect.TypeFor[json.RawMessage]()

// newChecker returns a checker for the tree under root, having collected
// its anchors. An anchor name defined twice is a problem: YAML lets the
// second definition shadow the first from there on, but the decoder and
// the checker would not agree on which one an alias means.
func newChecker(root ast.Node) *checker {
	c := &checker{
		lines:     map[string]int{},
		nulls:     map[string]bool{},
		anchors:   map[string]ast.Node{},
		raws:      map[string]rawValue{},
		converted: map[ast.Node]rawValue{},
	}
	first := map[string]int{} // anchor name → line of its definition
	ast.Walk(anchorVisitor(func(a *ast.AnchorNode) {
		name, line := anchorName(a), lineOf(a)
		if prev, dup := first[name]; dup {
			c.problems = append(c.problems, Problem{
				Line:    line,
				Message: fmt.Sprintf("line %d: anchor %q is already defined at line %d", line, name, prev),
			})
			return
		}
		first[name] = line
		c.anchors[name] = a.Value
	}), root)
	return c
}

// anchorVisitor is an [ast.Visitor] calling itself on every anchor.
type anchorVisitor func(*ast.AnchorNode)

func (f anchorVisitor) Visit(n ast.Node) ast.Visitor {
	if a, ok := n.(*ast.AnchorNode); ok && a.Name != nil {
		f(a)
	}
	return f
}

func anchorName(a *ast.AnchorNode) string {
	if tk := a.Name.GetToken(); tk != nil {
		return tk.Value
	}
	return a.Name.String()
}

func (c *checker) check(n ast.Node, t reflect.Type, path string) {
	if c.aliasDepth > 0 {
		c.aliasVisits++
		if c.aliasVisits > maxAliasVisits {
			if c.aliasVisits == maxAliasVisits+1 {
				c.add(path, lineOf(n), fmt.Sprintf("aliases expand to more than %d values", maxAliasVisits))
			}
			return
		}
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch v := n.(type) {
	case nil, *ast.NullNode:
		// A null value leaves the field at its zero value.
		c.nulls[path] = true
		return
	case *ast.AliasNode:
		c.checkAlias(v, t, path)
		return
	case *ast.TagNode:
		c.checkTagged(v, t, path)
		return
	case *ast.AnchorNode:
		c.check(v.Value, t, path)
		return
	}
	if t == rawType {
		c.checkRaw(n, path)
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
				// A json.RawMessage merged in would reach the decoder
				// unconverted, so where one could be, merges are refused.
				if containsRaw(t) {
					c.add(path, lineOf(mv.Key), `merge key "<<" is not supported here`)
					continue
				}
				c.checkMerge(mv.Value, t, path)
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
			if field.Type == rawType {
				c.rawPairs = append(c.rawPairs, mv)
			}
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
			if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
				c.checkMerge(mv.Value, t, path)
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
		switch v := n.(type) {
		case *ast.IntegerNode, *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		case *ast.StringNode:
			// The parser keeps exponents without a dot (1e3, and 5E-1 in a
			// JSON file) as plain strings, which the decoder reads as
			// numbers all the same.
			if !isPlainNumber(v) {
				c.wrongType(n, path, "a number")
				return
			}
			if _, err := strconv.ParseFloat(v.Value, t.Bits()); err != nil {
				c.add(path, c.lineFor(n, path), "number out of range")
			}
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

// checkTagged checks a tagged value. Tags are refused where a list or a
// mapping goes, which covers everywhere a json.RawMessage could be inside:
// the decoder cannot decode a tagged mapping into a struct, panics on some
// tags where a list goes, and would not see the value this checker
// converts. Tagged scalars (!!str 5) are left to the decoder, which
// converts and checks them.
func (c *checker) checkTagged(v *ast.TagNode, t reflect.Type, path string) {
	switch t.Kind() {
	case reflect.Slice, reflect.Struct, reflect.Map:
		tag := ""
		if v.Start != nil {
			tag = v.Start.Value
		}
		c.add(path, c.lineFor(v, path), fmt.Sprintf("tag %s is not supported here", tag))
	}
}

// checkMerge checks what a merge key brings into the mapping of type t at
// path, as if its keys were written in the merge key's place: the decoder
// lets whichever comes later win, and so do the lines recorded here. A
// merge value is a mapping or a list of them, either possibly through an
// alias.
func (c *checker) checkMerge(v ast.Node, t reflect.Type, path string) {
	if a, ok := v.(*ast.AnchorNode); ok {
		v = a.Value
	}
	seq, ok := v.(*ast.SequenceNode)
	aliased := false
	if a, alias := v.(*ast.AliasNode); alias {
		seq, ok = c.anchors[aliasName(a)].(*ast.SequenceNode)
		aliased = ok
	}
	if !ok {
		c.check(v, t, path)
		return
	}
	if aliased {
		c.aliasDepth++
		defer func() { c.aliasDepth-- }()
	}
	for _, item := range seq.Values {
		c.check(item, t, path)
	}
}

// aliasName returns the anchor name alias a refers to.
func aliasName(a *ast.AliasNode) string {
	if a.Value == nil {
		return ""
	}
	if tk := a.Value.GetToken(); tk != nil {
		return tk.Value
	}
	return a.Value.String()
}

// checkAlias checks what alias a stands for as if it were written in its
// place. An alias the checker cannot resolve is left to the decoder, which
// reports it.
func (c *checker) checkAlias(a *ast.AliasNode, t reflect.Type, path string) {
	name := aliasName(a)
	target, ok := c.anchors[name]
	if !ok {
		return
	}
	if _, raw := c.converted[target]; raw && t != rawType {
		// The value will be detached from the tree before decoding.
		c.add(path, c.lineFor(a, path), fmt.Sprintf("alias %q stands for parameters, and may only be used as parameters", name))
		return
	}
	// Types do not nest themselves, so following an alias always descends
	// the type and cannot loop.
	c.aliasDepth++
	c.check(target, t, path)
	c.aliasDepth--
}

// detachRaw replaces every json.RawMessage value in the tree with null, for
// the decoder, which cannot decode a mapping into one. The values were
// converted by the walk and are restored by fillRaw.
func (c *checker) detachRaw() {
	for _, mv := range c.rawPairs {
		if mv.Value == nil {
			continue
		}
		if _, null := mv.Value.(*ast.NullNode); null {
			continue
		}
		pos := &token.Position{}
		if tk := mv.Value.GetToken(); tk != nil && tk.Position != nil {
			pos = tk.Position
		}
		mv.Value = ast.Null(token.New("null", "null", pos))
	}
}

// fillRaw sets the json.RawMessage fields of f from the converted values.
func (c *checker) fillRaw(f *File) {
	for i := range f.Tools {
		if s := f.Tools[i].Shell; s != nil {
			s.Parameters = c.raws[fmt.Sprintf("tools[%d].shell.parameters", i)].json
		}
		if h := f.Tools[i].HTTP; h != nil {
			h.Parameters = c.raws[fmt.Sprintf("tools[%d].http.parameters", i)].json
		}
	}
}

// containsRaw reports whether a value of type t can hold a json.RawMessage.
func containsRaw(t reflect.Type) bool {
	return containsRawSeen(t, map[reflect.Type]bool{})
}

func containsRawSeen(t reflect.Type, seen map[reflect.Type]bool) bool {
	if t == rawType {
		return true
	}
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		return containsRawSeen(t.Elem(), seen)
	case reflect.Struct:
		for f := range t.Fields() {
			if f.IsExported() && containsRawSeen(f.Type, seen) {
				return true
			}
		}
	}
	return false
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

// isPlainNumber reports whether s is an unquoted number in JSON's grammar.
func isPlainNumber(s *ast.StringNode) bool {
	tk := s.GetToken()
	return tk != nil && tk.Type == token.StringType && isJSONNumber(s.Value)
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
