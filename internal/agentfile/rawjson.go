package agentfile

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml/ast"
)

// checkRaw converts n, the value of a json.RawMessage field such as a tool's
// parameters, to compact JSON with its keys in file order, and records it
// under path. The value must be a mapping. It is converted here, from the
// syntax tree, rather than by the YAML library, so that problems carry
// their lines and so that anchors and aliases inside it can be refused: the
// library would expand them into text, with no bound on the size and none
// on aliases that refer to themselves.
func (c *checker) checkRaw(n ast.Node, path string) {
	pairs, ok := mappingPairs(n)
	if !ok {
		c.wrongType(n, path, "a mapping")
		return
	}
	v, done := c.converted[n]
	if !done {
		v.json = c.appendJSON(nil, n, path)
		for _, mv := range pairs {
			if mv == nil || mv.Key == nil {
				continue
			}
			if key, ok := scalarKey(mv.Key); ok && key == "type" {
				v.hasType, v.typeLine = true, lineOf(mv.Key)
				s, ok := mv.Value.(*ast.StringNode)
				v.isObject = ok && s.Value == "object"
			}
		}
		c.converted[n] = v
	}
	c.raws[path] = v
}

// appendJSON appends the JSON form of n to b, recording a problem for each
// value JSON cannot hold or that is written with YAML features a schema
// has no use for.
func (c *checker) appendJSON(b []byte, n ast.Node, path string) []byte {
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return append(b, "null"...)
	case *ast.BoolNode:
		return strconv.AppendBool(b, v.Value)
	case *ast.IntegerNode:
		// The number is kept as written when JSON allows it, as in a JSON
		// file; otherwise (0x10, 1_000, +5) it is spelled in decimal.
		if text := tokenText(v); isJSONNumber(text) {
			return append(b, text...)
		}
		switch x := v.Value.(type) {
		case int64:
			return strconv.AppendInt(b, x, 10)
		case uint64:
			return strconv.AppendUint(b, x, 10)
		}
	case *ast.FloatNode:
		if math.IsInf(v.Value, 0) || math.IsNaN(v.Value) {
			c.add(path, lineOf(n), "number out of range")
			return b
		}
		if text := tokenText(v); isJSONNumber(text) {
			return append(b, text...)
		}
		return strconv.AppendFloat(b, v.Value, 'g', -1, 64)
	case *ast.InfinityNode, *ast.NanNode:
		c.add(path, lineOf(n), "JSON has no infinity or NaN")
		return b
	case *ast.StringNode:
		// The YAML library leaves some plain numbers as strings: exponents
		// without a dot (1e-7, and 1E2 in a JSON file) and integers too
		// long for 64 bits. JSON reads them as numbers, and so do we.
		if isPlainNumber(v) {
			if _, err := strconv.ParseFloat(v.Value, 64); err != nil {
				c.add(path, lineOf(n), "number out of range")
				return b
			}
			return append(b, v.Value...)
		}
		return appendJSONString(b, v.Value)
	case *ast.LiteralNode:
		if v.Value != nil {
			return appendJSONString(b, v.Value.Value)
		}
		return appendJSONString(b, "")
	case *ast.SequenceNode:
		b = append(b, '[')
		for i, item := range v.Values {
			if i > 0 {
				b = append(b, ',')
			}
			b = c.appendJSON(b, item, fmt.Sprintf("%s[%d]", path, i))
		}
		return append(b, ']')
	case *ast.MappingNode, *ast.MappingValueNode:
		return c.appendJSONObject(b, n, path)
	case *ast.AnchorNode, *ast.AliasNode:
		c.add(path, lineOf(n), "anchors and aliases are not supported inside parameters")
		return b
	case *ast.TagNode:
		c.add(path, lineOf(n), fmt.Sprintf("tag %s is not supported inside parameters", v.Start.Value))
		return b
	}
	c.add(path, lineOf(n), "value is not valid in JSON")
	return b
}

// appendJSONObject appends the JSON form of mapping n to b.
func (c *checker) appendJSONObject(b []byte, n ast.Node, path string) []byte {
	pairs, _ := mappingPairs(n)
	seen := make(map[string]int, len(pairs)) // key → line
	b = append(b, '{')
	first := true
	for _, mv := range pairs {
		if mv == nil || mv.Key == nil {
			continue
		}
		line := lineOf(mv.Key)
		if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
			c.add(path, line, `merge key "<<" is not supported inside parameters`)
			continue
		}
		key, ok := scalarKey(mv.Key)
		if !ok {
			c.add(path, line, "keys must be plain scalars, without anchors, aliases or tags")
			continue
		}
		child := joinKey(path, key)
		// The parser refuses duplicate keys; this keeps the object
		// unambiguous should one get through.
		if prev, dup := seen[key]; dup {
			c.add(child, line, fmt.Sprintf("duplicate key %q, already at line %d", key, prev))
			continue
		}
		seen[key] = line
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, key)
		b = append(b, ':')
		b = c.appendJSON(b, mv.Value, child)
	}
	return append(b, '}')
}

// scalarKey returns the text of a mapping key that is a scalar: numbers and
// booleans become the string they are written as, as JSON object keys must
// be strings.
func scalarKey(k ast.MapKeyNode) (string, bool) {
	var n ast.Node = k
	if mk, ok := k.(*ast.MappingKeyNode); ok {
		n = mk.Value
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.NullNode, *ast.InfinityNode, *ast.NanNode:
		return tokenText(v), true
	}
	return "", false
}

func tokenText(n ast.Node) string {
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// appendJSONString appends s as a JSON string.
func appendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil {
		// Marshalling a string cannot fail; keep the output valid anyway.
		return append(b, `""`...)
	}
	return append(b, q...)
}

// isJSONNumber reports whether s is a number in JSON's grammar: an optional
// minus, an integer part without leading zeros, an optional fraction and an
// optional exponent.
func isJSONNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	digits := func(s string) (rest string, n int) {
		for n < len(s) && '0' <= s[n] && s[n] <= '9' {
			n++
		}
		return s[n:], n
	}
	rest, n := digits(s)
	if n == 0 || (n > 1 && s[0] == '0') {
		return false
	}
	if strings.HasPrefix(rest, ".") {
		if rest, n = digits(rest[1:]); n == 0 {
			return false
		}
	}
	if len(rest) > 0 && (rest[0] == 'e' || rest[0] == 'E') {
		rest = rest[1:]
		if len(rest) > 0 && (rest[0] == '+' || rest[0] == '-') {
			rest = rest[1:]
		}
		if rest, n = digits(rest); n == 0 {
			return false
		}
	}
	return rest == ""
}
