package goagent

import (
	"cmp"
	"fmt"
	"go/ast"
	"go/token"
	"reflect"
	"strconv"
	"strings"
)

// maxProblems bounds the problems one check reports.
const maxProblems = 10

// check finds what the interpreter would refuse, run by surprise or report
// badly in a parsed agent file: func main, imports it cannot satisfy, and
// the common uses of language features newer than it understands. Each
// problem is "FILE:LINE:COL: message", one per line.
func check(fset *token.FileSet, f *ast.File) error {
	c := checker{fset: fset}
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil || exported().paths[p] {
			continue
		}
		if withheld[p] {
			c.addf(imp.Path.Pos(), "package %q is not available to agent files: it reaches past the agent into the server process or the machine", p)
		} else {
			c.addf(imp.Path.Pos(), "package %q is not available to agent files: they may import the standard library and github.com/omniserve/omniserve", p)
		}
	}
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == "main" {
			c.addf(fd.Name.Pos(), "an agent file must not declare func main, which the interpreter would run on load; define `var Agent *omniserve.Agent` or `func CreateAgent()` instead")
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && isBuiltin(id) {
				switch id.Name {
				case "min", "max", "clear":
					c.addf(id.Pos(), "the Go interpreter has no builtin %s (it runs the Go 1.21 language); write it out", id.Name)
				}
			}
			if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Register" && len(n.Args) == 3 {
				c.checkTool(n.Args[2])
			}
		case *ast.RangeStmt:
			switch {
			case isInt(n.X, 0):
				c.addf(n.X.Pos(), "the Go interpreter cannot range over an integer (it runs the Go 1.21 language); use for i := 0; i < n; i++")
			case isFunc(n.X):
				c.addf(n.X.Pos(), "the Go interpreter cannot range over a function (it runs the Go 1.21 language)")
			}
		}
		return true
	})
	return c.err()
}

// checkTool checks the argument type of fn, a function passed to
// ToolRegistry.Register, for the two struct shapes the interpreter builds
// differently from the compiler, which would change the tool's JSON Schema
// and argument decoding: it exports unexported fields, renaming note to
// Xnote, and it does not embed an embedded struct unless it is the only
// field. Only functions and types declared in the file are followed.
func (c *checker) checkTool(fn ast.Expr) {
	var ft *ast.FuncType
	switch fn := fn.(type) {
	case *ast.FuncLit:
		ft = fn.Type
	case *ast.Ident:
		if fn.Obj == nil || fn.Obj.Kind != ast.Fun {
			return
		}
		fd, ok := fn.Obj.Decl.(*ast.FuncDecl)
		if !ok {
			return
		}
		ft = fd.Type
	default:
		return
	}
	if ft.Params == nil || len(ft.Params.List) == 0 {
		return
	}
	c.checkArgType(ft.Params.List[len(ft.Params.List)-1].Type, "", map[*ast.Object]bool{})
}

// checkArgType checks the structs reachable from t, a type expression;
// name is the name of t when it is a declared type.
func (c *checker) checkArgType(t ast.Expr, name string, seen map[*ast.Object]bool) {
	switch t := t.(type) {
	case *ast.ParenExpr:
		c.checkArgType(t.X, name, seen)
	case *ast.StarExpr:
		c.checkArgType(t.X, "", seen)
	case *ast.ArrayType:
		c.checkArgType(t.Elt, "", seen)
	case *ast.MapType:
		c.checkArgType(t.Value, "", seen)
	case *ast.Ident:
		if t.Obj == nil || t.Obj.Kind != ast.Typ || seen[t.Obj] {
			return
		}
		seen[t.Obj] = true
		if ts, ok := t.Obj.Decl.(*ast.TypeSpec); ok {
			c.checkArgType(ts.Type, t.Name, seen)
		}
	case *ast.StructType:
		c.checkStruct(t, cmp.Or(name, "the argument struct"), seen)
	}
}

// checkStruct checks the fields of st, called name in messages.
func (c *checker) checkStruct(st *ast.StructType, name string, seen map[*ast.Object]bool) {
	n := 0
	for _, f := range st.Fields.List {
		n += max(1, len(f.Names))
	}
	for _, f := range st.Fields.List {
		tag := ""
		if f.Tag != nil {
			tag, _ = strconv.Unquote(f.Tag.Value)
		}
		jsonName, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
		if len(f.Names) == 0 {
			if n > 1 && jsonName == "" {
				c.addf(f.Type.Pos(), "embedded field %s of %s, part of a tool's arguments, is not flattened by the Go interpreter: give it a json tag, or declare its fields in %s", typeName(f.Type), name, name)
			}
		} else if jsonName != "-" {
			for _, id := range f.Names {
				if !id.IsExported() {
					c.addf(id.Pos(), "field %s of %s, part of a tool's arguments, is unexported: the Go interpreter would export it as X%s, a tool argument; export it, or tag it `json:\"-\"`", id.Name, name, id.Name)
				}
			}
		}
		if jsonName != "-" {
			c.checkArgType(f.Type, "", seen)
		}
	}
}

// typeName renders a simple type expression: a name, possibly qualified
// or behind a pointer.
func typeName(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return "*" + typeName(t.X)
	case *ast.SelectorExpr:
		return typeName(t.X) + "." + t.Sel.Name
	}
	return "?"
}

// checker collects problems.
type checker struct {
	fset     *token.FileSet
	problems []string
	more     int
	// seen holds the problems found, as a type shared by tools would be
	// reported once per tool.
	seen map[string]bool
}

func (c *checker) addf(pos token.Pos, format string, args ...any) {
	p := c.fset.Position(pos).String() + ": " + fmt.Sprintf(format, args...)
	if c.seen[p] {
		return
	}
	if c.seen == nil {
		c.seen = map[string]bool{}
	}
	c.seen[p] = true
	if len(c.problems) == maxProblems {
		c.more++
		return
	}
	c.problems = append(c.problems, p)
}

// err returns the problems as one error, or nil.
func (c *checker) err() error {
	if len(c.problems) == 0 {
		return nil
	}
	msg := strings.Join(c.problems, "\n")
	if c.more > 0 {
		msg += fmt.Sprintf("\n%d more problems not shown", c.more)
	}
	return &loadError{msg: msg}
}

// isBuiltin reports whether id refers to a predeclared identifier: the
// parser resolves names declared in the file, so in a one-file package an
// unresolved name is predeclared.
func isBuiltin(id *ast.Ident) bool { return id.Obj == nil }

// intTypes are the predeclared integer types.
var intTypes = map[string]bool{
	"int": true, "int8": true, "int16": true, "int32": true, "int64": true,
	"uint": true, "uint8": true, "uint16": true, "uint32": true, "uint64": true,
	"uintptr": true, "byte": true, "rune": true,
}

// isInt reports whether x is evidently an integer: a literal, len or cap,
// arithmetic on those, or a name declared with an integer type or value.
// It is a syntactic guess that errs towards false; depth bounds the
// following of declarations.
func isInt(x ast.Expr, depth int) bool {
	if depth > 8 {
		return false
	}
	switch x := x.(type) {
	case *ast.BasicLit:
		return x.Kind == token.INT
	case *ast.ParenExpr:
		return isInt(x.X, depth+1)
	case *ast.UnaryExpr:
		return (x.Op == token.SUB || x.Op == token.ADD) && isInt(x.X, depth+1)
	case *ast.BinaryExpr:
		switch x.Op {
		case token.ADD, token.SUB, token.MUL, token.QUO, token.REM:
			return isInt(x.X, depth+1) || isInt(x.Y, depth+1)
		}
		return false
	case *ast.CallExpr:
		if id, ok := x.Fun.(*ast.Ident); ok {
			if isBuiltin(id) {
				return id.Name == "len" || id.Name == "cap" || intTypes[id.Name]
			}
		}
		return false
	case *ast.Ident:
		return isIntName(x, depth)
	}
	return false
}

// isIntName reports whether id names a variable or constant declared with
// an integer type or initial value.
func isIntName(id *ast.Ident, depth int) bool {
	if id.Obj == nil || (id.Obj.Kind != ast.Var && id.Obj.Kind != ast.Con) {
		return false
	}
	isIntType := func(t ast.Expr) bool {
		tid, ok := t.(*ast.Ident)
		return ok && isBuiltin(tid) && intTypes[tid.Name]
	}
	switch d := id.Obj.Decl.(type) {
	case *ast.Field:
		return isIntType(d.Type)
	case *ast.ValueSpec:
		if d.Type != nil {
			return isIntType(d.Type)
		}
		for i, name := range d.Names {
			if name.Name == id.Name && i < len(d.Values) && len(d.Values) == len(d.Names) {
				return isInt(d.Values[i], depth+1)
			}
		}
	case *ast.AssignStmt:
		for i, lhs := range d.Lhs {
			if l, ok := lhs.(*ast.Ident); ok && l.Name == id.Name && len(d.Rhs) == len(d.Lhs) {
				return isInt(d.Rhs[i], depth+1)
			}
		}
	}
	return false
}

// isFunc reports whether x is evidently a function: a literal or the name
// of a function declared in the file.
func isFunc(x ast.Expr) bool {
	switch x := x.(type) {
	case *ast.FuncLit:
		return true
	case *ast.Ident:
		return x.Obj != nil && x.Obj.Kind == ast.Fun
	}
	return false
}
