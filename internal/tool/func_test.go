package tool

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type address struct {
	Street string `json:"street" jsonschema:"street and number"`
	City   string `json:"city"`
}

type schemaArgs struct {
	Query   string   `json:"query" jsonschema:"what to look for"`
	Limit   int      `json:"limit" jsonschema:"maximum number of results"`
	Ratio   float64  `json:"ratio"`
	Exact   bool     `json:"exact"`
	Tags    []string `json:"tags"`
	Home    address  `json:"home"`
	Note    string   `json:"note,omitempty" jsonschema:"optional remark"`
	Work    *address `json:"work,omitempty"`
	Ignored string   `json:"-"`
}

func TestNewFuncSchema(t *testing.T) {
	t.Parallel()

	fn := func(context.Context, schemaArgs) (string, error) { return "", nil }
	tl, err := NewFunc("search", "Search things.", fn)
	if err != nil {
		t.Fatalf("NewFunc: %v", err)
	}

	const want = `{
		"type": "object",
		"properties": {
			"query": {"type": "string", "description": "what to look for"},
			"limit": {"type": "integer", "description": "maximum number of results"},
			"ratio": {"type": "number"},
			"exact": {"type": "boolean"},
			"tags": {"type": ["null", "array"], "items": {"type": "string"}},
			"home": {
				"type": "object",
				"properties": {
					"street": {"type": "string", "description": "street and number"},
					"city": {"type": "string"}
				},
				"required": ["street", "city"],
				"additionalProperties": false
			},
			"note": {"type": "string", "description": "optional remark"},
			"work": {
				"type": ["null", "object"],
				"properties": {
					"street": {"type": "string", "description": "street and number"},
					"city": {"type": "string"}
				},
				"required": ["street", "city"],
				"additionalProperties": false
			}
		},
		"required": ["query", "limit", "ratio", "exact", "tags", "home"],
		"additionalProperties": false
	}`
	if diff := cmp.Diff(decodeJSON(t, want), decodeJSON(t, string(tl.InputSchema()))); diff != "" {
		t.Errorf("InputSchema mismatch (-want +got):\n%s", diff)
	}

	// The same struct through the typed constructor gives the same schema.
	typed, err := Func("search", "Search things.", fn)
	if err != nil {
		t.Fatalf("Func: %v", err)
	}
	if diff := cmp.Diff(string(tl.InputSchema()), string(typed.InputSchema())); diff != "" {
		t.Errorf("Func schema differs from NewFunc (-NewFunc +Func):\n%s", diff)
	}

	if got, want := tl.Name(), "search"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	if got, want := tl.Description(), "Search things."; got != want {
		t.Errorf("Description() = %q, want %q", got, want)
	}
	if got, want := tl.Kind(), KindLocal; got != want {
		t.Errorf("Kind() = %q, want %q", got, want)
	}
}

func TestNewFuncSchemaEmptyStruct(t *testing.T) {
	t.Parallel()

	tl, err := NewFunc("ping", "", func(struct{}) (string, error) { return "pong", nil })
	if err != nil {
		t.Fatalf("NewFunc: %v", err)
	}
	want := decodeJSON(t, `{"type": "object", "properties": {}, "additionalProperties": false}`)
	if diff := cmp.Diff(want, decodeJSON(t, string(tl.InputSchema()))); diff != "" {
		t.Errorf("InputSchema mismatch (-want +got):\n%s", diff)
	}
}

func TestInputSchemaIsACopy(t *testing.T) {
	t.Parallel()

	tl, err := NewFunc("ping", "", func(struct{}) (string, error) { return "pong", nil })
	if err != nil {
		t.Fatalf("NewFunc: %v", err)
	}
	s := tl.InputSchema()
	s[0] = 'X'
	if got := tl.InputSchema(); got[0] != '{' {
		t.Errorf("InputSchema() after mutating a returned copy = %s, want it unchanged", got)
	}
}

type greetArgs struct {
	Name  string `json:"name"`
	Shout bool   `json:"shout,omitempty"`
}

func greet(a greetArgs) string {
	s := "hello " + a.Name
	if a.Shout {
		s = strings.ToUpper(s)
	}
	return s
}

func TestFuncShapes(t *testing.T) {
	t.Parallel()

	withCtx := func(_ context.Context, a greetArgs) (string, error) { return greet(a), nil }
	noCtx := func(a greetArgs) (string, error) { return greet(a), nil }
	ptrWithCtx := func(_ context.Context, a *greetArgs) (string, error) { return greet(*a), nil }
	ptrNoCtx := func(a *greetArgs) (string, error) { return greet(*a), nil }

	newTyped := func(fn func(context.Context, greetArgs) (string, error)) func() (Tool, error) {
		return func() (Tool, error) { return Func("greet", "", fn) }
	}
	newTypedPtr := func(fn func(context.Context, *greetArgs) (string, error)) func() (Tool, error) {
		return func() (Tool, error) { return Func("greet", "", fn) }
	}
	newReflect := func(fn any) func() (Tool, error) {
		return func() (Tool, error) { return NewFunc("greet", "", fn) }
	}

	constructors := []struct {
		name string
		new  func() (Tool, error)
	}{
		{name: "NewFunc with context", new: newReflect(withCtx)},
		{name: "NewFunc without context", new: newReflect(noCtx)},
		{name: "NewFunc pointer with context", new: newReflect(ptrWithCtx)},
		{name: "NewFunc pointer without context", new: newReflect(ptrNoCtx)},
		{name: "Func", new: newTyped(withCtx)},
		{name: "Func pointer", new: newTypedPtr(ptrWithCtx)},
	}
	calls := []struct {
		args string
		want string
	}{
		{args: `{"name": "ada"}`, want: "hello ada"},
		{args: `{"name": "ada", "shout": true}`, want: "HELLO ADA"},
		{args: ` {"name": ""} `, want: "hello "},
	}
	for _, c := range constructors {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()

			tl, err := c.new()
			if err != nil {
				t.Fatalf("construct: %v", err)
			}
			for _, call := range calls {
				got, err := tl.Call(t.Context(), json.RawMessage(call.args))
				if err != nil {
					t.Errorf("Call(%s): %v", call.args, err)
					continue
				}
				if got != call.want {
					t.Errorf("Call(%s) = %q, want %q", call.args, got, call.want)
				}
			}
		})
	}
}

func TestNewFuncInvalidSignatures(t *testing.T) {
	t.Parallel()

	var nilFunc func(greetArgs) (string, error)
	tests := []struct {
		name string
		fn   any
	}{
		{name: "nil", fn: nil},
		{name: "typed nil function", fn: nilFunc},
		{name: "not a function", fn: 42},
		{name: "no arguments", fn: func() (string, error) { return "", nil }},
		{name: "non-struct argument", fn: func(string) (string, error) { return "", nil }},
		{name: "pointer to non-struct", fn: func(*int) (string, error) { return "", nil }},
		{name: "map argument", fn: func(map[string]any) (string, error) { return "", nil }},
		{name: "first argument not a context", fn: func(int, greetArgs) (string, error) { return "", nil }},
		{name: "three arguments", fn: func(context.Context, greetArgs, int) (string, error) { return "", nil }},
		{name: "variadic", fn: func(context.Context, ...greetArgs) (string, error) { return "", nil }},
		{name: "one result", fn: func(greetArgs) string { return "" }},
		{name: "second result not an error", fn: func(greetArgs) (string, bool) { return "", false }},
		{name: "unsupported field type", fn: func(struct {
			C chan int `json:"c"`
		},
		) (string, error) {
			return "", nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			tl, err := NewFunc("bad", "", tt.fn)
			if err == nil {
				t.Fatalf("NewFunc(%T) = %v, nil; want an error", tt.fn, tl)
			}
			if !strings.Contains(err.Error(), "bad") {
				t.Errorf("error %q does not name the tool %q", err, "bad")
			}
		})
	}

	t.Run("message names the expected shapes", func(t *testing.T) {
		t.Parallel()

		_, err := NewFunc("bad", "", func(string) (string, error) { return "", nil })
		want := "want func(context.Context, T) (R, error) or func(T) (R, error)"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewFunc error = %v, want it to contain %q", err, want)
		}
	})

	t.Run("empty name", func(t *testing.T) {
		t.Parallel()

		if _, err := NewFunc("", "", func(greetArgs) (string, error) { return "", nil }); err == nil {
			t.Error("NewFunc with empty name: got nil error, want an error")
		}
		if _, err := Func("", "", func(context.Context, greetArgs) (string, error) { return "", nil }); err == nil {
			t.Error("Func with empty name: got nil error, want an error")
		}
	})

	t.Run("Func with non-struct argument", func(t *testing.T) {
		t.Parallel()

		if _, err := Func("bad", "", func(context.Context, string) (string, error) { return "", nil }); err == nil {
			t.Error("Func with a string argument: got nil error, want an error")
		}
		if _, err := Func[greetArgs, string]("bad", "", nil); err == nil {
			t.Error("Func with a nil function: got nil error, want an error")
		}
	})
}

func TestFuncCallValidation(t *testing.T) {
	t.Parallel()

	type args struct {
		Name  string  `json:"name"`
		Count int     `json:"count"`
		Home  address `json:"home"`
		Note  string  `json:"note,omitempty"`
	}
	called := false
	tl, err := Func("check", "", func(context.Context, args) (string, error) {
		called = true
		return "ok", nil
	})
	if err != nil {
		t.Fatalf("Func: %v", err)
	}

	tests := []struct {
		name    string
		args    string
		wantErr []string // substrings the error must contain
	}{
		{name: "empty means {}", args: ``, wantErr: []string{"missing properties", "name", "count", "home"}},
		{name: "null means {}", args: `null`, wantErr: []string{"missing properties", "name"}},
		{name: "missing one", args: `{"name": "a", "home": {"street": "s", "city": "c"}}`, wantErr: []string{"missing properties", `"count"`}},
		{name: "wrong type", args: `{"name": "a", "count": "three", "home": {"street": "s", "city": "c"}}`, wantErr: []string{"count", "integer"}},
		{name: "fraction for integer", args: `{"name": "a", "count": 1.5, "home": {"street": "s", "city": "c"}}`, wantErr: []string{"count", "integer"}},
		{name: "nested field", args: `{"name": "a", "count": 1, "home": {"street": 7, "city": "c"}}`, wantErr: []string{"home", "street"}},
		{name: "extra property", args: `{"name": "a", "count": 1, "home": {"street": "s", "city": "c"}, "admin": true}`, wantErr: []string{"admin"}},
		{name: "not an object", args: `[1, 2]`, wantErr: []string{"object"}},
		{name: "malformed JSON", args: `{"name": `, wantErr: []string{"decode arguments"}},
		{name: "integer overflow", args: `{"name": "a", "count": 1e40, "home": {"street": "s", "city": "c"}}`, wantErr: []string{"decode arguments"}},
	}
	for _, tt := range tests {
		got, err := tl.Call(t.Context(), json.RawMessage(tt.args))
		if err == nil {
			t.Errorf("%s: Call(%s) = %q, nil; want an error", tt.name, tt.args, got)
			continue
		}
		for _, want := range append([]string{"tool check"}, tt.wantErr...) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: Call(%s) error %q does not contain %q", tt.name, tt.args, err, want)
			}
		}
	}
	if called {
		t.Error("the function ran for invalid arguments")
	}

	got, err := tl.Call(t.Context(), json.RawMessage(`{"name": "a", "count": 2, "home": {"street": "s", "city": "c"}}`))
	if err != nil || got != "ok" {
		t.Errorf("Call(valid) = %q, %v; want %q, nil", got, err, "ok")
	}
}

func TestFuncCallOptionalArgumentsMayBeOmitted(t *testing.T) {
	t.Parallel()

	type args struct {
		Zone string `json:"zone,omitempty"`
	}
	tl, err := Func("opt", "", func(_ context.Context, a args) (string, error) { return "zone=" + a.Zone, nil })
	if err != nil {
		t.Fatalf("Func: %v", err)
	}
	for _, in := range []string{``, `null`, `{}`, "  \n"} {
		got, err := tl.Call(t.Context(), json.RawMessage(in))
		if err != nil || got != "zone=" {
			t.Errorf("Call(%q) = %q, %v; want %q, nil", in, got, err, "zone=")
		}
	}
}

func TestFuncCallErrorsAndPanics(t *testing.T) {
	t.Parallel()

	errBoom := errors.New("boom")
	tests := []struct {
		name    string
		fn      any
		wantIs  error
		wantMsg string
	}{
		{
			name:    "error passes through unwrapped",
			fn:      func(greetArgs) (string, error) { return "ignored", errBoom },
			wantIs:  errBoom,
			wantMsg: "boom",
		},
		{
			name:    "panic with a string",
			fn:      func(greetArgs) (string, error) { panic("kaboom") },
			wantMsg: "tool greet panicked: kaboom",
		},
		{
			name: "panic with an error",
			fn: func(context.Context, *greetArgs) (int, error) {
				var m map[string]int
				m["x"] = 1
				return 0, nil
			},
			wantMsg: "tool greet panicked: assignment to entry in nil map",
		},
		{
			name:    "unmarshalable result",
			fn:      func(greetArgs) (any, error) { return func() {}, nil },
			wantMsg: "tool greet: marshal result",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			tl, err := NewFunc("greet", "", tt.fn)
			if err != nil {
				t.Fatalf("NewFunc: %v", err)
			}
			got, err := tl.Call(t.Context(), json.RawMessage(`{"name": "x"}`))
			if err == nil {
				t.Fatalf("Call = %q, nil; want an error", got)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Call error %v, want errors.Is %v", err, tt.wantIs)
			}
			if tt.wantIs != nil && err.Error() != tt.wantMsg {
				t.Errorf("Call error %q, want exactly %q", err, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Call error %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

type myText string

func TestFuncCallResults(t *testing.T) {
	t.Parallel()

	type point struct {
		X int `json:"x"`
		Y int `json:"y"`
	}
	tests := []struct {
		name string
		new  func() (Tool, error)
		want string
	}{
		{
			name: "string as is",
			new: func() (Tool, error) {
				return Func("r", "", func(context.Context, greetArgs) (string, error) { return `plain "text"`, nil })
			},
			want: `plain "text"`,
		},
		{
			name: "named string type as is",
			new: func() (Tool, error) {
				return Func("r", "", func(context.Context, greetArgs) (myText, error) { return "named", nil })
			},
			want: "named",
		},
		{
			name: "string in an interface as is",
			new: func() (Tool, error) {
				return Func("r", "", func(context.Context, greetArgs) (any, error) { return "boxed", nil })
			},
			want: "boxed",
		},
		{
			name: "int",
			new: func() (Tool, error) {
				return Func("r", "", func(context.Context, greetArgs) (int, error) { return 42, nil })
			},
			want: `42`,
		},
		{
			name: "float",
			new: func() (Tool, error) {
				return Func("r", "", func(context.Context, greetArgs) (float64, error) { return 2.5, nil })
			},
			want: `2.5`,
		},
		{
			name: "struct",
			new: func() (Tool, error) {
				return NewFunc("r", "", func(greetArgs) (point, error) { return point{X: 1, Y: 2}, nil })
			},
			want: `{"x":1,"y":2}`,
		},
		{
			name: "slice",
			new: func() (Tool, error) {
				return NewFunc("r", "", func(greetArgs) ([]string, error) { return []string{"a", "b"}, nil })
			},
			want: `["a","b"]`,
		},
		{
			name: "map",
			new: func() (Tool, error) {
				return NewFunc("r", "", func(greetArgs) (map[string]bool, error) { return map[string]bool{"ok": true}, nil })
			},
			want: `{"ok":true}`,
		},
		{
			name: "nil pointer",
			new: func() (Tool, error) {
				return NewFunc("r", "", func(greetArgs) (*point, error) { return nil, nil })
			},
			want: `null`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()

			tl, err := tt.new()
			if err != nil {
				t.Fatalf("construct: %v", err)
			}
			got, err := tl.Call(t.Context(), json.RawMessage(`{"name": "x"}`))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if got != tt.want {
				t.Errorf("Call = %q, want %q", got, tt.want)
			}
		})
	}
}

type ctxKey struct{}

func TestFuncCallPassesContext(t *testing.T) {
	t.Parallel()

	read := func(ctx context.Context, _ greetArgs) (string, error) {
		v, _ := ctx.Value(ctxKey{}).(string)
		return v, ctx.Err()
	}
	reflected, err := NewFunc("ctx", "", read)
	if err != nil {
		t.Fatalf("NewFunc: %v", err)
	}
	typed, err := Func("ctx", "", read)
	if err != nil {
		t.Fatalf("Func: %v", err)
	}
	for _, tl := range []Tool{reflected, typed} {
		ctx := context.WithValue(t.Context(), ctxKey{}, "marker")
		got, err := tl.Call(ctx, json.RawMessage(`{"name": "x"}`))
		if err != nil || got != "marker" {
			t.Errorf("Call = %q, %v; want %q, nil", got, err, "marker")
		}

		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := tl.Call(cancelled, json.RawMessage(`{"name": "x"}`)); !errors.Is(err, context.Canceled) {
			t.Errorf("Call(cancelled ctx) error = %v, want %v", err, context.Canceled)
		}
	}
}

func TestFuncToolsRegister(t *testing.T) {
	t.Parallel()

	tl, err := Func("greet", "Greets.", func(_ context.Context, a greetArgs) (string, error) { return greet(a), nil })
	if err != nil {
		t.Fatalf("Func: %v", err)
	}
	r := NewRegistry()
	if err := r.Add(tl); err != nil {
		t.Fatalf("Add: %v", err)
	}
	specs := r.Specs()
	if len(specs) != 1 || specs[0].Name != "greet" || specs[0].Description != "Greets." {
		t.Fatalf("Specs() = %+v, want one spec for greet", specs)
	}
	if !json.Valid(specs[0].InputSchema) {
		t.Errorf("spec input schema is not valid JSON: %s", specs[0].InputSchema)
	}
}

// decodeJSON parses s into generic JSON values for comparison.
func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return v
}

func BenchmarkFuncCall(b *testing.B) {
	tl, err := Func("greet", "", func(_ context.Context, a greetArgs) (string, error) { return greet(a), nil })
	if err != nil {
		b.Fatal(err)
	}
	args := json.RawMessage(`{"name": "ada", "shout": true}`)
	for b.Loop() {
		if _, err := tl.Call(b.Context(), args); err != nil {
			b.Fatal(err)
		}
	}
}
