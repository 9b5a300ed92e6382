package agentfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// head is the three lines every test file below starts with; its tools and
// servers start at line 4.
const head = "name: a\nmodel_config:\n  provider: echo\n"

func TestParseToolsValid(t *testing.T) {
	tests := []struct {
		name   string
		format string
		data   string
		want   *File
	}{
		{
			name:   "shell as a flow mapping",
			format: FormatYAML,
			data:   head + "tools:\n  - shell: {name: now, command: [date, -u], timeout: 0.5}\n",
			want: &File{Tools: []ToolRef{{Shell: &ShellTool{
				Name: "now", Command: []string{"date", "-u"}, TimeoutSeconds: 0.5,
			}}}},
		},
		{
			name:   "shell as a block mapping",
			format: FormatYAML,
			data:   head + "tools:\n  - shell:\n      name: now\n      command:\n        - date\n        - -u\n      timeout: 0.5\n",
			want: &File{Tools: []ToolRef{{Shell: &ShellTool{
				Name: "now", Command: []string{"date", "-u"}, TimeoutSeconds: 0.5,
			}}}},
		},
		{
			name:   "http with defaults left empty",
			format: FormatYAML,
			data:   head + "tools:\n  - http: {name: ping, url: 'http://localhost:8080/ping'}\n",
			want:   &File{Tools: []ToolRef{{HTTP: &HTTPTool{Name: "ping", URL: "http://localhost:8080/ping"}}}},
		},
		{
			name:   "names may use the whole alphabet and be 64 long",
			format: FormatYAML,
			data:   head + "tools:\n  - shell: {name: A-z_0-9, command: [x]}\n  - http: {name: " + strings.Repeat("n", 64) + ", url: 'https://e.com'}\n",
			want: &File{Tools: []ToolRef{
				{Shell: &ShellTool{Name: "A-z_0-9", Command: []string{"x"}}},
				{HTTP: &HTTPTool{Name: strings.Repeat("n", 64), URL: "https://e.com"}},
			}},
		},
		{
			name:   "nulls leave timeouts and parameters unset",
			format: FormatYAML,
			data:   head + "tools:\n  - shell: {name: s, command: [x], timeout: null, parameters: null, env: ~}\nmcp_servers:\n  - {name: m, command: x, timeout: ~}\n",
			want: &File{
				Tools:      []ToolRef{{Shell: &ShellTool{Name: "s", Command: []string{"x"}}}},
				MCPServers: []MCPServer{{Name: "m", Command: "x"}},
			},
		},
		{
			name:   "methods in any case",
			format: FormatYAML,
			data:   head + "tools:\n  - http: {name: a, url: 'http://h', method: Delete}\n  - http: {name: b, url: 'http://h', method: PATCH}\n",
			want: &File{Tools: []ToolRef{
				{HTTP: &HTTPTool{Name: "a", URL: "http://h", Method: "Delete"}},
				{HTTP: &HTTPTool{Name: "b", URL: "http://h", Method: "PATCH"}},
			}},
		},
		{
			name:   "url placeholders",
			format: FormatYAML,
			data: head + "tools:\n" +
				"  - http: {name: a, url: '${API_URL}'}\n" +
				"  - http: {name: b, url: 'https://${HOST}:${PORT}/v1/${PATH}?key=${KEY}'}\n" +
				"mcp_servers:\n  - {name: m, transport_type: sse, url: 'http://${MCP_HOST}/sse'}\n",
			want: &File{
				Tools: []ToolRef{
					{HTTP: &HTTPTool{Name: "a", URL: "${API_URL}"}},
					{HTTP: &HTTPTool{Name: "b", URL: "https://${HOST}:${PORT}/v1/${PATH}?key=${KEY}"}},
				},
				MCPServers: []MCPServer{{Name: "m", TransportType: "sse", URL: "http://${MCP_HOST}/sse"}},
			},
		},
		{
			name:   "transport inferred from url or command",
			format: FormatYAML,
			data:   head + "mcp_servers:\n  - {name: web, url: 'https://e.com/mcp'}\n  - {name: local, command: server}\n",
			want: &File{MCPServers: []MCPServer{
				{Name: "web", URL: "https://e.com/mcp"},
				{Name: "local", Command: "server"},
			}},
		},
		{
			name:   "yaml numbers become json numbers",
			format: FormatYAML,
			data: head + "tools:\n  - shell:\n      name: n\n      command: [x]\n      parameters:\n" +
				"        type: object\n        a: 0x10\n        b: 1_000\n        c: +5\n        d: .5\n        e: 1e-7\n" +
				"        f: 99999999999999999999\n        g: -0.0\n        h: 007\n        i: '12'\n        j: 1.50\n",
			want: &File{Tools: []ToolRef{{Shell: &ShellTool{
				Name: "n", Command: []string{"x"},
				Parameters: json.RawMessage(`{"type":"object","a":16,"b":1000,"c":5,"d":0.5,"e":1e-7,` +
					`"f":99999999999999999999,"g":-0.0,"h":7,"i":"12","j":1.50}`),
			}}}},
		},
		{
			name:   "yaml strings become json strings",
			format: FormatYAML,
			data: head + "tools:\n  - shell:\n      name: n\n      command: [x]\n      parameters:\n" +
				"        type: object\n        description: |\n          Line one.\n          \"Two\" <b> & \\ tab\t.\n" +
				"        1: numeric key\n        true: boolean key\n        ? explicit\n        : key\n",
			want: &File{Tools: []ToolRef{{Shell: &ShellTool{
				Name: "n", Command: []string{"x"},
				Parameters: json.RawMessage(`{"type":"object","description":"Line one.\n\"Two\" \u003cb\u003e \u0026 \\ tab\t.\n",` +
					`"1":"numeric key","true":"boolean key","explicit":"key"}`),
			}}}},
		},
		{
			name:   "json numbers kept as written",
			format: FormatJSON,
			data: `{"name": "a", "model_config": {"provider": "echo"}, "tools": [{"http": {"name": "h", "url": "http://h",` +
				` "parameters": {"type": "object", "a": 1E2, "b": -0, "c": 1.0e-3, "d": "1e2", "e": "\u00e9\ud83d\ude00"}}}]}`,
			want: &File{Tools: []ToolRef{{HTTP: &HTTPTool{
				Name: "h", URL: "http://h",
				Parameters: json.RawMessage(`{"type":"object","a":1E2,"b":-0,"c":1.0e-3,"d":"1e2","e":"é😀"}`),
			}}}},
		},
		{
			name:   "a schema shared through an anchor",
			format: FormatYAML,
			data: head + "tools:\n  - shell: {name: a, command: [x], parameters: &p {type: object, properties: {}}}\n" +
				"  - shell: {name: b, command: [y], parameters: *p}\n",
			want: &File{Tools: []ToolRef{
				{Shell: &ShellTool{Name: "a", Command: []string{"x"}, Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}},
				{Shell: &ShellTool{Name: "b", Command: []string{"y"}, Parameters: json.RawMessage(`{"type":"object","properties":{}}`)}},
			}},
		},
		{
			name:   "a tool's keys shared through an anchor",
			format: FormatYAML,
			data: head + "tools:\n  - http: &h {name: a, url: 'http://h', parameters: {type: object}}\n" +
				"mcp_servers:\n  - &m {name: m, command: x, env: &e {A: b}}\n  - {name: n, command: y, env: *e}\n",
			want: &File{
				Tools:      []ToolRef{{HTTP: &HTTPTool{Name: "a", URL: "http://h", Parameters: json.RawMessage(`{"type":"object"}`)}}},
				MCPServers: []MCPServer{{Name: "m", Command: "x", Env: map[string]string{"A": "b"}}, {Name: "n", Command: "y", Env: map[string]string{"A": "b"}}},
			},
		},
		{
			name:   "merge keys where no parameters can be",
			format: FormatYAML,
			data:   head + "mcp_servers:\n  - {name: m, command: x, env: &e {A: b}}\n  - {name: n, command: y, env: {<<: *e}}\n",
			want: &File{MCPServers: []MCPServer{
				{Name: "m", Command: "x", Env: map[string]string{"A": "b"}},
				{Name: "n", Command: "y", Env: map[string]string{"A": "b"}},
			}},
		},
		{
			name:   "tagged scalars",
			format: FormatYAML,
			data:   "name: !!str 5\nmodel_config: {provider: echo}\nmcp_servers:\n  - {name: m, command: x, timeout: !!float 1}\n",
			want: &File{
				Name:        "5",
				ModelConfig: ModelConfig{Provider: "echo"},
				MCPServers:  []MCPServer{{Name: "m", Command: "x", TimeoutSeconds: 1}},
			},
		},
		{
			name:   "exponents without a dot are numbers",
			format: FormatJSON,
			data:   `{"name": "a", "model_config": {"provider": "echo", "temperature": 5e-1}, "mcp_servers": [{"name": "m", "command": "x", "timeout": 1E1}]}`,
			want: &File{
				Name:        "a",
				ModelConfig: ModelConfig{Provider: "echo", Temperature: ptr(0.5)},
				MCPServers:  []MCPServer{{Name: "m", Command: "x", TimeoutSeconds: 10}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.data), tt.format, "agent")
			if err != nil {
				t.Fatalf("Parse() error = %v, want nil", err)
			}
			if tt.want.Name == "" {
				tt.want.Name = "a"
				tt.want.ModelConfig = ModelConfig{Provider: "echo"}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseToolAliases checks that parameters reached through an aliased
// tool entry or shell mapping get past the decoder: the problem reported
// is the duplicate name, found after decoding.
func TestParseToolAliases(t *testing.T) {
	data := head + "tools:\n  - &t {shell: {name: a, command: [x], parameters: {type: object}}}\n  - *t\n"
	_, err := Parse([]byte(data), FormatYAML, "agent")
	want := `agent: tools[1].shell.name at line 5: duplicate tool name "a", already used by tools[0] at line 5`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse() error = %v, want %q", err, want)
	}

	data = head + "tools:\n  - shell: &s {name: a, command: [x], parameters: {type: object}}\n  - http: {name: b, url: 'http://h'}\n" +
		"  - shell: *s\n"
	_, err = Parse([]byte(data), FormatYAML, "agent")
	want = `agent: tools[2].shell.name at line 5: duplicate tool name "a", already used by tools[0] at line 5`
	if err == nil || err.Error() != want {
		t.Fatalf("Parse() error = %v, want %q", err, want)
	}
}

func TestParseToolProblems(t *testing.T) {
	tests := []struct {
		name   string
		format string
		data   string
		want   []Problem
	}{
		// Shape: unknown keys and wrong types in the new mappings.
		{
			name: "unknown keys in shell, http and an mcp server",
			data: head + "tools:\n  - builtin: calculate\n  - shell:\n      name: s\n      comand: [ls]\n" +
				"  - http: {name: h, url: 'http://h', verb: GET}\nmcp_servers:\n  - name: m\n    transport: stdio\n",
			want: []Problem{
				{Key: "tools[1].shell.comand", Line: 8, Message: `unknown key "comand" in tools[1].shell at line 8`},
				{Key: "tools[2].http.verb", Line: 9, Message: `unknown key "verb" in tools[2].http at line 9`},
				{Key: "mcp_servers[0].transport", Line: 12, Message: `unknown key "transport" in mcp_servers[0] at line 12`},
			},
		},
		{
			name: "wrong types in shell",
			data: head + "tools:\n  - shell:\n      name: [s]\n      command: ls -l\n      timeout: soon\n      env: {A: 1, B: [x]}\n      workdir: 7\n",
			want: []Problem{
				{Key: "tools[0].shell.name", Line: 6, Message: "tools[0].shell.name at line 6: expected a string"},
				{Key: "tools[0].shell.command", Line: 7, Message: "tools[0].shell.command at line 7: expected a list"},
				{Key: "tools[0].shell.timeout", Line: 8, Message: "tools[0].shell.timeout at line 8: expected a number"},
				{Key: "tools[0].shell.env.A", Line: 9, Message: "tools[0].shell.env.A at line 9: expected a string"},
				{Key: "tools[0].shell.env.B", Line: 9, Message: "tools[0].shell.env.B at line 9: expected a string"},
				{Key: "tools[0].shell.workdir", Line: 10, Message: "tools[0].shell.workdir at line 10: expected a string"},
			},
		},
		{
			name: "wrong types in http",
			data: head + "tools:\n  - http:\n      url: {a: b}\n      headers: [x]\n      allow_private: yes\n      parameters: [type, object]\n",
			want: []Problem{
				{Key: "tools[0].http.url", Line: 6, Message: "tools[0].http.url at line 6: expected a string"},
				{Key: "tools[0].http.headers", Line: 7, Message: "tools[0].http.headers at line 7: expected a mapping"},
				{Key: "tools[0].http.allow_private", Line: 8, Message: "tools[0].http.allow_private at line 8: expected true or false"},
				{Key: "tools[0].http.parameters", Line: 9, Message: "tools[0].http.parameters at line 9: expected a mapping"},
			},
		},
		{
			name: "wrong types in an mcp server",
			data: head + "mcp_servers:\n  - name: m\n    args: -y\n    command: [npx]\n    timeout: '5'\n  - stdio\n",
			want: []Problem{
				{Key: "mcp_servers[0].args", Line: 6, Message: "mcp_servers[0].args at line 6: expected a list"},
				{Key: "mcp_servers[0].command", Line: 7, Message: "mcp_servers[0].command at line 7: expected a string"},
				{Key: "mcp_servers[0].timeout", Line: 8, Message: "mcp_servers[0].timeout at line 8: expected a number"},
				{Key: "mcp_servers[1]", Line: 9, Message: "mcp_servers[1] at line 9: expected a mapping"},
			},
		},
		{
			name: "shell and http given scalars, mcp_servers a mapping",
			data: head + "tools:\n  - shell: ls\n  - http: 'http://h'\nmcp_servers: {name: m}\n",
			want: []Problem{
				{Key: "tools[0].shell", Line: 5, Message: "tools[0].shell at line 5: expected a mapping"},
				{Key: "tools[1].http", Line: 6, Message: "tools[1].http at line 6: expected a mapping"},
				{Key: "mcp_servers", Line: 7, Message: "mcp_servers at line 7: expected a list"},
			},
		},

		// One kind per entry.
		{
			name: "two and three kinds in one entry",
			data: head + "tools:\n  - builtin: calculate\n    shell: {name: s, command: [x]}\n  - {builtin: get_time, shell: {}, http: {}}\n",
			want: []Problem{
				{Key: "tools[0]", Line: 5, Message: "tools[0] at line 5: must have exactly one of builtin, shell or http, found builtin and shell"},
				{Key: "tools[1]", Line: 7, Message: "tools[1] at line 7: must have exactly one of builtin, shell or http, found builtin, shell and http"},
			},
		},
		{
			name: "empty shell and http",
			data: head + "tools:\n  - shell:\n  - http: {}\n",
			want: []Problem{
				{Key: "tools[0].shell.name", Line: 5, Message: `missing required key "name" in tools[0].shell at line 5`},
				{Key: "tools[0].shell.command", Line: 5, Message: `missing required key "command" in tools[0].shell at line 5`},
				{Key: "tools[1].http.name", Line: 6, Message: `missing required key "name" in tools[1].http at line 6`},
				{Key: "tools[1].http.url", Line: 6, Message: `missing required key "url" in tools[1].http at line 6`},
			},
		},

		// Names.
		{
			name: "blank and invalid tool names",
			data: head + "tools:\n" +
				"  - shell: {name: ' ', command: [x]}\n" +
				"  - shell: {name: get weather, command: [x]}\n" +
				"  - http: {name: " + strings.Repeat("n", 65) + ", url: 'http://h'}\n" +
				"  - http: {name: café, url: 'http://h'}\n" +
				"  - http: {name: a.b, url: 'http://h'}\n",
			want: []Problem{
				{Key: "tools[0].shell.name", Line: 5, Message: "tools[0].shell.name at line 5: must not be blank"},
				{Key: "tools[1].shell.name", Line: 6, Message: `tools[1].shell.name at line 6: "get weather" is not a valid tool name: use 1 to 64 letters, digits, underscores or hyphens`},
				{Key: "tools[2].http.name", Line: 7, Message: fmt.Sprintf(`tools[2].http.name at line 7: %q is not a valid tool name: use 1 to 64 letters, digits, underscores or hyphens`, strings.Repeat("n", 65))},
				{Key: "tools[3].http.name", Line: 8, Message: `tools[3].http.name at line 8: "café" is not a valid tool name: use 1 to 64 letters, digits, underscores or hyphens`},
				{Key: "tools[4].http.name", Line: 9, Message: `tools[4].http.name at line 9: "a.b" is not a valid tool name: use 1 to 64 letters, digits, underscores or hyphens`},
			},
		},
		{
			name: "tool names are unique across kinds",
			data: head + "tools:\n" +
				"  - builtin: calculate\n" +
				"  - shell: {name: calculate, command: [x]}\n" +
				"  - http: {name: get_time, url: 'http://h'}\n" +
				"  - builtin: get_time\n" +
				"  - shell: {name: fetch, command: [x]}\n" +
				"  - http:\n      name: fetch\n      url: 'http://h'\n",
			want: []Problem{
				{Key: "tools[1].shell.name", Line: 6, Message: `tools[1].shell.name at line 6: duplicate tool name "calculate", already used by tools[0] at line 5`},
				{Key: "tools[3].builtin", Line: 8, Message: `tools[3].builtin at line 8: duplicate tool name "get_time", already used by tools[2] at line 7`},
				{Key: "tools[5].http.name", Line: 11, Message: `tools[5].http.name at line 11: duplicate tool name "fetch", already used by tools[4] at line 9`},
			},
		},
		{
			name: "mcp server names are required and unique",
			data: head + "mcp_servers:\n  - {command: a}\n  - {name: '', command: a}\n  - {name: fs, command: a}\n  - name: fs\n    command: b\n",
			want: []Problem{
				{Key: "mcp_servers[0].name", Line: 5, Message: `missing required key "name" in mcp_servers[0] at line 5`},
				{Key: "mcp_servers[1].name", Line: 6, Message: "mcp_servers[1].name at line 6: must not be blank"},
				{Key: "mcp_servers[3].name", Line: 8, Message: `mcp_servers[3].name at line 8: duplicate server name "fs", already used by mcp_servers[2] at line 7`},
			},
		},
		{
			name: "an mcp server may share a name with a tool",
			data: head + "tools:\n  - builtin: calculate\nmcp_servers:\n  - {name: calculate}\n",
			want: []Problem{
				{Key: "mcp_servers[0].command", Line: 7, Message: `missing required key "command" in mcp_servers[0] at line 7`},
			},
		},

		// Shell commands.
		{
			name: "empty and blank commands",
			data: head + "tools:\n" +
				"  - shell: {name: a, command: []}\n" +
				"  - shell: {name: b, command: null}\n" +
				"  - shell:\n      name: c\n      command: ['  ', x]\n",
			want: []Problem{
				{Key: "tools[0].shell.command", Line: 5, Message: "tools[0].shell.command at line 5: must not be empty"},
				{Key: "tools[1].shell.command", Line: 6, Message: "tools[1].shell.command at line 6: must not be empty"},
				{Key: "tools[2].shell.command[0]", Line: 9, Message: "tools[2].shell.command[0] at line 9: must not be blank: it names the program"},
			},
		},

		// Parameters.
		{
			name: "parameters without type or with another type",
			data: head + "tools:\n" +
				"  - shell: {name: a, command: [x], parameters: {properties: {}}}\n" +
				"  - shell:\n      name: b\n      command: [x]\n      parameters:\n        type: array\n" +
				"  - http: {name: c, url: 'http://h', parameters: {type: [object]}}\n" +
				"  - http: {name: d, url: 'http://h', parameters: {}}\n",
			want: []Problem{
				{Key: "tools[0].shell.parameters.type", Line: 5, Message: `missing required key "type" in tools[0].shell.parameters at line 5`},
				{Key: "tools[1].shell.parameters.type", Line: 10, Message: `tools[1].shell.parameters.type at line 10: must be "object"`},
				{Key: "tools[2].http.parameters.type", Line: 11, Message: `tools[2].http.parameters.type at line 11: must be "object"`},
				{Key: "tools[3].http.parameters.type", Line: 12, Message: `missing required key "type" in tools[3].http.parameters at line 12`},
			},
		},
		{
			name: "parameters json cannot hold",
			data: head + "tools:\n  - shell:\n      name: a\n      command: [x]\n      parameters:\n        type: object\n" +
				"        max: .inf\n        min: -.Inf\n        n: .nan\n        big: 1e400\n",
			want: []Problem{
				{Key: "tools[0].shell.parameters.max", Line: 10, Message: "tools[0].shell.parameters.max at line 10: JSON has no infinity or NaN"},
				{Key: "tools[0].shell.parameters.min", Line: 11, Message: "tools[0].shell.parameters.min at line 11: JSON has no infinity or NaN"},
				{Key: "tools[0].shell.parameters.n", Line: 12, Message: "tools[0].shell.parameters.n at line 12: JSON has no infinity or NaN"},
				{Key: "tools[0].shell.parameters.big", Line: 13, Message: "tools[0].shell.parameters.big at line 13: number out of range"},
			},
		},
		{
			name: "yaml features refused inside parameters",
			data: head + "tools:\n  - shell:\n      name: a\n      command: [x]\n      parameters:\n        type: object\n" +
				"        properties: &p {}\n        required: *p\n        x: !!str 5\n        <<: {y: 1}\n        *p : alias key\n        !!str t: tagged key\n",
			want: []Problem{
				{Key: "tools[0].shell.parameters.properties", Line: 10, Message: "tools[0].shell.parameters.properties at line 10: anchors and aliases are not supported inside parameters"},
				{Key: "tools[0].shell.parameters.required", Line: 11, Message: "tools[0].shell.parameters.required at line 11: anchors and aliases are not supported inside parameters"},
				{Key: "tools[0].shell.parameters.x", Line: 12, Message: "tools[0].shell.parameters.x at line 12: tag !!str is not supported inside parameters"},
				{Key: "tools[0].shell.parameters", Line: 13, Message: `tools[0].shell.parameters at line 13: merge key "<<" is not supported inside parameters`},
				{Key: "tools[0].shell.parameters", Line: 14, Message: "tools[0].shell.parameters at line 14: keys must be plain scalars, without anchors, aliases or tags"},
				{Key: "tools[0].shell.parameters", Line: 15, Message: "tools[0].shell.parameters at line 15: keys must be plain scalars, without anchors, aliases or tags"},
			},
		},

		// Timeouts.
		{
			name: "timeouts must be positive and fit a duration",
			data: head + "tools:\n" +
				"  - shell: {name: a, command: [x], timeout: 0}\n" +
				"  - http: {name: b, url: 'http://h', timeout: -1}\n" +
				"  - http: {name: c, url: 'http://h', timeout: .nan}\n" +
				"mcp_servers:\n  - {name: m, command: x, timeout: .inf}\n  - {name: n, command: x, timeout: 1e10}\n",
			want: []Problem{
				{Key: "tools[0].shell.timeout", Line: 5, Message: "tools[0].shell.timeout at line 5: must be greater than 0"},
				{Key: "tools[1].http.timeout", Line: 6, Message: "tools[1].http.timeout at line 6: must be greater than 0"},
				{Key: "tools[2].http.timeout", Line: 7, Message: "tools[2].http.timeout at line 7: must be greater than 0"},
				{Key: "mcp_servers[0].timeout", Line: 9, Message: "mcp_servers[0].timeout at line 9: must be at most 9223372036 seconds"},
				{Key: "mcp_servers[1].timeout", Line: 10, Message: "mcp_servers[1].timeout at line 10: must be at most 9223372036 seconds"},
			},
		},

		{
			name: "timeout beyond float64",
			data: head + "mcp_servers:\n  - {name: m, command: x, timeout: 1e400}\n",
			want: []Problem{{Key: "mcp_servers[0].timeout", Line: 5, Message: "mcp_servers[0].timeout at line 5: number out of range"}},
		},

		// HTTP.
		{
			name: "http urls and methods",
			data: head + "tools:\n" +
				"  - http: {name: a, url: 'ftp://h/x'}\n" +
				"  - http: {name: b, url: 'https://'}\n" +
				"  - http: {name: c, url: '/relative'}\n" +
				"  - http: {name: d, url: '  '}\n" +
				"  - http: {name: e, url: 'http://h', method: FETCH}\n" +
				"  - http: {name: f, url: 'http://h:port'}\n" +
				"  - http: {name: g, url: 'x${HOST}'}\n",
			want: []Problem{
				{Key: "tools[0].http.url", Line: 5, Message: "tools[0].http.url at line 5: must be an absolute http or https URL"},
				{Key: "tools[1].http.url", Line: 6, Message: "tools[1].http.url at line 6: must be an absolute http or https URL"},
				{Key: "tools[2].http.url", Line: 7, Message: "tools[2].http.url at line 7: must be an absolute http or https URL"},
				{Key: "tools[3].http.url", Line: 8, Message: "tools[3].http.url at line 8: must not be blank"},
				{Key: "tools[4].http.method", Line: 9, Message: `tools[4].http.method at line 9: "FETCH" is not one of GET, POST, PUT, PATCH, DELETE`},
				{Key: "tools[5].http.url", Line: 10, Message: "tools[5].http.url at line 10: must be an absolute http or https URL"},
				{Key: "tools[6].http.url", Line: 11, Message: "tools[6].http.url at line 11: must be an absolute http or https URL"},
			},
		},
		{
			name: "header and env names",
			data: head + "tools:\n  - http:\n      name: a\n      url: 'http://h'\n      headers:\n        Bad Name: x\n        X-Ok: \"a\\r\\nInjected: b\"\n" +
				"  - shell:\n      name: b\n      command: [x]\n      env:\n        A=B: x\n        '': y\n",
			want: []Problem{
				{Key: "tools[0].http.headers.Bad Name", Line: 9, Message: `tools[0].http.headers at line 9: invalid header name "Bad Name"`},
				{Key: "tools[0].http.headers.X-Ok", Line: 10, Message: `tools[0].http.headers at line 10: value of header "X-Ok" contains a line break or NUL`},
				{Key: "tools[1].shell.env.", Line: 16, Message: `tools[1].shell.env at line 16: invalid variable name ""`},
				{Key: "tools[1].shell.env.A=B", Line: 15, Message: `tools[1].shell.env at line 15: invalid variable name "A=B"`},
			},
		},

		// MCP servers.
		{
			name: "mcp transports",
			data: head + "mcp_servers:\n" +
				"  - {name: a, transport_type: websocket, url: 'ws://h'}\n" +
				"  - {name: b, transport_type: stdio, url: 'http://h'}\n" +
				"  - {name: c, transport_type: streamable_http, command: x}\n" +
				"  - {name: d, transport_type: sse, url: 'file:///x'}\n" +
				"  - {name: e, transport_type: STDIO, command: x}\n" +
				"  - {name: f}\n" +
				"  - name: g\n    transport_type: sse\n    url: ''\n",
			want: []Problem{
				{Key: "mcp_servers[0].transport_type", Line: 5, Message: `mcp_servers[0].transport_type at line 5: "websocket" is not one of stdio, streamable_http or sse`},
				{Key: "mcp_servers[1].command", Line: 6, Message: `missing required key "command" in mcp_servers[1] at line 6`},
				{Key: "mcp_servers[2].url", Line: 7, Message: `missing required key "url" in mcp_servers[2] at line 7`},
				{Key: "mcp_servers[3].url", Line: 8, Message: "mcp_servers[3].url at line 8: must be an absolute http or https URL"},
				{Key: "mcp_servers[4].transport_type", Line: 9, Message: `mcp_servers[4].transport_type at line 9: "STDIO" is not one of stdio, streamable_http or sse`},
				{Key: "mcp_servers[5].command", Line: 10, Message: `missing required key "command" in mcp_servers[5] at line 10`},
				{Key: "mcp_servers[6].url", Line: 13, Message: "mcp_servers[6].url at line 13: must not be blank"},
			},
		},
		{
			name: "mcp env and header names",
			data: head + "mcp_servers:\n  - name: a\n    command: x\n    env: {'B=C': x}\n  - name: b\n    url: 'http://h'\n    headers: {'A:B': x}\n",
			want: []Problem{
				{Key: "mcp_servers[0].env.B=C", Line: 7, Message: `mcp_servers[0].env at line 7: invalid variable name "B=C"`},
				{Key: "mcp_servers[1].headers.A:B", Line: 10, Message: `mcp_servers[1].headers at line 10: invalid header name "A:B"`},
			},
		},

		// Anchors, aliases, merges and tags.
		{
			name: "anchor defined twice",
			data: head + "tools:\n  - &t {builtin: calculate}\n  - &t {builtin: get_time}\n  - *t\n",
			want: []Problem{{Line: 6, Message: `line 6: anchor "t" is already defined at line 5`}},
		},
		{
			name: "aliases are checked where they are used",
			data: head + "tools:\n  - &t {builtin: calculate, extra: 1}\n  - *t\nmcp_servers:\n  - {name: m, command: x, env: *t}\n",
			want: []Problem{
				{Key: "tools[0].extra", Line: 5, Message: `unknown key "extra" in tools[0] at line 5`},
				{Key: "tools[1].extra", Line: 5, Message: `unknown key "extra" in tools[1] at line 5`},
				{Key: "mcp_servers[0].env.extra", Line: 5, Message: "mcp_servers[0].env.extra at line 5: expected a string"},
			},
		},
		{
			name: "parameters used as something else",
			data: head + "tools:\n  - shell: {name: a, command: [x], parameters: &p {type: object}}\n" +
				"  - shell: {name: b, command: [x], env: *p}\n",
			want: []Problem{
				{Key: "tools[1].shell.env", Line: 6, Message: `tools[1].shell.env at line 6: alias "p" stands for parameters, and may only be used as parameters`},
			},
		},
		{
			name: "merge keys refused where parameters can be",
			data: head + "tools:\n  - &t {builtin: calculate}\n  - {<<: *t}\n  - shell: {<<: {name: a}, command: [x]}\n",
			want: []Problem{
				{Key: "tools[1]", Line: 6, Message: `tools[1] at line 6: merge key "<<" is not supported here`},
				{Key: "tools[2].shell", Line: 7, Message: `tools[2].shell at line 7: merge key "<<" is not supported here`},
			},
		},
		{
			name: "top-level merge key refused",
			data: "<<: {name: a}\nmodel_config: {provider: echo}\n",
			want: []Problem{{Line: 1, Message: `top level at line 1: merge key "<<" is not supported here`}},
		},
		{
			name: "tags refused on tool entries",
			data: head + "tools:\n  - !!map {builtin: calculate}\n  - shell: !!map {name: a, command: [x]}\n",
			want: []Problem{
				{Key: "tools[0]", Line: 5, Message: "tools[0] at line 5: tag !!map is not supported here"},
				{Key: "tools[1].shell", Line: 6, Message: "tools[1].shell at line 6: tag !!map is not supported here"},
			},
		},

		{
			name: "merged keys are checked where they are merged",
			data: head + "mcp_servers:\n  - {name: m, command: x, env: &e {A: b, C: [d]}}\n" +
				"  - name: n\n    <<: [{command: y}, {url: 7, bad: z}]\n    env: {<<: *e, D: e}\n",
			want: []Problem{
				{Key: "mcp_servers[0].env.C", Line: 5, Message: "mcp_servers[0].env.C at line 5: expected a string"},
				{Key: "mcp_servers[1].url", Line: 7, Message: "mcp_servers[1].url at line 7: expected a string"},
				{Key: "mcp_servers[1].bad", Line: 7, Message: `unknown key "bad" in mcp_servers[1] at line 7`},
				{Key: "mcp_servers[1].env.C", Line: 5, Message: "mcp_servers[1].env.C at line 5: expected a string"},
			},
		},

		{
			name: "tags refused on lists and mappings",
			data: head + "mcp_servers:\n  - {name: m, command: x, args: ! 0}\n" +
				"  - {name: n, command: x, args: !!seq [a], env: !!map {A: b}, timeout: !!float 1}\n  - !!map {name: o}\n",
			want: []Problem{
				{Key: "mcp_servers[0].args", Line: 5, Message: "mcp_servers[0].args at line 5: tag ! is not supported here"},
				{Key: "mcp_servers[1].args", Line: 6, Message: "mcp_servers[1].args at line 6: tag !!seq is not supported here"},
				{Key: "mcp_servers[1].env", Line: 6, Message: "mcp_servers[1].env at line 6: tag !!map is not supported here"},
				{Key: "mcp_servers[2]", Line: 7, Message: "mcp_servers[2] at line 7: tag !!map is not supported here"},
			},
		},

		// JSON.
		{
			name:   "json problems have their lines",
			format: FormatJSON,
			data: "{\n  \"name\": \"a\",\n  \"model_config\": {\"provider\": \"echo\"},\n  \"tools\": [\n" +
				"    {\"shell\": {\"name\": \"s\", \"comand\": [\"ls\"]}},\n" +
				"    {\"http\": {\"name\": \"s\", \"url\": \"ftp://h\",\n      \"parameters\": {\"type\": \"string\"}}}\n  ],\n" +
				"  \"mcp_servers\": [{\"name\": \"m\", \"transport_type\": \"ws\"}]\n}",
			want: []Problem{{Key: "tools[0].shell.comand", Line: 5, Message: `unknown key "comand" in tools[0].shell at line 5`}},
		},
		{
			name:   "json semantic problems have their lines",
			format: FormatJSON,
			data: "{\n  \"name\": \"a\",\n  \"model_config\": {\"provider\": \"echo\"},\n  \"tools\": [\n" +
				"    {\"shell\": {\"name\": \"s\", \"command\": []}},\n" +
				"    {\"http\": {\"name\": \"s\", \"url\": \"ftp://h\",\n      \"parameters\": {\"type\": \"string\"}}}\n  ],\n" +
				"  \"mcp_servers\": [{\"name\": \"m\", \"transport_type\": \"ws\"}]\n}",
			want: []Problem{
				{Key: "tools[0].shell.command", Line: 5, Message: "tools[0].shell.command at line 5: must not be empty"},
				{Key: "tools[1].http.name", Line: 6, Message: `tools[1].http.name at line 6: duplicate tool name "s", already used by tools[0] at line 5`},
				{Key: "tools[1].http.url", Line: 6, Message: "tools[1].http.url at line 6: must be an absolute http or https URL"},
				{Key: "tools[1].http.parameters.type", Line: 7, Message: `tools[1].http.parameters.type at line 7: must be "object"`},
				{Key: "mcp_servers[0].transport_type", Line: 9, Message: `mcp_servers[0].transport_type at line 9: "ws" is not one of stdio, streamable_http or sse`},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			format := tt.format
			if format == "" {
				format = FormatYAML
			}
			got, err := Parse([]byte(tt.data), format, "agent.file")
			if err == nil {
				t.Fatalf("Parse() = %+v, want an error", got)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse() error = %T %v, want *Error", err, err)
			}
			if diff := cmp.Diff(tt.want, fe.Problems); diff != "" {
				t.Errorf("Parse() problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAliasExpansionBounded(t *testing.T) {
	// Types do not nest, so aliases cannot expand exponentially; but each
	// alias of a large mapping costs a few bytes and stands for all of it.
	var b strings.Builder
	b.WriteString(head + "mcp_servers:\n  - &s\n    name: m\n    command: x\n    env:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "      K%d: v\n", i)
	}
	b.WriteString(strings.Repeat("  - *s\n", 1000))
	_, err := Parse([]byte(b.String()), FormatYAML, "aliases.yaml")
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("Parse() error = %v, want *Error", err)
	}
	want := fmt.Sprintf("aliases expand to more than %d values", maxAliasVisits)
	if len(fe.Problems) != 1 || !strings.HasSuffix(fe.Problems[0].Message, want) {
		t.Errorf("Parse() problems = %+v, want one ending %q", fe.Problems, want)
	}
}

func TestParseMergeExpansionBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(head + "mcp_servers:\n  - name: m\n    command: x\n    env: &e\n")
	for i := range 100 {
		fmt.Fprintf(&b, "      K%d: v\n", i)
	}
	b.WriteString("    headers: &l [{}, *e]\n")
	for i := range 1000 {
		fmt.Fprintf(&b, "  - {name: m%d, command: x, env: {<<: *l}}\n", i)
	}
	_, err := Parse([]byte(b.String()), FormatYAML, "merges.yaml")
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("Parse() error = %v, want *Error", err)
	}
	want := fmt.Sprintf("aliases expand to more than %d values", maxAliasVisits)
	found := false
	for _, p := range fe.Problems {
		found = found || strings.HasSuffix(p.Message, want)
	}
	if !found {
		t.Errorf("Parse() problems = %+v, want one ending %q", fe.Problems, want)
	}
}

func TestToolRefName(t *testing.T) {
	tests := []struct {
		ref  ToolRef
		want string
	}{
		{ToolRef{Builtin: "calculate"}, "calculate"},
		{ToolRef{Shell: &ShellTool{Name: "s"}}, "s"},
		{ToolRef{HTTP: &HTTPTool{Name: "h"}}, "h"},
	}
	for _, tt := range tests {
		if got := tt.ref.Name(); got != tt.want {
			t.Errorf("%+v.Name() = %q, want %q", tt.ref, got, tt.want)
		}
	}
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		seconds float64
		want    time.Duration
	}{
		{0, 0},
		{2.5, 2500 * time.Millisecond},
		{60, time.Minute},
		{1e-12, time.Nanosecond},
		{maxTimeoutSeconds, time.Duration(1<<63 - 1)},
	}
	for _, tt := range tests {
		s := ShellTool{TimeoutSeconds: tt.seconds}
		h := HTTPTool{TimeoutSeconds: tt.seconds}
		m := MCPServer{TimeoutSeconds: tt.seconds}
		for _, got := range []time.Duration{s.Timeout(), h.Timeout(), m.Timeout()} {
			if got != tt.want {
				t.Errorf("Timeout() for %v seconds = %v, want %v", tt.seconds, got, tt.want)
			}
		}
	}
}

func TestMCPServerTransport(t *testing.T) {
	tests := []struct {
		server MCPServer
		want   string
	}{
		{MCPServer{TransportType: "sse", URL: "http://h"}, TransportSSE},
		{MCPServer{URL: "http://h"}, TransportStreamableHTTP},
		{MCPServer{URL: "http://h", Command: "x"}, TransportStdio},
		{MCPServer{}, TransportStdio},
	}
	for _, tt := range tests {
		if got := tt.server.Transport(); got != tt.want {
			t.Errorf("%+v.Transport() = %q, want %q", tt.server, got, tt.want)
		}
	}
}

func TestIsJSONNumber(t *testing.T) {
	for _, s := range []string{"0", "-0", "1", "10", "1.5", "-0.25", "1e5", "1E+5", "1e-05", "12.50e3"} {
		if !isJSONNumber(s) {
			t.Errorf("isJSONNumber(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "-", "+1", "01", "1.", ".5", "1e", "1e+", "0x10", "1_000", " 1", "1 ", "Infinity", "--1", "1.2.3"} {
		if isJSONNumber(s) {
			t.Errorf("isJSONNumber(%q) = true, want false", s)
		}
	}
}
