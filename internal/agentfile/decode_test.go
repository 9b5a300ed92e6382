package agentfile

import (
	"reflect"
	"testing"

	"github.com/goccy/go-yaml/parser"
	"github.com/google/go-cmp/cmp"
)

// extended stands in for keys later issues will add, exercising the kinds
// File does not use yet.
type extended struct {
	Env     map[string]string `yaml:"env"`
	Enabled bool              `yaml:"enabled"`
	Ignored string            `yaml:"-"`
	Plain   string
	Limit   *int8 `yaml:"limit,omitempty"`
}

func TestCheckerKinds(t *testing.T) {
	tests := []struct {
		name  string
		data  string
		want  []Problem
		lines map[string]int
	}{
		{
			name:  "valid",
			data:  "env:\n  A: x\n  B: 'y'\nenabled: true\nplain: p\nlimit: 127\n",
			lines: map[string]int{"env": 1, "env.A": 2, "env.B": 3, "enabled": 4, "plain": 5, "limit": 6},
		},
		{
			name: "wrong kinds",
			data: "env:\n  A: 1\nenabled: 1\nlimit: 128\n",
			want: []Problem{
				{Key: "env.A", Line: 2, Message: "env.A at line 2: expected a string"},
				{Key: "enabled", Line: 3, Message: "enabled at line 3: expected true or false"},
				{Key: "limit", Line: 4, Message: "limit at line 4: integer out of range"},
			},
		},
		{
			name: "map given a list",
			data: "env: [a]\n",
			want: []Problem{{Key: "env", Line: 1, Message: "env at line 1: expected a mapping"}},
		},
		{
			name: "a field tagged - is an unknown key",
			data: "ignored: x\n",
			want: []Problem{{Key: "ignored", Line: 1, Message: `unknown key "ignored" at line 1`}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, err := parser.ParseBytes([]byte(tt.data), 0)
			if err != nil {
				t.Fatalf("ParseBytes() error = %v", err)
			}
			root := file.Docs[0].Body
			c := newChecker(root)
			c.check(root, reflect.TypeFor[extended](), "")
			if diff := cmp.Diff(tt.want, c.problems); diff != "" {
				t.Errorf("problems mismatch (-want +got):\n%s", diff)
			}
			if tt.lines != nil {
				if diff := cmp.Diff(tt.lines, c.lines); diff != "" {
					t.Errorf("lines mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}
