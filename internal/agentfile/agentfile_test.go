package agentfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func ptr[T any](v T) *T { return &v }

const fullYAML = `# A complete agent.
name: support
system_instruction: |
  You help customers.
  Be brief.
model_config:
  provider: openai
  model: gpt-4o-mini
  base_url: http://localhost:11434/v1
  temperature: 0.2
  max_tokens: 512
  api_key_env: MY_KEY
tools:
  - builtin: calculate
  - builtin: get_time
  - shell:
      name: word_count
      description: Counts words.
      command: [wc, -w]
      parameters:
        type: object
        properties:
          text: {type: string, description: "Text to count"}
        required: [text]
      timeout: 2.5
      env: {LC_ALL: C, TOKEN: "${WC_TOKEN}"}
      workdir: /tmp
  - http:
      name: weather
      description: Looks up the weather.
      url: https://${WEATHER_HOST}/v1/weather?units=metric
      method: post
      headers:
        Authorization: Bearer ${WEATHER_TOKEN}
      parameters:
        type: object
        properties:
          city: {type: string, maxLength: 100}
          days: {type: integer, minimum: 1, maximum: 7}
          ratio: {type: number, multipleOf: 0.5}
          metric: {type: boolean, default: true}
          tags: {type: array, items: {type: string}, default: []}
          note: {type: [string, "null"], default: null}
      timeout: 10
      allow_private: true
mcp_servers:
  - name: everything
    transport_type: stdio
    command: npx
    args: [-y, "@modelcontextprotocol/server-everything"]
    env: {NODE_ENV: production}
    timeout: 60
  - name: remote
    transport_type: streamable_http
    url: https://mcp.example.com/mcp
    headers: {Authorization: "Bearer ${MCP_TOKEN}"}
  - name: legacy
    transport_type: sse
    url: http://localhost:3001/sse
max_steps: 8
`

const fullJSON = `{
  "name": "support",
  "system_instruction": "You help customers.\nBe brief.\n",
  "model_config": {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "base_url": "http://localhost:11434/v1",
    "temperature": 0.2,
    "max_tokens": 512,
    "api_key_env": "MY_KEY"
  },
  "tools": [
    {"builtin": "calculate"},
    {"builtin": "get_time"},
    {
      "shell": {
        "name": "word_count",
        "description": "Counts words.",
        "command": ["wc", "-w"],
        "parameters": {
          "type": "object",
          "properties": {"text": {"type": "string", "description": "Text to count"}},
          "required": ["text"]
        },
        "timeout": 2.5,
        "env": {"LC_ALL": "C", "TOKEN": "${WC_TOKEN}"},
        "workdir": "/tmp"
      }
    },
    {
      "http": {
        "name": "weather",
        "description": "Looks up the weather.",
        "url": "https://${WEATHER_HOST}/v1/weather?units=metric",
        "method": "post",
        "headers": {"Authorization": "Bearer ${WEATHER_TOKEN}"},
        "parameters": {
          "type": "object",
          "properties": {
            "city": {"type": "string", "maxLength": 100},
            "days": {"type": "integer", "minimum": 1, "maximum": 7},
            "ratio": {"type": "number", "multipleOf": 0.5},
            "metric": {"type": "boolean", "default": true},
            "tags": {"type": "array", "items": {"type": "string"}, "default": []},
            "note": {"type": ["string", "null"], "default": null}
          }
        },
        "timeout": 10,
        "allow_private": true
      }
    }
  ],
  "mcp_servers": [
    {
      "name": "everything",
      "transport_type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-everything"],
      "env": {"NODE_ENV": "production"},
      "timeout": 60
    },
    {
      "name": "remote",
      "transport_type": "streamable_http",
      "url": "https://mcp.example.com/mcp",
      "headers": {"Authorization": "Bearer ${MCP_TOKEN}"}
    },
    {"name": "legacy", "transport_type": "sse", "url": "http://localhost:3001/sse"}
  ],
  "max_steps": 8
}`

var fullFile = &File{
	Name:              "support",
	SystemInstruction: "You help customers.\nBe brief.\n",
	ModelConfig: ModelConfig{
		Provider:    "openai",
		Model:       "gpt-4o-mini",
		BaseURL:     "http://localhost:11434/v1",
		Temperature: ptr(0.2),
		MaxTokens:   512,
		APIKeyEnv:   "MY_KEY",
	},
	Tools: []ToolRef{
		{Builtin: "calculate"},
		{Builtin: "get_time"},
		{Shell: &ShellTool{
			Name:           "word_count",
			Description:    "Counts words.",
			Command:        []string{"wc", "-w"},
			Parameters:     json.RawMessage(`{"type":"object","properties":{"text":{"type":"string","description":"Text to count"}},"required":["text"]}`),
			TimeoutSeconds: 2.5,
			Env:            map[string]string{"LC_ALL": "C", "TOKEN": "${WC_TOKEN}"},
			Workdir:        "/tmp",
		}},
		{HTTP: &HTTPTool{
			Name:        "weather",
			Description: "Looks up the weather.",
			URL:         "https://${WEATHER_HOST}/v1/weather?units=metric",
			Method:      "post",
			Headers:     map[string]string{"Authorization": "Bearer ${WEATHER_TOKEN}"},
			Parameters: json.RawMessage(`{"type":"object","properties":{` +
				`"city":{"type":"string","maxLength":100},` +
				`"days":{"type":"integer","minimum":1,"maximum":7},` +
				`"ratio":{"type":"number","multipleOf":0.5},` +
				`"metric":{"type":"boolean","default":true},` +
				`"tags":{"type":"array","items":{"type":"string"},"default":[]},` +
				`"note":{"type":["string","null"],"default":null}}}`),
			TimeoutSeconds: 10,
			AllowPrivate:   true,
		}},
	},
	MCPServers: []MCPServer{
		{
			Name:           "everything",
			TransportType:  "stdio",
			Command:        "npx",
			Args:           []string{"-y", "@modelcontextprotocol/server-everything"},
			Env:            map[string]string{"NODE_ENV": "production"},
			TimeoutSeconds: 60,
		},
		{
			Name:          "remote",
			TransportType: "streamable_http",
			URL:           "https://mcp.example.com/mcp",
			Headers:       map[string]string{"Authorization": "Bearer ${MCP_TOKEN}"},
		},
		{Name: "legacy", TransportType: "sse", URL: "http://localhost:3001/sse"},
	},
	MaxSteps: 8,
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name   string
		format string
		data   string
		want   *File
	}{
		{name: "full yaml", format: FormatYAML, data: fullYAML, want: fullFile},
		{name: "full json", format: FormatJSON, data: fullJSON, want: fullFile},
		{
			name:   "echo needs no model",
			format: FormatYAML,
			data:   "name: e\nmodel_config:\n  provider: echo\n",
			want:   &File{Name: "e", ModelConfig: ModelConfig{Provider: "echo"}},
		},
		{
			name:   "echo in any case",
			format: FormatJSON,
			data:   `{"name": "e", "model_config": {"provider": "Echo"}}`,
			want:   &File{Name: "e", ModelConfig: ModelConfig{Provider: "Echo"}},
		},
		{
			name:   "flow style yaml",
			format: FormatYAML,
			data:   "{name: f, model_config: {provider: openai, model: m}, tools: [{builtin: calculate}]}",
			want:   &File{Name: "f", ModelConfig: ModelConfig{Provider: "openai", Model: "m"}, Tools: []ToolRef{{Builtin: "calculate"}}},
		},
		{
			name:   "integer temperature and bounds",
			format: FormatYAML,
			data:   "name: t\nmodel_config:\n  provider: openai\n  model: m\n  temperature: 2\n",
			want:   &File{Name: "t", ModelConfig: ModelConfig{Provider: "openai", Model: "m", Temperature: ptr(2.0)}},
		},
		{
			name:   "nulls and empty lists leave zero values",
			format: FormatYAML,
			data:   "name: n\nsystem_instruction:\nmodel_config:\n  provider: echo\n  temperature: null\ntools: []\nmax_steps: ~\n",
			want:   &File{Name: "n", ModelConfig: ModelConfig{Provider: "echo"}, Tools: []ToolRef{}},
		},
		{
			name:   "model names with colons, dots and slashes stay strings",
			format: FormatYAML,
			data:   "name: local\nmodel_config:\n  provider: ollama\n  model: llama3.1:8b\n  base_url: http://localhost:11434/v1\n",
			want:   &File{Name: "local", ModelConfig: ModelConfig{Provider: "ollama", Model: "llama3.1:8b", BaseURL: "http://localhost:11434/v1"}},
		},
		{
			name:   "anchors and aliases",
			format: FormatYAML,
			data:   "name: a\nmodel_config: &mc\n  provider: echo\ntools:\n  - &calc {builtin: calculate}\n  - builtin: get_time\n",
			want:   &File{Name: "a", ModelConfig: ModelConfig{Provider: "echo"}, Tools: []ToolRef{{Builtin: "calculate"}, {Builtin: "get_time"}}},
		},
		{
			name:   "quoted strings that look like numbers",
			format: FormatYAML,
			data:   "name: \"42\"\nmodel_config:\n  provider: openai\n  model: '3.5'\n",
			want:   &File{Name: "42", ModelConfig: ModelConfig{Provider: "openai", Model: "3.5"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.data), tt.format, "agent")
			if err != nil {
				t.Fatalf("Parse() error = %v, want nil", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name   string
		format string
		data   string
		want   []Problem
	}{
		{
			name:   "unknown top-level key",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\nmodle: x\n",
			want:   []Problem{{Key: "modle", Line: 4, Message: `unknown key "modle" at line 4`}},
		},
		{
			name:   "unknown nested key",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: openai\n  modle: gpt-4o\n",
			want:   []Problem{{Key: "model_config.modle", Line: 4, Message: `unknown key "modle" in model_config at line 4`}},
		},
		{
			name:   "unknown key in a tool entry",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\ntools:\n  - builtin: calculate\n  - shel: ls\n",
			want:   []Problem{{Key: "tools[1].shel", Line: 6, Message: `unknown key "shel" in tools[1] at line 6`}},
		},
		{
			name:   "every unknown key at once",
			format: FormatYAML,
			data:   "name: a\nnmae: b\nmodel_config:\n  provider: echo\n  temprature: 1\nmemory: {}\n",
			want: []Problem{
				{Key: "nmae", Line: 2, Message: `unknown key "nmae" at line 2`},
				{Key: "model_config.temprature", Line: 5, Message: `unknown key "temprature" in model_config at line 5`},
				{Key: "memory", Line: 6, Message: `unknown key "memory" at line 6`},
			},
		},
		{
			name:   "non-string key",
			format: FormatYAML,
			data:   "name: a\n1: b\n",
			want:   []Problem{{Key: "1", Line: 2, Message: `unknown key "1" at line 2`}},
		},
		{
			name:   "integer given a word",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\ntools: []\nmax_steps: abc\n",
			want:   []Problem{{Key: "max_steps", Line: 5, Message: "max_steps at line 5: expected an integer"}},
		},
		{
			name:   "integer given a fraction",
			format: FormatYAML,
			data:   "name: a\nmax_steps: 1.5\n",
			want:   []Problem{{Key: "max_steps", Line: 2, Message: "max_steps at line 2: expected an integer"}},
		},
		{
			name:   "integer given a list",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  max_tokens: [1]\n",
			want:   []Problem{{Key: "model_config.max_tokens", Line: 3, Message: "model_config.max_tokens at line 3: expected an integer"}},
		},
		{
			name:   "integer out of range",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  max_tokens: 99999999999999999999\n",
			want:   []Problem{{Key: "model_config.max_tokens", Line: 3, Message: "model_config.max_tokens at line 3: integer out of range"}},
		},
		{
			name:   "integer beyond 64 bits",
			format: FormatYAML,
			data:   "name: a\nmax_steps: -99999999999999999999\n",
			want:   []Problem{{Key: "max_steps", Line: 2, Message: "max_steps at line 2: integer out of range"}},
		},
		{
			name:   "unsigned integer beyond int64",
			format: FormatYAML,
			data:   "name: a\nmax_steps: 18446744073709551615\n",
			want:   []Problem{{Key: "max_steps", Line: 2, Message: "max_steps at line 2: integer out of range"}},
		},
		{
			name:   "quoted digits are still a string",
			format: FormatYAML,
			data:   "name: a\nmax_steps: '99999999999999999999'\n",
			want:   []Problem{{Key: "max_steps", Line: 2, Message: "max_steps at line 2: expected an integer"}},
		},
		{
			name:   "number given a word",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: openai\n  temperature: hot\n",
			want:   []Problem{{Key: "model_config.temperature", Line: 4, Message: "model_config.temperature at line 4: expected a number"}},
		},
		{
			name:   "string given a number",
			format: FormatYAML,
			data:   "name: 5\n",
			want:   []Problem{{Key: "name", Line: 1, Message: "name at line 1: expected a string"}},
		},
		{
			name:   "string given a boolean",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: true\n",
			want:   []Problem{{Key: "model_config.provider", Line: 3, Message: "model_config.provider at line 3: expected a string"}},
		},
		{
			name:   "string given a mapping reports the key's line",
			format: FormatYAML,
			data:   "name:\n  first: a\n",
			want:   []Problem{{Key: "name", Line: 1, Message: "name at line 1: expected a string"}},
		},
		{
			name:   "mapping given a string",
			format: FormatYAML,
			data:   "name: a\nmodel_config: openai\n",
			want:   []Problem{{Key: "model_config", Line: 2, Message: "model_config at line 2: expected a mapping"}},
		},
		{
			name:   "list given a string",
			format: FormatYAML,
			data:   "name: a\ntools: calculate\n",
			want:   []Problem{{Key: "tools", Line: 2, Message: "tools at line 2: expected a list"}},
		},
		{
			name:   "tool entry given a string",
			format: FormatYAML,
			data:   "name: a\ntools:\n  - builtin: get_time\n  - calculate\n",
			want:   []Problem{{Key: "tools[1]", Line: 4, Message: "tools[1] at line 4: expected a mapping"}},
		},
		{
			name:   "top level is a list",
			format: FormatYAML,
			data:   "- name: a\n",
			want:   []Problem{{Line: 1, Message: "top level at line 1: expected a mapping"}},
		},
		{
			name:   "top level is a scalar",
			format: FormatYAML,
			data:   "hello\n",
			want:   []Problem{{Line: 1, Message: "top level at line 1: expected a mapping"}},
		},
		{
			name:   "every type problem at once",
			format: FormatYAML,
			data:   "name: [a]\nmodel_config:\n  temperature: warm\n  max_tokens: lots\nmax_steps: no\n",
			want: []Problem{
				{Key: "name", Line: 1, Message: "name at line 1: expected a string"},
				{Key: "model_config.temperature", Line: 3, Message: "model_config.temperature at line 3: expected a number"},
				{Key: "model_config.max_tokens", Line: 4, Message: "model_config.max_tokens at line 4: expected an integer"},
				{Key: "max_steps", Line: 5, Message: "max_steps at line 5: expected an integer"},
			},
		},
		{
			name:   "empty file",
			format: FormatYAML,
			data:   "",
			want:   []Problem{{Message: "file is empty, want a mapping with at least name and model_config"}},
		},
		{
			name:   "comments only",
			format: FormatYAML,
			data:   "# nothing here\n",
			want:   []Problem{{Message: "file is empty, want a mapping with at least name and model_config"}},
		},
		{
			name:   "two documents",
			format: FormatYAML,
			data:   "name: a\n---\nname: b\n",
			want:   []Problem{{Line: 3, Message: "second document at line 3: want exactly one document"}},
		},
		{
			name:   "flow collections nested too deep",
			format: FormatYAML,
			data:   "name: a\ntools:\n  " + strings.Repeat("[", 65) + "\n",
			want:   []Problem{{Line: 3, Message: "line 3: nested more than 64 levels deep"}},
		},
		{
			name:   "block sequences nested too deep on one line",
			format: FormatYAML,
			data:   "name: a\ntools: " + strings.Repeat("- ", 64) + "x\n",
			want:   []Problem{{Line: 2, Message: "line 2: nested more than 64 levels deep"}},
		},
		{
			name:   "nesting just within the limit reaches the type check",
			format: FormatYAML,
			data:   "name: a\nsystem_instruction: " + strings.Repeat("[", 63) + strings.Repeat("]", 63) + "\n",
			want:   []Problem{{Key: "system_instruction", Line: 2, Message: "system_instruction at line 2: expected a string"}},
		},
		{
			name:   "deep json",
			format: FormatJSON,
			data:   strings.Repeat("[", 65) + strings.Repeat("]", 65),
			want:   []Problem{{Line: 1, Message: "line 1: nested more than 64 levels deep"}},
		},

		// Semantic problems.
		{
			name:   "nothing required is there",
			format: FormatYAML,
			data:   "system_instruction: hi\n",
			want: []Problem{
				{Key: "name", Message: `missing required key "name"`},
				{Key: "model_config", Message: `missing required key "model_config"`},
			},
		},
		{
			name:   "blank name and empty model_config",
			format: FormatYAML,
			data:   "name: '  '\nmodel_config: {}\n",
			want: []Problem{
				{Key: "name", Line: 1, Message: "name at line 1: must not be blank"},
				{Key: "model_config.provider", Line: 2, Message: `missing required key "provider" in model_config at line 2`},
				{Key: "model_config.model", Line: 2, Message: `missing required key "model" in model_config at line 2`},
			},
		},
		{
			name:   "null name and null model_config",
			format: FormatYAML,
			data:   "name:\nmodel_config: null\n",
			want: []Problem{
				{Key: "name", Line: 1, Message: "name at line 1: must not be blank"},
				{Key: "model_config.provider", Line: 2, Message: `missing required key "provider" in model_config at line 2`},
				{Key: "model_config.model", Line: 2, Message: `missing required key "model" in model_config at line 2`},
			},
		},
		{
			name:   "blank provider and model",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: ''\n  model: ' '\n",
			want: []Problem{
				{Key: "model_config.provider", Line: 3, Message: "model_config.provider at line 3: must not be blank"},
				{Key: "model_config.model", Line: 4, Message: "model_config.model at line 4: must not be blank"},
			},
		},
		{
			name:   "model required for other providers",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: openai\n",
			want:   []Problem{{Key: "model_config.model", Line: 2, Message: `missing required key "model" in model_config at line 2`}},
		},
		{
			name:   "temperature above 2",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\n  temperature: 2.5\n",
			want:   []Problem{{Key: "model_config.temperature", Line: 4, Message: "model_config.temperature at line 4: must be between 0 and 2"}},
		},
		{
			name:   "temperature below 0",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\n  temperature: -0.1\n",
			want:   []Problem{{Key: "model_config.temperature", Line: 4, Message: "model_config.temperature at line 4: must be between 0 and 2"}},
		},
		{
			name:   "temperature NaN",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\n  temperature: .nan\n",
			want:   []Problem{{Key: "model_config.temperature", Line: 4, Message: "model_config.temperature at line 4: must be between 0 and 2"}},
		},
		{
			name:   "negative max_tokens and max_steps",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\n  max_tokens: -1\nmax_steps: -2\n",
			want: []Problem{
				{Key: "model_config.max_tokens", Line: 4, Message: "model_config.max_tokens at line 4: must be at least 0"},
				{Key: "max_steps", Line: 5, Message: "max_steps at line 5: must be at least 0"},
			},
		},
		{
			name:   "tool entries without a kind",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\ntools:\n  - {}\n  - builtin: ' '\n  -\n  - builtin:\n",
			want: []Problem{
				{Key: "tools[0]", Line: 5, Message: "tools[0] at line 5: must have exactly one of builtin, shell or http, found none"},
				{Key: "tools[1].builtin", Line: 6, Message: "tools[1].builtin at line 6: must not be blank"},
				{Key: "tools[2]", Line: 7, Message: "tools[2] at line 7: must have exactly one of builtin, shell or http, found none"},
				{Key: "tools[3].builtin", Line: 8, Message: "tools[3].builtin at line 8: must not be blank"},
			},
		},
		{
			name:   "duplicate builtins",
			format: FormatYAML,
			data:   "name: a\nmodel_config:\n  provider: echo\ntools:\n  - builtin: calculate\n  - builtin: get_time\n  - builtin: calculate\n",
			want:   []Problem{{Key: "tools[2].builtin", Line: 7, Message: `tools[2].builtin at line 7: duplicate tool name "calculate", already used by tools[0] at line 5`}},
		},
		{
			name:   "every semantic problem at once",
			format: FormatYAML,
			data:   "model_config:\n  provider: openai\n  temperature: 3\ntools:\n  - builtin: x\n  - builtin: x\nmax_steps: -1\n",
			want: []Problem{
				{Key: "name", Message: `missing required key "name"`},
				{Key: "model_config.model", Line: 1, Message: `missing required key "model" in model_config at line 1`},
				{Key: "model_config.temperature", Line: 3, Message: "model_config.temperature at line 3: must be between 0 and 2"},
				{Key: "max_steps", Line: 7, Message: "max_steps at line 7: must be at least 0"},
				{Key: "tools[1].builtin", Line: 6, Message: `tools[1].builtin at line 6: duplicate tool name "x", already used by tools[0] at line 5`},
			},
		},

		// JSON.
		{
			name:   "json unknown key",
			format: FormatJSON,
			data:   "{\n  \"name\": \"a\",\n  \"modle\": \"x\"\n}",
			want:   []Problem{{Key: "modle", Line: 3, Message: `unknown key "modle" at line 3`}},
		},
		{
			name:   "json string where an integer goes",
			format: FormatJSON,
			data:   "{\n  \"name\": \"a\",\n  \"model_config\": {\"provider\": \"echo\"},\n  \"max_steps\": \"5\"\n}",
			want:   []Problem{{Key: "max_steps", Line: 4, Message: "max_steps at line 4: expected an integer"}},
		},
		{
			name:   "json number where a string goes",
			format: FormatJSON,
			data:   `{"name": 7}`,
			want:   []Problem{{Key: "name", Line: 1, Message: "name at line 1: expected a string"}},
		},
		{
			name:   "json semantic problems",
			format: FormatJSON,
			data:   "{\n  \"name\": \"\",\n  \"model_config\": {\n    \"provider\": \"openai\"\n  }\n}",
			want: []Problem{
				{Key: "name", Line: 2, Message: "name at line 2: must not be blank"},
				{Key: "model_config.model", Line: 3, Message: `missing required key "model" in model_config at line 3`},
			},
		},
		{
			name:   "json syntax error",
			format: FormatJSON,
			data:   "{\n  \"name\": \"a\",\n}",
			want:   []Problem{{Line: 3, Message: "invalid JSON at line 3: invalid character '}' looking for beginning of object key string"}},
		},
		{
			name:   "yaml in a json file",
			format: FormatJSON,
			data:   "name: a\n",
			want:   []Problem{{Line: 1, Message: "invalid JSON at line 1: invalid character 'a' in literal null (expecting 'u')"}},
		},
		{
			name:   "empty json file",
			format: FormatJSON,
			data:   "",
			want:   []Problem{{Line: 1, Message: "invalid JSON at line 1: unexpected end of JSON input"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse([]byte(tt.data), tt.format, "agent.file")
			if err == nil {
				t.Fatalf("Parse() = %+v, want an error", got)
			}
			if got != nil {
				t.Errorf("Parse() returned %+v with its error, want nil", got)
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Parse() error = %T %v, want *Error", err, err)
			}
			if fe.File != "agent.file" {
				t.Errorf("Error.File = %q, want %q", fe.File, "agent.file")
			}
			if diff := cmp.Diff(tt.want, fe.Problems); diff != "" {
				t.Errorf("Parse() problems mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseLibraryErrors covers errors worded by the YAML library: only the
// prefix and line are ours.
func TestParseLibraryErrors(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		line   int
		prefix string
	}{
		{name: "duplicate key", data: "name: a\nname: b\n", line: 2, prefix: `syntax error at line 2: mapping key "name" already defined`},
		{name: "unclosed flow sequence", data: "name: a\ntools: [\n", line: 2, prefix: "syntax error at line 2: "},
		{name: "bad indentation", data: "name: a\n  model_config: b\n", line: 1, prefix: "syntax error at line 1: "},
		{name: "unknown alias", data: "name: a\nmodel_config: *nope\n", line: 2, prefix: `invalid value at line 2: could not find alias "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.data), FormatYAML, "x.yaml")
			var fe *Error
			if !errors.As(err, &fe) || len(fe.Problems) != 1 {
				t.Fatalf("Parse() error = %v, want an *Error with one problem", err)
			}
			p := fe.Problems[0]
			if p.Line != tt.line {
				t.Errorf("Line = %d, want %d (message %q)", p.Line, tt.line, p.Message)
			}
			if !strings.HasPrefix(p.Message, tt.prefix) {
				t.Errorf("Message = %q, want prefix %q", p.Message, tt.prefix)
			}
		})
	}
}

func TestParseCapsProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: a\nmodel_config: {provider: echo}\n")
	for i := range 60 {
		fmt.Fprintf(&b, "extra%d: x\n", i)
	}
	_, err := Parse([]byte(b.String()), FormatYAML, "many.yaml")
	var fe *Error
	if !errors.As(err, &fe) {
		t.Fatalf("Parse() error = %v, want *Error", err)
	}
	if got, want := len(fe.Problems), 51; got != want {
		t.Fatalf("len(Problems) = %d, want %d", got, want)
	}
	if got, want := fe.Problems[49].Message, `unknown key "extra49" at line 52`; got != want {
		t.Errorf("Problems[49].Message = %q, want %q", got, want)
	}
	if got, want := fe.Problems[50], (Problem{Message: "10 more problems not shown"}); got != want {
		t.Errorf("Problems[50] = %+v, want %+v", got, want)
	}
}

func TestParseUnsupportedFormat(t *testing.T) {
	_, err := Parse([]byte("name: a"), "toml", "a.toml")
	if err == nil || err.Error() != `parse agent file a.toml: unsupported format "toml", want "yaml" or "json"` {
		t.Errorf("Parse() error = %v, want the unsupported format error", err)
	}
}

func TestErrorMessage(t *testing.T) {
	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{
			name: "one problem",
			err:  &Error{File: "a.yaml", Problems: []Problem{{Message: `unknown key "modle" at line 3`}}},
			want: `a.yaml: unknown key "modle" at line 3`,
		},
		{
			name: "several problems, one per line",
			err:  &Error{File: "a.yaml", Problems: []Problem{{Message: "one"}, {Message: "two"}}},
			want: "a.yaml: one\na.yaml: two",
		},
		{
			name: "no file name",
			err:  &Error{Problems: []Problem{{Message: "one"}}},
			want: "one",
		},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	yamlPath := write("agent.yaml", fullYAML)
	ymlPath := write("agent.yml", fullYAML)
	upperPath := write("agent.YAML", fullYAML)
	jsonPath := write("agent.json", fullJSON)
	for _, path := range []string{yamlPath, ymlPath, upperPath, jsonPath} {
		got, err := Load(path)
		if err != nil {
			t.Errorf("Load(%s) error = %v, want nil", path, err)
			continue
		}
		if diff := cmp.Diff(fullFile, got); diff != "" {
			t.Errorf("Load(%s) mismatch (-want +got):\n%s", path, diff)
		}
	}

	// A file exactly at the cap is read; one byte more is refused.
	atCap := write("at-cap.yaml", fullYAML+"#"+strings.Repeat("x", MaxFileSize-len(fullYAML)-2)+"\n")
	if _, err := Load(atCap); err != nil {
		t.Errorf("Load(file of MaxFileSize bytes) error = %v, want nil", err)
	}

	tests := []struct {
		name    string
		path    string
		wantIs  error
		wantMsg string
	}{
		{
			name:    "missing",
			path:    filepath.Join(dir, "nope.yaml"),
			wantIs:  ErrNotFound,
			wantMsg: "agent file not found: " + filepath.Join(dir, "nope.yaml"),
		},
		{
			name:    "directory",
			path:    dir,
			wantMsg: "agent file " + dir + " is a directory",
		},
		{
			name:    "go file",
			path:    write("agent.go", "package main\n"),
			wantIs:  ErrUnsupported,
			wantMsg: "unsupported agent file " + filepath.Join(dir, "agent.go") + ": Go agent files are not supported yet; describe the agent in YAML (.yaml, .yml) or JSON (.json)",
		},
		{
			name:    "other extension",
			path:    write("agent.toml", "name = 'a'\n"),
			wantIs:  ErrUnsupported,
			wantMsg: "unsupported agent file " + filepath.Join(dir, "agent.toml") + ": want a .yaml, .yml or .json file",
		},
		{
			name:    "no extension",
			path:    write("agent", fullYAML),
			wantIs:  ErrUnsupported,
			wantMsg: "unsupported agent file " + filepath.Join(dir, "agent") + ": want a .yaml, .yml or .json file",
		},
		{
			name:    "too large",
			path:    write("big.yaml", strings.Repeat("#", MaxFileSize+1)),
			wantMsg: "agent file " + filepath.Join(dir, "big.yaml") + " is larger than 1048576 bytes",
		},
		{
			name:    "content problems name the path",
			path:    write("bad.yaml", "name: a\nmodle: x\n"),
			wantMsg: filepath.Join(dir, "bad.yaml") + `: unknown key "modle" at line 2`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.path)
			if err == nil {
				t.Fatalf("Load() = %+v, want an error", got)
			}
			if err.Error() != tt.wantMsg {
				t.Errorf("Load() error = %q, want %q", err, tt.wantMsg)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("Load() error = %v, want errors.Is %v", err, tt.wantIs)
			}
		})
	}
}

func TestExamplesLoad(t *testing.T) {
	tests := []struct {
		path string
		want *File
	}{
		{
			path: "../../examples/calculator.yaml",
			want: &File{
				Name: "calculator",
				ModelConfig: ModelConfig{
					Provider:    "openai",
					Model:       "gpt-4o-mini",
					Temperature: ptr(0.0),
				},
				Tools: []ToolRef{{Builtin: "calculate"}, {Builtin: "get_time"}},
			},
		},
		{
			path: "../../examples/echo.yaml",
			want: &File{
				Name:        "echo",
				ModelConfig: ModelConfig{Provider: "echo"},
				Tools:       []ToolRef{{Builtin: "calculate"}, {Builtin: "get_time"}},
			},
		},
		{
			path: "../../examples/shell-tool.yaml",
			want: &File{
				Name:        "shell-tools",
				ModelConfig: ModelConfig{Provider: "echo"},
				Tools: []ToolRef{
					{Builtin: "calculate"},
					{Shell: &ShellTool{
						Name:           "echo_args",
						Description:    "Returns the arguments it is called with, as JSON.",
						Command:        []string{"cat"},
						Parameters:     json.RawMessage(`{"type":"object","properties":{"text":{"type":"string","description":"Any text."}},"required":["text"],"additionalProperties":false}`),
						TimeoutSeconds: 5,
					}},
					{Shell: &ShellTool{
						Name:           "utc_now",
						Description:    "Returns the current date and time in UTC, in ISO 8601 form.",
						Command:        []string{"date", "-u", "+%Y-%m-%dT%H:%M:%SZ"},
						Env:            map[string]string{"LC_ALL": "C"},
						TimeoutSeconds: 5,
					}},
				},
			},
		},
		{
			path: "../../examples/mcp.yaml",
			want: &File{
				Name:        "mcp",
				ModelConfig: ModelConfig{Provider: "echo"},
				Tools:       []ToolRef{{Builtin: "get_time"}},
				MCPServers: []MCPServer{{
					Name:           "everything",
					TransportType:  TransportStdio,
					Command:        "npx",
					Args:           []string{"-y", "@modelcontextprotocol/server-everything"},
					TimeoutSeconds: 120,
				}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			got, err := Load(tt.path)
			if err != nil {
				t.Fatalf("Load() error = %v, want nil", err)
			}
			if got.SystemInstruction == "" {
				t.Error("SystemInstruction is empty, want an instruction")
			}
			got.SystemInstruction = ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestExampleMCPCommentedServer checks that the commented-out server in
// examples/mcp.yaml is valid once uncommented.
func TestExampleMCPCommentedServer(t *testing.T) {
	data, err := os.ReadFile("../../examples/mcp.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "  # - name: remote")
	if i < 0 {
		t.Fatal("examples/mcp.yaml has no commented-out server named remote")
	}
	text = text[:i] + strings.ReplaceAll(text[i:], "  # ", "  ")
	got, err := Parse([]byte(text), FormatYAML, "mcp.yaml")
	if err != nil {
		t.Fatalf("Parse() error = %v, want nil", err)
	}
	want := MCPServer{Name: "remote", TransportType: TransportStreamableHTTP, URL: "http://localhost:3001/mcp", TimeoutSeconds: 30}
	if n := len(got.MCPServers); n != 2 {
		t.Fatalf("len(MCPServers) = %d, want 2", n)
	}
	if diff := cmp.Diff(want, got.MCPServers[1]); diff != "" {
		t.Errorf("MCPServers[1] mismatch (-want +got):\n%s", diff)
	}
}

func FuzzParse(f *testing.F) {
	seeds := []string{
		fullYAML,
		fullJSON,
		"",
		"name: a\n",
		"name: a\nmodel_config:\n  provider: echo\n",
		"name: a\nmodel_config: &x\n  provider: echo\ntools: [*x]\n",
		"<<: {name: a}\nmodel_config: {provider: echo}\n",
		"name: !!str 5\nmodel_config: !!map {provider: echo}\n",
		"- a\n- b\n",
		"name: a\n---\nname: b\n",
		"{\"name\": [1, {\"a\": null}]}",
		"? name\n: a\n",
		"name: |\n  x\n  y\nmax_steps: 0x10\n",
		"model_config:\n  temperature: .inf\n",
		head + "tools:\n  - shell: {name: a, command: [x], parameters: {type: object, a: [1, 0x10, 1e-7, .5]}}\n",
		head + "tools:\n  - http: {name: h, url: 'https://${H}/x', method: post, headers: {A: b}, timeout: 1}\n",
		head + "tools:\n  - builtin: calculate\n    shell: {name: a}\n  - http: {}\n",
		head + "tools:\n  - shell: &s {name: a, command: [x], parameters: &p {type: object}}\n  - shell: *s\n  - http: {name: b, url: 'http://h', parameters: *p}\n",
		head + "tools:\n  - {<<: {builtin: x}}\n  - shell: !!map {name: a}\n  - shell: {name: a, command: [x], parameters: {type: object, b: &x 1, c: *x}}\n",
		head + "mcp_servers:\n  - {name: m, command: npx, args: [-y, pkg], env: &e {A: b}}\n  - {name: n, transport_type: sse, url: 'http://h', headers: {<<: *e}}\n",
		head + "mcp_servers:\n  - {name: m, transport_type: websocket, timeout: 0}\n  - name: m\n",
		`{"name": "a", "model_config": {"provider": "echo"}, "tools": [{"http": {"name": "h", "url": "http://h", "parameters": {"type": "object", "n": 1E400}}}]}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		format := FormatYAML
		if asJSON {
			format = FormatJSON
		}
		got, err := Parse(data, format, "fuzz")
		if err != nil {
			var fe *Error
			if !errors.As(err, &fe) || len(fe.Problems) == 0 {
				t.Fatalf("Parse() error = %T %v, want an *Error with problems", err, err)
			}
			for _, p := range fe.Problems {
				if p.Message == "" {
					t.Fatalf("Parse() problem %+v has no message", p)
				}
			}
			return
		}
		// Whatever parses must satisfy the semantic rules.
		if strings.TrimSpace(got.Name) == "" || strings.TrimSpace(got.ModelConfig.Provider) == "" {
			t.Fatalf("Parse() accepted %+v without a name or provider", got)
		}
		if tp := got.ModelConfig.Temperature; tp != nil && (math.IsNaN(*tp) || *tp < 0 || *tp > 2) {
			t.Fatalf("Parse() accepted temperature %v", *tp)
		}
		if got.MaxSteps < 0 || got.ModelConfig.MaxTokens < 0 {
			t.Fatalf("Parse() accepted negative limits in %+v", got)
		}
		names := map[string]bool{}
		for i, tool := range got.Tools {
			checkFuzzedTool(t, i, tool)
			if names[tool.Name()] {
				t.Fatalf("Parse() accepted tools sharing the name %q", tool.Name())
			}
			names[tool.Name()] = true
		}
		servers := map[string]bool{}
		for _, s := range got.MCPServers {
			if strings.TrimSpace(s.Name) == "" || servers[s.Name] {
				t.Fatalf("Parse() accepted a blank or repeated server name %q", s.Name)
			}
			servers[s.Name] = true
			switch s.Transport() {
			case TransportStdio:
				if strings.TrimSpace(s.Command) == "" {
					t.Fatalf("Parse() accepted stdio server %q without a command", s.Name)
				}
			case TransportStreamableHTTP, TransportSSE:
				if strings.TrimSpace(s.URL) == "" {
					t.Fatalf("Parse() accepted server %q without a url", s.Name)
				}
			default:
				t.Fatalf("Parse() accepted transport %q", s.TransportType)
			}
			checkFuzzedTimeout(t, s.TimeoutSeconds)
		}
	})
}

// checkFuzzedTool fails t unless tool, the i-th tool of a parsed file, is
// one valid kind.
func checkFuzzedTool(t *testing.T, i int, tool ToolRef) {
	t.Helper()
	kinds := 0
	if tool.Builtin != "" {
		kinds++
	}
	var params json.RawMessage
	if s := tool.Shell; s != nil {
		kinds++
		if len(s.Command) == 0 || strings.TrimSpace(s.Command[0]) == "" {
			t.Fatalf("Parse() accepted tools[%d] without a program", i)
		}
		params = s.Parameters
		checkFuzzedTimeout(t, s.TimeoutSeconds)
	}
	if h := tool.HTTP; h != nil {
		kinds++
		if strings.TrimSpace(h.URL) == "" {
			t.Fatalf("Parse() accepted tools[%d] without a url", i)
		}
		params = h.Parameters
		checkFuzzedTimeout(t, h.TimeoutSeconds)
	}
	if kinds != 1 {
		t.Fatalf("Parse() accepted tools[%d] of %d kinds", i, kinds)
	}
	if tool.Shell != nil || tool.HTTP != nil {
		if !toolNamePattern.MatchString(tool.Name()) {
			t.Fatalf("Parse() accepted tool name %q", tool.Name())
		}
	}
	if params == nil {
		return
	}
	var schema map[string]json.RawMessage
	if err := json.Unmarshal(params, &schema); err != nil {
		t.Fatalf("Parse() produced parameters %s that are not a JSON object: %v", params, err)
	}
	if string(schema["type"]) != `"object"` {
		t.Fatalf("Parse() accepted parameters %s whose type is not object", params)
	}
}

func checkFuzzedTimeout(t *testing.T, seconds float64) {
	t.Helper()
	if math.IsNaN(seconds) || seconds < 0 || seconds > maxTimeoutSeconds {
		t.Fatalf("Parse() accepted timeout %v", seconds)
	}
}
