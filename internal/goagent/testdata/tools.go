//go:build ignore

// Tools written in the interpreted file: argument structs declared here,
// with tags, a pointer argument, a nested struct, a struct result, an error
// result and a panic.
package tools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/omniserve/omniserve"
)

type AddArgs struct {
	A int `json:"a" jsonschema:"The first addend."`
	B int `json:"b" jsonschema:"The second addend."`
}

func add(ctx context.Context, in AddArgs) (int, error) {
	return in.A + in.B, nil
}

type Point struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
}

type ScaleArgs struct {
	P      Point   `json:"p"`
	Factor float64 `json:"factor,omitempty" jsonschema:"Defaults to 2."`
}

func scale(in *ScaleArgs) (Point, error) {
	f := in.Factor
	if f == 0 {
		f = 2
	}
	return Point{X: in.P.X * f, Y: in.P.Y * f}, nil
}

type NameArgs struct {
	Name string `json:"name"`
}

func fail(ctx context.Context, in NameArgs) (string, error) {
	return "", errors.New("no such user: " + in.Name)
}

func boom(ctx context.Context, in NameArgs) (string, error) {
	var m map[string]int
	m[in.Name]++
	return "unreachable", nil
}

type EnvArgs struct {
	Key string `json:"key"`
}

func getenv(ctx context.Context, in EnvArgs) (string, error) {
	v, ok := os.LookupEnv(in.Key)
	if !ok {
		return "", fmt.Errorf("%s is not set", in.Key)
	}
	return strings.ToUpper(v), nil
}

func init() {
	fmt.Println("tools.go loaded")
}

var Agent = build()

func build() *omniserve.Agent {
	tools := omniserve.NewToolRegistry()
	// Each function is passed to Register directly: see register_any.go.
	errs := []error{
		tools.Register("add", "Add two integers.", add),
		tools.Register("scale", "Scale a point.", scale),
		tools.Register("fail", "Always fails.", fail),
		tools.Register("boom", "Always panics.", boom),
		tools.Register("getenv", "Read a variable.", getenv),
	}
	for _, err := range errs {
		if err != nil {
			panic(err)
		}
	}
	agent, err := omniserve.NewAgent(omniserve.AgentConfig{
		Name:  "tools",
		Model: omniserve.ModelConfig{Provider: "echo"},
		Tools: tools,
	})
	if err != nil {
		panic(err)
	}
	return agent
}
