package goagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/traefik/yaegi/interp"

	"github.com/omniserve/omniserve"
)

// MaxFileSize is the largest agent file [Load] reads.
const MaxFileSize = 1 << 20

// ErrNotFound means the agent file does not exist. [Load] wraps it with the
// path.
var ErrNotFound = errors.New("agent file not found")

// Options tune [Load]. The zero value is ready to use.
type Options struct {
	// Stdout receives what the file prints with fmt.Print, fmt.Println,
	// fmt.Printf and the print builtins, while it loads and later while its
	// tools run. Nil discards it. Writing to os.Stdout directly bypasses it.
	Stdout io.Writer
	// Stderr receives the file's log package output and the interpreter's
	// panic traces. Nil discards them.
	Stderr io.Writer
	// Env is the environment the file sees through os.Getenv, os.LookupEnv
	// and os.Environ, as "KEY=value" entries; the file's os.Setenv changes
	// only this copy. Nil means an empty environment. It does not affect
	// the model key, which [omniserve.NewAgent] reads through
	// AgentConfig.LookupEnv (the process environment by default).
	Env []string
}

// The names an agent file defines, looked up in this order.
const (
	agentVar    = "Agent"
	createAgent = "CreateAgent"
)

var (
	agentType = reflect.TypeFor[*omniserve.Agent]()
	errorType = reflect.TypeFor[error]()
)

// loadError is a problem with an agent file whose message already names the
// file, usually as "FILE:LINE:COL: message".
type loadError struct {
	msg string
	err error
}

func (e *loadError) Error() string { return e.msg }
func (e *loadError) Unwrap() error { return e.err }

// Load reads the Go agent file at path, interprets it and returns the agent
// it defines: the package-level variable Agent if the file declares one,
// else the result of calling its CreateAgent function, which may return an
// error as its second result. See the package documentation for the rules a
// file follows.
//
// Errors name the file. Syntax and type errors, a func main and imports the
// interpreter cannot satisfy are reported as "FILE:LINE:COL: message", one
// per line; a panic while the file is set up is returned as an error, and
// the process carries on. A missing file is [ErrNotFound]; a file larger
// than [MaxFileSize] is refused unread.
//
// Cancelling ctx stops the interpretation of the file's package-level
// declarations and init functions. CreateAgent cannot be interrupted: Load
// returns ctx's error at once, and CreateAgent runs on until it returns.
func Load(ctx context.Context, path string, opts Options) (*omniserve.Agent, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("load agent file %s: %w", path, err)
	}
	src, err := readFile(path)
	if err != nil {
		return nil, err
	}

	l := &loader{path: path, fset: token.NewFileSet(), panics: &panicWatch{w: orDiscard(opts.Stderr)}}
	l.f, err = parser.ParseFile(l.fset, path, src, parser.DeclarationErrors|parser.ParseComments)
	if err != nil {
		return nil, &loadError{msg: err.Error(), err: err}
	}
	if err := check(l.fset, l.f); err != nil {
		return nil, err
	}

	l.i = interp.New(interp.Options{
		Stdin:  strings.NewReader(""),
		Stdout: orDiscard(opts.Stdout),
		Stderr: l.panics,
		Args:   []string{path},
		Env:    opts.Env,
		// Imports resolve to the exported symbol tables only, never to
		// source found on disk.
		SourcecodeFilesystem: noSource{},
	})
	if err := l.i.Use(exported().symbols); err != nil {
		return nil, fmt.Errorf("agent file %s: set up the Go interpreter: %w", path, err)
	}
	if err := l.eval(ctx, withoutBuildConstraints(l.fset, l.f, src)); err != nil {
		return nil, err
	}

	pkg := l.f.Name.Name
	syms := l.i.Symbols(pkg)[pkg]
	if d, ok := findDecl(l.f, agentVar); ok {
		pos := l.pos(d.pos)
		if d.kind != "var" {
			return nil, &loadError{msg: fmt.Sprintf("%s: Agent must be a variable of type *omniserve.Agent, not a %s", pos, d.kind)}
		}
		return agentFromVar(pos, syms[agentVar])
	}
	if d, ok := findDecl(l.f, createAgent); ok {
		pos := l.pos(d.pos)
		if d.kind != "func" {
			return nil, &loadError{msg: fmt.Sprintf("%s: CreateAgent must be a function, not a %s", pos, d.kind)}
		}
		return l.callCreateAgent(ctx, pos, syms[createAgent])
	}
	return nil, &loadError{msg: fmt.Sprintf("agent file %s must define `var Agent *omniserve.Agent` or `func CreateAgent()`", path)}
}

// loader holds one agent file being loaded.
type loader struct {
	path   string
	fset   *token.FileSet
	f      *ast.File
	i      *interp.Interpreter
	panics *panicWatch
}

// pos formats a position in the file.
func (l *loader) pos(p token.Pos) string { return l.fset.Position(p).String() }

// eval compiles src, the file, and runs its package-level declarations and
// init functions.
//
// EvalWithContext is the one entry point of yaegi v0.16.1 that both stops
// the interpreter on cancellation and does so without a data race (its
// ExecuteWithContext and EvalPathWithContext write their named results from
// two goroutines). It names the source "_.go", and its errors start with
// the position alone; [loader.fileError] puts the path back.
func (l *loader) eval(ctx context.Context, src []byte) error {
	l.panics.start()
	_, err := l.i.EvalWithContext(ctx, string(src))
	if err == nil {
		return nil
	}
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return fmt.Errorf("load agent file %s: %w", l.path, err)
	}
	var p interp.Panic
	if !errors.As(err, &p) {
		return l.fileError(err)
	}
	if !l.panics.reported() {
		// No interpreted function reported the panic: the interpreter
		// itself failed, as it does on some newer language features.
		return &loadError{msg: fmt.Sprintf("agent file %s: the Go interpreter failed on this file (%v); "+
			"it runs the Go 1.21 language: no range over integers or functions, no min, max or clear, "+
			"no generic iterator helpers", l.path, p.Value), err: err}
	}
	return l.panicError("", err)
}

// positioned matches the start of an error message of the interpreter:
// "LINE:COL: ", or "_.go:LINE:COL: ".
var positioned = regexp.MustCompile(`^(?:` + regexp.QuoteMeta(interp.DefaultSourceName) + `:)?(\d+:\d+: )`)

// fileError names the file in an interpreter error: at the position the
// message starts with, if any.
func (l *loader) fileError(err error) error {
	msg := err.Error()
	if m := positioned.FindStringSubmatchIndex(msg); m != nil {
		return &loadError{msg: l.path + ":" + msg[m[2]:], err: err}
	}
	return &loadError{msg: fmt.Sprintf("agent file %s: %s", l.path, msg), err: err}
}

// withoutBuildConstraints returns a copy of src with the build constraint
// lines of f, its parsed form, blanked. An agent file carries
// `//go:build ignore` so that the Go tool skips it; yaegi would skip it as
// well on some forms of constraint. Positions are unchanged.
func withoutBuildConstraints(fset *token.FileSet, f *ast.File, src []byte) []byte {
	out := bytes.Clone(src)
	tf := fset.File(f.Package)
	for _, g := range f.Comments {
		if g.Pos() >= f.Package {
			break
		}
		for _, c := range g.List {
			if strings.HasPrefix(c.Text, "//go:build") || strings.HasPrefix(c.Text, "// +build") || strings.HasPrefix(c.Text, "//+build") {
				for i := tf.Offset(c.Pos()); i < tf.Offset(c.End()); i++ {
					out[i] = ' '
				}
			}
		}
	}
	return out
}

// panicError reports a panic in interpreted code, at the declaration of
// the function it happened in when the interpreter says which. during is
// the phase of the load: "" while the file is set up, or "CreateAgent".
func (l *loader) panicError(during string, err error) error {
	var p interp.Panic
	if !errors.As(err, &p) {
		return l.fileError(err)
	}
	where, in := "agent file "+l.path, ""
	if name, lit := l.panics.function(l.f.Name.Name); name != "" {
		if d, ok := findDecl(l.f, name); ok && d.kind == "func" {
			where = l.pos(d.pos)
		} else if pos, ok := findMethod(l.f, name); ok {
			where = l.pos(pos)
		}
		in = " in " + name
		if lit {
			in = " in a function literal in " + name
		}
	}
	var msg string
	switch {
	case during == "":
		msg = fmt.Sprintf("%s: panic%s while setting up the file: %v", where, in, p.Value)
	case in == "" || in == " in "+during:
		msg = fmt.Sprintf("%s: panic in %s: %v", where, during, p.Value)
	default:
		msg = fmt.Sprintf("%s: panic%s during %s: %v", where, in, during, p.Value)
	}
	return &loadError{msg: explain(msg), err: err}
}

// explain adds advice to an error message that shows a known interpreter
// limitation.
func explain(msg string) string {
	if strings.Contains(msg, "*interp.node") {
		// yaegi v0.16.1 passes a named function that went through a
		// parameter of type any to compiled code as its internal node.
		msg += " (the Go interpreter hands a named function passed through a parameter of type any to compiled code " +
			"as its own value: pass the function to Register directly, or give the parameter the function's type)"
	}
	return msg
}

// readFile reads at most [MaxFileSize] bytes of path.
func readFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read agent file: %w", err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("read agent file: %w", err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("agent file %s is a directory", path)
	}
	if info.Size() > MaxFileSize {
		return nil, fmt.Errorf("agent file %s is larger than %d bytes", path, MaxFileSize)
	}
	// The size may change between Stat and Read, so the cap is enforced
	// again on what is actually read.
	src, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read agent file: %w", err)
	}
	if len(src) > MaxFileSize {
		return nil, fmt.Errorf("agent file %s is larger than %d bytes", path, MaxFileSize)
	}
	return src, nil
}

// decl is a package-level declaration of a name.
type decl struct {
	pos  token.Pos
	kind string // "var", "const", "type" or "func"
}

// findDecl returns the package-level declaration of name in f, or false.
func findDecl(f *ast.File, name string) (decl, bool) {
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil && d.Name.Name == name {
				return decl{pos: d.Name.Pos(), kind: "func"}, true
			}
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.ValueSpec:
					for _, id := range s.Names {
						if id.Name == name {
							return decl{pos: id.Pos(), kind: d.Tok.String()}, true
						}
					}
				case *ast.TypeSpec:
					if s.Name.Name == name {
						return decl{pos: s.Name.Pos(), kind: "type"}, true
					}
				}
			}
		}
	}
	return decl{}, false
}

// agentFromVar returns the agent held by v, the variable Agent declared at
// pos.
func agentFromVar(pos string, v reflect.Value) (*omniserve.Agent, error) {
	if v.IsValid() && v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if v.IsValid() && v.Type() != agentType {
		return nil, &loadError{msg: fmt.Sprintf("%s: Agent has type %v, want *omniserve.Agent", pos, v.Type())}
	}
	var a *omniserve.Agent
	if v.IsValid() {
		a = v.Interface().(*omniserve.Agent)
	}
	if a == nil {
		return nil, &loadError{msg: fmt.Sprintf("%s: Agent is nil; if building the agent can fail, define `func CreateAgent() (*omniserve.Agent, error)` to report why", pos)}
	}
	return a, nil
}

// callCreateAgent calls fn, the function CreateAgent declared at pos.
func (l *loader) callCreateAgent(ctx context.Context, pos string, fn reflect.Value) (*omniserve.Agent, error) {
	if !fn.IsValid() {
		return nil, &loadError{msg: fmt.Sprintf("%s: CreateAgent is missing after interpretation", pos)}
	}
	if ft := fn.Type(); ft.Kind() != reflect.Func || ft.NumIn() != 0 ||
		ft.NumOut() < 1 || ft.NumOut() > 2 || ft.Out(0) != agentType ||
		(ft.NumOut() == 2 && ft.Out(1) != errorType) {
		return nil, &loadError{msg: fmt.Sprintf("%s: CreateAgent has type %v, want func() *omniserve.Agent or func() (*omniserve.Agent, error)", pos, ft)}
	}

	type result struct {
		agent *omniserve.Agent
		err   error
	}
	// Buffered: after a cancellation nobody receives, and the goroutine
	// must still end when CreateAgent does.
	done := make(chan result, 1)
	l.panics.start()
	go func() {
		var res result
		defer func() {
			if r := recover(); r != nil {
				res = result{err: l.panicError(createAgent, interp.Panic{Value: r})}
			}
			done <- res
		}()
		out := fn.Call(nil)
		res.agent, _ = out[0].Interface().(*omniserve.Agent)
		if len(out) == 2 {
			if err, _ := out[1].Interface().(error); err != nil {
				res.err = &loadError{msg: explain(fmt.Sprintf("%s: CreateAgent: %v", pos, err)), err: err}
			}
		}
	}()
	var res result
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("load agent file %s: %w", l.path, ctx.Err())
	case res = <-done:
	}
	if res.err != nil {
		return nil, res.err
	}
	if res.agent == nil {
		return nil, &loadError{msg: fmt.Sprintf("%s: CreateAgent returned a nil agent", pos)}
	}
	return res.agent, nil
}

// panicWatch passes the interpreter's standard error on and remembers the
// first "LINE:COL: panic: PKG.FUNC(...)" line written after
// [panicWatch.start]. The interpreter writes one such line per interpreted
// function a panic unwinds, innermost first. Their positions are not where
// the panic happened (yaegi v0.16.1 reports the function's first
// statement), but the function names are right.
type panicWatch struct {
	w io.Writer

	mu    sync.Mutex
	on    bool
	seen  bool
	first string // the PKG.FUNC part of the first line
}

// panicLine matches a line the interpreter writes for a panic.
var panicLine = regexp.MustCompile(`^(?:\S*:)?\d+:\d+: panic: ([^(\s]*)`)

func (s *panicWatch) Write(p []byte) (int, error) {
	s.mu.Lock()
	if s.on && !s.seen {
		if m := panicLine.FindSubmatch(p); m != nil {
			s.seen, s.first = true, string(m[1])
		}
	}
	s.mu.Unlock()
	return s.w.Write(p)
}

// start forgets the last panic and watches for the next.
func (s *panicWatch) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on, s.seen, s.first = true, false, ""
}

// reported reports whether an interpreted function reported a panic since
// start.
func (s *panicWatch) reported() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

// function returns the name of the innermost interpreted function of the
// first panic since start, or "" if the panic was outside any function,
// and whether it happened in a function literal inside that function; pkg
// is the file's package name. It stops watching, so that panics in tools
// later are not recorded.
func (s *panicWatch) function(pkg string) (name string, lit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = false
	rest, ok := strings.CutPrefix(s.first, pkg+".")
	if !ok {
		return "", false
	}
	name, after, _ := strings.Cut(rest, ".")
	return name, after != ""
}

// findMethod returns the position of the first method called name in f.
func findMethod(f *ast.File, name string) (token.Pos, bool) {
	for _, d := range f.Decls {
		if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv != nil && fd.Name.Name == name {
			return fd.Name.Pos(), true
		}
	}
	return token.NoPos, false
}

// noSource is a file system with no files: the interpreter finds no source
// to import, only the symbol tables it is given.
type noSource struct{}

func (noSource) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
