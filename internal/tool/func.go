package tool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/google/jsonschema-go/jsonschema"
)

// funcTool is a [Tool] backed by a Go function. Its arguments are a struct
// whose JSON Schema is inferred once, at construction, and checked before
// every call.
type funcTool struct {
	name        string
	description string
	schema      json.RawMessage
	resolved    *jsonschema.Resolved
	// invokeFunc decodes the validated arguments and calls the function,
	// returning the function's own errors unwrapped.
	invokeFunc func(ctx context.Context, args json.RawMessage) (any, error)
}

var _ Tool = (*funcTool)(nil)

var (
	contextType = reflect.TypeFor[context.Context]()
	errorType   = reflect.TypeFor[error]()
)

// NewFunc returns a local tool that calls fn, which must be a
// func(context.Context, T) (R, error) or a func(T) (R, error) where T is a
// struct or a pointer to one. The input schema is inferred from T: its
// properties come from the fields' json tags, a field's jsonschema tag is
// its description, fields without omitempty or omitzero are required, and
// no other properties are allowed.
//
// Call decodes its arguments (empty or null meaning {}), validates them
// against the schema, and calls fn. A string result (of any string kind) is
// returned as is; any other result is marshalled to JSON. An error from fn
// is returned unwrapped, so the model reads the function's own words; a
// panic in fn is returned as an error. The signature is checked here, by
// reflection, once.
func NewFunc(name, description string, fn any) (Tool, error) {
	if name == "" {
		return nil, errors.New("tool name must not be empty")
	}
	fv := reflect.ValueOf(fn)
	ft := reflect.TypeOf(fn)
	argType, withCtx, err := checkSignature(ft)
	if err != nil {
		return nil, fmt.Errorf("tool %s: %w", name, err)
	}
	if fv.IsNil() {
		return nil, fmt.Errorf("tool %s: function is nil", name)
	}
	t, err := newFuncTool(name, description, argType)
	if err != nil {
		return nil, err
	}
	t.invokeFunc = func(ctx context.Context, args json.RawMessage) (any, error) {
		ptr := reflect.New(argType)
		if err := json.Unmarshal(args, ptr.Interface()); err != nil {
			return nil, fmt.Errorf("tool %s: decode arguments: %w", name, err)
		}
		in := make([]reflect.Value, 0, 2)
		if withCtx {
			in = append(in, reflect.ValueOf(ctx))
		}
		if ft.In(ft.NumIn()-1).Kind() == reflect.Pointer {
			in = append(in, ptr)
		} else {
			in = append(in, ptr.Elem())
		}
		out := fv.Call(in)
		if errV := out[1]; !errV.IsNil() {
			return nil, errV.Interface().(error)
		}
		return out[0].Interface(), nil
	}
	return t, nil
}

// Func is the typed form of [NewFunc]: T must be a struct or a pointer to
// one, and the function is called without reflection.
func Func[T, R any](name, description string, fn func(context.Context, T) (R, error)) (Tool, error) {
	if name == "" {
		return nil, errors.New("tool name must not be empty")
	}
	if fn == nil {
		return nil, fmt.Errorf("tool %s: function is nil", name)
	}
	argType, err := structType(reflect.TypeFor[T]())
	if err != nil {
		return nil, fmt.Errorf("tool %s: %w", name, err)
	}
	t, err := newFuncTool(name, description, argType)
	if err != nil {
		return nil, err
	}
	t.invokeFunc = func(ctx context.Context, args json.RawMessage) (any, error) {
		var in T
		if err := json.Unmarshal(args, &in); err != nil {
			return nil, fmt.Errorf("tool %s: decode arguments: %w", name, err)
		}
		return fn(ctx, in)
	}
	return t, nil
}

// checkSignature reports the argument struct type of a function type and
// whether it takes a context first.
func checkSignature(ft reflect.Type) (argType reflect.Type, withCtx bool, err error) {
	const want = "want func(context.Context, T) (R, error) or func(T) (R, error) with T a struct or pointer to struct"
	if ft == nil || ft.Kind() != reflect.Func {
		return nil, false, fmt.Errorf("%s, got %v", want, ft)
	}
	if ft.IsVariadic() || ft.NumOut() != 2 || ft.Out(1) != errorType {
		return nil, false, fmt.Errorf("%s, got %v", want, ft)
	}
	switch ft.NumIn() {
	case 1:
	case 2:
		if ft.In(0) != contextType {
			return nil, false, fmt.Errorf("%s, got %v", want, ft)
		}
		withCtx = true
	default:
		return nil, false, fmt.Errorf("%s, got %v", want, ft)
	}
	argType, err = structType(ft.In(ft.NumIn() - 1))
	if err != nil {
		return nil, false, fmt.Errorf("%s, got %v", want, ft)
	}
	return argType, withCtx, nil
}

// structType returns t, or what t points to, when that is a struct.
func structType(t reflect.Type) (reflect.Type, error) {
	if t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("arguments type %v is not a struct or pointer to struct", t)
	}
	return t, nil
}

// newFuncTool infers and resolves the schema of argType, a struct type.
func newFuncTool(name, description string, argType reflect.Type) (*funcTool, error) {
	s, err := jsonschema.ForType(argType, nil)
	if err != nil {
		return nil, fmt.Errorf("tool %s: infer input schema: %w", name, err)
	}
	if s.Properties == nil {
		// Some providers reject an object schema without properties.
		s.Properties = map[string]*jsonschema.Schema{}
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("tool %s: marshal input schema: %w", name, err)
	}
	resolved, err := s.Resolve(nil)
	if err != nil {
		return nil, fmt.Errorf("tool %s: resolve input schema: %w", name, err)
	}
	return &funcTool{name: name, description: description, schema: raw, resolved: resolved}, nil
}

// Name returns the tool's name.
func (t *funcTool) Name() string { return t.name }

// Description returns the tool's description.
func (t *funcTool) Description() string { return t.description }

// InputSchema returns a copy of the inferred JSON Schema.
func (t *funcTool) InputSchema() json.RawMessage { return slices.Clone(t.schema) }

// Kind returns [KindLocal].
func (t *funcTool) Kind() string { return KindLocal }

// Call validates args and runs the function.
func (t *funcTool) Call(ctx context.Context, args json.RawMessage) (_ string, err error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage(`{}`)
	}
	var instance any
	if err := json.Unmarshal(args, &instance); err != nil {
		return "", fmt.Errorf("tool %s: decode arguments: %w", t.name, err)
	}
	if err := t.resolved.Validate(instance); err != nil {
		return "", fmt.Errorf("tool %s: invalid arguments: %w", t.name, err)
	}

	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("tool %s panicked: %v", t.name, r)
		}
	}()
	result, err := t.invokeFunc(ctx, args)
	if err != nil {
		return "", err
	}
	text, err := formatResult(result)
	if err != nil {
		return "", fmt.Errorf("tool %s: %w", t.name, err)
	}
	return text, nil
}

// formatResult returns a string-kinded result as is and marshals anything
// else to JSON.
func formatResult(result any) (string, error) {
	if rv := reflect.ValueOf(result); rv.Kind() == reflect.String {
		return rv.String(), nil
	}
	b, err := json.Marshal(result)
	if err != nil {
		return "", fmt.Errorf("marshal result: %w", err)
	}
	return string(b), nil
}
