package goagent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/omniserve/omniserve"
)

func TestMain(m *testing.M) {
	// The Gemini SDK's dependencies start an OpenCensus worker at init;
	// it is process-wide and not ours to stop.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"))
}

// serve serves agent over HTTP for the length of the test.
func serve(t *testing.T, agent *omniserve.Agent) *httptest.Server {
	t.Helper()
	noEnv := func(string) (string, bool) { return "", false }
	srv := httptest.NewServer(omniserve.New(agent, omniserve.Config{LookupEnv: noEnv}).Handler())
	t.Cleanup(srv.Close)
	return srv
}

type runResult struct {
	Status    int
	Response  string `json:"response"`
	AgentName string `json:"agent_name"`
}

// runSync posts query to /run/sync.
func runSync(t *testing.T, srv *httptest.Server, query string) runResult {
	t.Helper()
	body, err := json.Marshal(map[string]string{"query": query})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+"/run/sync", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	res := runResult{Status: resp.StatusCode}
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	if res.Status != http.StatusOK {
		t.Fatalf("POST /run/sync: status %d: %s", res.Status, raw)
	}
	return res
}

// toolCall is a query the echo model turns into a call of tool.
func toolCall(tool, args string) string {
	return fmt.Sprintf("Please run %s.\n{\"tool\": %q, \"arguments\": %s}", tool, tool, args)
}

type toolInfo struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"inputSchema"`
}

// listTools gets /tools, by name.
func listTools(t *testing.T, srv *httptest.Server) map[string]toolInfo {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/tools", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Tools []toolInfo `json:"tools"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	out := map[string]toolInfo{}
	for _, tl := range body.Tools {
		out[tl.Name] = tl
	}
	return out
}

// schemaJSON is a schema as compact JSON, for comparison.
func schemaJSON(t *testing.T, s map[string]any) string {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLoadExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "examples", "agent.go")
	agent, err := Load(t.Context(), path, Options{})
	if err != nil {
		t.Fatalf("Load(%s): %v", path, err)
	}
	srv := serve(t, agent)

	tools := listTools(t, srv)
	wc, ok := tools["word_count"]
	if !ok {
		t.Fatalf("tools = %v, want word_count", tools)
	}
	wantSchema := `{"additionalProperties":false,"properties":{"text":{"description":"The text whose words to count.","type":"string"}},"required":["text"],"type":"object"}`
	if got := schemaJSON(t, wc.InputSchema); got != wantSchema {
		t.Errorf("word_count schema = %s, want %s", got, wantSchema)
	}
	if _, ok := tools["calculate"]; !ok {
		t.Errorf("tools = %v, want calculate", tools)
	}

	res := runSync(t, srv, toolCall("word_count", `{"text": "the quick brown fox"}`))
	if res.AgentName != "word_counter" {
		t.Errorf("agent_name = %q, want word_counter", res.AgentName)
	}
	if want := `{"words":4,"characters":19}`; res.Response != want {
		t.Errorf("response = %q, want %q", res.Response, want)
	}
	res = runSync(t, srv, toolCall("calculate", `{"expression": "6*7"}`))
	if !strings.Contains(res.Response, "42") {
		t.Errorf("calculate response = %q, want 42 in it", res.Response)
	}
}

func TestLoadTools(t *testing.T) {
	t.Parallel()
	var stdout, stderr syncBuffer
	agent, err := Load(t.Context(), filepath.Join("testdata", "tools.go"), Options{
		Stdout: &stdout,
		Stderr: &stderr,
		Env:    []string{"GREETING=hello"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := stdout.String(); got != "tools.go loaded\n" {
		t.Errorf("stdout = %q, want the file's init output", got)
	}
	srv := serve(t, agent)

	t.Run("schemas", func(t *testing.T) {
		t.Parallel()
		tools := listTools(t, srv)
		want := map[string]string{
			"add":   `{"additionalProperties":false,"properties":{"a":{"description":"The first addend.","type":"integer"},"b":{"description":"The second addend.","type":"integer"}},"required":["a","b"],"type":"object"}`,
			"scale": `{"additionalProperties":false,"properties":{"factor":{"description":"Defaults to 2.","type":"number"},"p":{"additionalProperties":false,"properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"],"type":"object"}},"required":["p"],"type":"object"}`,
		}
		for name, w := range want {
			tl, ok := tools[name]
			if !ok {
				t.Errorf("no tool %s in %v", name, tools)
				continue
			}
			if got := schemaJSON(t, tl.InputSchema); got != w {
				t.Errorf("%s schema:\n got %s\nwant %s", name, got, w)
			}
		}
	})

	calls := []struct {
		name, tool, args, want string
	}{
		{"struct argument", "add", `{"a": 2, "b": 40}`, "42"},
		{"pointer argument and struct result", "scale", `{"p": {"x": 1, "y": 1.5}, "factor": 3}`, `{"x":3,"y":4.5}`},
		{"default by zero value", "scale", `{"p": {"x": 1, "y": 2}}`, `{"x":2,"y":4}`},
		{"error result", "fail", `{"name": "ada"}`, "no such user: ada"},
		{"environment from Options.Env", "getenv", `{"key": "GREETING"}`, "HELLO"},
		{"process environment hidden", "getenv", `{"key": "PATH"}`, "PATH is not set"},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			res := runSync(t, srv, toolCall(c.tool, c.args))
			if !strings.Contains(res.Response, c.want) {
				t.Errorf("response = %q, want it to contain %q", res.Response, c.want)
			}
		})
	}

	t.Run("panic in a tool", func(t *testing.T) {
		t.Parallel()
		res := runSync(t, srv, toolCall("boom", `{"name": "ada"}`))
		if !strings.Contains(res.Response, "nil map") {
			t.Errorf("response = %q, want the panic reported to the model", res.Response)
		}
	})

	t.Run("concurrent calls", func(t *testing.T) {
		t.Parallel()
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Go(func() {
				res := runSync(t, srv, toolCall("add", fmt.Sprintf(`{"a": %d, "b": 1}`, i)))
				if want := fmt.Sprint(i + 1); res.Response != want {
					t.Errorf("add(%d, 1) = %q, want %q", i, res.Response, want)
				}
			})
		}
		wg.Wait()
	})
}

func TestLoadAgent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, wantName string
	}{
		{"both.go", "from_var"}, // Agent wins over CreateAgent, which panics.
		{"create.go", "created"},
		{"create_with_error.go", "created_with_error"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			agent, err := Load(t.Context(), filepath.Join("testdata", tt.file), Options{})
			if err != nil {
				t.Fatal(err)
			}
			res := runSync(t, serve(t, agent), "hello")
			if res.AgentName != tt.wantName || res.Response != "hello" {
				t.Errorf("run = %+v, want agent %s echoing hello", res, tt.wantName)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		// want is the whole message; FILE stands for the path and "..."
		// for any text.
		want string
	}{
		{"neither.go", "agent file FILE must define `var Agent *omniserve.Agent` or `func CreateAgent()`"},
		{"create_error.go", "FILE:10:6: CreateAgent: provider openai needs an API key: set OMNISERVE_TEST_UNSET_KEY (or use provider echo for an offline demo)"},
		{"create_nil.go", "FILE:7:6: CreateAgent returned a nil agent"},
		{"create_bad_type.go", "FILE:5:6: CreateAgent has type func() string, want func() *omniserve.Agent or func() (*omniserve.Agent, error)"},
		{"create_panic.go", "FILE:12:6: panic in build during CreateAgent: reflect: slice index out of range"},
		{"create_panic_direct.go", "FILE:7:6: panic in CreateAgent: no agent today"},
		{"init_panic.go", `FILE:9:6: panic in mustAgent while setting up the file: unknown model provider "no-such-provider" (known: ...)`},
		{"package_panic.go", "agent file FILE: panic while setting up the file: reflect: slice index out of range"},
		{"interp_failure.go", "agent file FILE: the Go interpreter failed on this file (...); " +
			"it runs the Go 1.21 language: no range over integers or functions, no min, max or clear, no generic iterator helpers"},
		{"agent_nil.go", "FILE:8:5: Agent is nil; if building the agent can fail, define `func CreateAgent() (*omniserve.Agent, error)` to report why"},
		{"agent_wrong_type.go", "FILE:5:5: Agent has type string, want *omniserve.Agent"},
		{"agent_const.go", "FILE:5:7: Agent must be a variable of type *omniserve.Agent, not a const"},
		{"type_error.go", "FILE:12:22: cannot convert 42 to string"},
		{"undefined.go", `FILE:8:9: package omniserve "github.com/omniserve/omniserve" has no symbol NewAgentFromYAML`},
		{"main_func.go", "FILE:13:6: an agent file must not declare func main, which the interpreter would run on load; define `var Agent *omniserve.Agent` or `func CreateAgent()` instead"},
		{"forbidden_import.go", `FILE:6:2: package "os/exec" is not available to agent files: it reaches past the agent into the server process or the machine`},
		{"unknown_import.go", `FILE:7:2: package "github.com/omniserve/omniserve/internal/tool" is not available to agent files: they may import the standard library and github.com/omniserve/omniserve`},
		{"register_any.go", "FILE:23:6: CreateAgent: tool echo: want func(context.Context, T) (R, error) or func(T) (R, error) with T a struct or pointer to struct, got *interp.node " +
			"(the Go interpreter hands a named function passed through a parameter of type any to compiled code as its own value: " +
			"pass the function to Register directly, or give the parameter the function's type)"},
		{"tool_shapes.go", "FILE:22:2: field limit of SearchArgs, part of a tool's arguments, is unexported: the Go interpreter would export it as Xlimit, a tool argument; export it, or tag it `json:\"-\"`\n" +
			"FILE:13:2: field cursor of Page, part of a tool's arguments, is unexported: the Go interpreter would export it as Xcursor, a tool argument; export it, or tag it `json:\"-\"`\n" +
			"FILE:24:2: embedded field Filter of SearchArgs, part of a tool's arguments, is not flattened by the Go interpreter: give it a json tag, or declare its fields in SearchArgs"},
		{"new_language.go", "FILE:11:17: the Go interpreter cannot range over an integer (it runs the Go 1.21 language); use for i := 0; i < n; i++\n" +
			"FILE:14:9: the Go interpreter has no builtin max (it runs the Go 1.21 language); write it out"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", tt.file)
			var stdout bytes.Buffer
			agent, err := Load(t.Context(), path, Options{Stdout: &stdout})
			if err == nil {
				t.Fatalf("Load = %v, want an error", agent)
			}
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if got := err.Error(); !matchDots(got, want) {
				t.Errorf("error:\n got %s\nwant %s", got, want)
			}
			if stdout.Len() > 0 {
				t.Errorf("the file printed %q", stdout.String())
			}
		})
	}
}

func TestLoadSyntaxError(t *testing.T) {
	t.Parallel()
	// Written here rather than kept in testdata, where gofmt would trip on it.
	path := filepath.Join(t.TempDir(), "agent.go")
	src := "//go:build ignore\n\npackage agent\n\nfunc CreateAgent() *omniserve.Agent {\n\tx :=\n}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(t.Context(), path, Options{})
	if want := path + ":7:1: expected operand, found '}'"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestLoadCreateAgentErrorUnwraps(t *testing.T) {
	t.Parallel()
	// The error a file's CreateAgent returns stays reachable; here the one
	// NewAgent returned, wrapping nothing, is found by its text.
	_, err := Load(t.Context(), filepath.Join("testdata", "create_error.go"), Options{})
	var le *loadError
	if !errors.As(err, &le) || le.err == nil || !strings.HasPrefix(le.err.Error(), "provider openai needs an API key") {
		t.Errorf("error = %#v, want a loadError wrapping CreateAgent's error", err)
	}
}

func TestLoadFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	missing := filepath.Join(dir, "missing.go")
	if _, err := Load(t.Context(), missing, Options{}); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: error = %v, want ErrNotFound naming the file", err)
	}

	large := filepath.Join(dir, "large.go")
	src := "package agent\n\n//" + strings.Repeat("x", MaxFileSize) + "\n"
	if err := os.WriteFile(large, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("agent file %s is larger than %d bytes", large, MaxFileSize)
	if _, err := Load(t.Context(), large, Options{}); err == nil || err.Error() != want {
		t.Errorf("large file: error = %v, want %s", err, want)
	}

	if _, err := Load(t.Context(), dir, Options{}); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("directory: error = %v, want is a directory", err)
	}
}

func TestLoadCancel(t *testing.T) {
	t.Parallel()
	// loop.go spins forever in a package-level initializer: cancellation
	// stops the interpreter, and goleak in TestMain checks it really stops.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := Load(ctx, filepath.Join("testdata", "loop.go"), Options{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}

	done, cancelDone := context.WithCancel(t.Context())
	cancelDone()
	if _, err := Load(done, filepath.Join("testdata", "create.go"), Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: error = %v, want context.Canceled", err)
	}
}

func TestExportedPackages(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"context", "errors", "fmt", "strings", "strconv", "math", "time", "encoding/json", "os", "net/http", "github.com/omniserve/omniserve"} {
		if !exported().paths[p] {
			t.Errorf("%s is not importable", p)
		}
	}
	for p := range withheld {
		if exported().paths[p] {
			t.Errorf("%s is importable", p)
		}
	}
	for p := range exported().paths {
		if strings.Contains(p, "yaegi") {
			t.Errorf("%s is importable", p)
		}
	}
	if _, ok := exported().symbols["os/os"]["StartProcess"]; ok {
		t.Error("os.StartProcess is exported")
	}
}

// TestSymbolsUpToDate fails when the committed symbol tables no longer
// match the root package's exported API: run `make generate`. It also
// holds the facade to having no generic functions, which the interpreter
// cannot be given.
func TestSymbolsUpToDate(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("..", "..", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var want []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv != nil || !d.Name.IsExported() {
					continue
				}
				if d.Type.TypeParams != nil {
					t.Errorf("%s: %s is generic; agent files cannot call generic functions of compiled packages", fset.Position(d.Pos()), d.Name.Name)
					continue
				}
				want = append(want, d.Name.Name)
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.TypeParams != nil {
							t.Errorf("%s: %s is generic; agent files cannot use generic types of compiled packages", fset.Position(s.Pos()), s.Name.Name)
							continue
						}
						if s.Name.IsExported() {
							want = append(want, s.Name.Name)
						}
					case *ast.ValueSpec:
						for _, id := range s.Names {
							if id.IsExported() {
								want = append(want, id.Name)
							}
						}
					}
				}
			}
		}
	}
	var got []string
	for name := range exported().symbols["github.com/omniserve/omniserve/omniserve"] {
		got = append(got, name)
	}
	slices.Sort(want)
	slices.Sort(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("symbols of package omniserve are stale; run make generate (-root package +symbols):\n%s", diff)
	}
}

// matchDots reports whether got is want, where "..." in want stands for
// any text.
func matchDots(got, want string) bool {
	parts := strings.Split(want, "...")
	if len(parts) == 1 {
		return got == want
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(got) < len(first)+len(last) || !strings.HasPrefix(got, first) || !strings.HasSuffix(got, last) {
		return false
	}
	middle := got[len(first) : len(got)-len(last)]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(middle, p)
		if i < 0 {
			return false
		}
		middle = middle[i+len(p):]
	}
	return true
}

// FuzzCheck feeds arbitrary source to the checks run before interpreting:
// they must not panic, whatever the parser makes of it.
func FuzzCheck(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "*.go"))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range seeds {
		src, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fset := token.NewFileSet()
		file, err := parser.ParseFile(fset, "agent.go", src, parser.DeclarationErrors|parser.ParseComments)
		if err != nil {
			return
		}
		_ = check(fset, file)
		_ = withoutBuildConstraints(fset, file, src)
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
