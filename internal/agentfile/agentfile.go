// Package agentfile reads agent definition files, the declarative form of an
// agent that `omniserve run --agent FILE` serves: a name, a system
// instruction, the model to call and the tools it may use.
//
// Files are YAML (.yaml, .yml) or JSON (.json). Decoding is strict: an
// unknown key or a value of the wrong type is an error that names the key and
// its line, and every such problem in a file is reported at once, as are the
// semantic problems found after decoding.
//
// Each entry of tools is one of three kinds, told apart by its only key:
//
//	tools:
//	  - builtin: calculate
//	  - shell:
//	      name: utc_now
//	      command: [date, -u, "+%Y-%m-%dT%H:%M:%SZ"]
//	  - http:
//	      name: weather
//	      url: https://api.example.com/weather
//	      headers: {Authorization: "Bearer ${WEATHER_TOKEN}"}
//	      parameters:
//	        type: object
//	        properties: {city: {type: string}}
//	mcp_servers:
//	  - name: everything
//	    transport_type: stdio
//	    command: npx
//	    args: [-y, "@modelcontextprotocol/server-everything"]
//
// A parameters value is a JSON Schema written in YAML or JSON; it is handed
// on as JSON, with its keys in file order. Anchors, aliases, tags and merge
// keys may not be used inside it. Elsewhere, anchors and aliases work as in
// YAML (an anchor name may be defined once), tags only on scalars, and
// merge keys only in the mappings that cannot hold a parameters value
// (model_config, mcp_servers entries, env and headers). ${VAR}
// references in urls, headers and env values are kept as written, for
// whoever builds the tools to expand.
package agentfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// File is one agent definition.
//
// New keys are added as fields with yaml and json tags; the strict decoder
// picks them up without further changes, except that a [json.RawMessage]
// field is filled from the converted value in the checker's fillRaw.
type File struct {
	// Name identifies the agent; required.
	Name string `yaml:"name" json:"name"`
	// SystemInstruction is the system prompt.
	SystemInstruction string `yaml:"system_instruction" json:"system_instruction"`
	// ModelConfig says which model the agent calls; required.
	ModelConfig ModelConfig `yaml:"model_config" json:"model_config"`
	// Tools lists the tools the agent may call, in order. Tool names are
	// unique across the list.
	Tools []ToolRef `yaml:"tools" json:"tools"`
	// MCPServers lists the MCP servers whose tools the agent may also call.
	MCPServers []MCPServer `yaml:"mcp_servers" json:"mcp_servers"`
	// MaxSteps caps the model calls of one run; 0 means the agent's default.
	MaxSteps int `yaml:"max_steps" json:"max_steps"`
}

// ModelConfig names a provider and model and tunes how they are called.
type ModelConfig struct {
	// Provider is the model provider, such as "openai" or "echo"; required.
	Provider string `yaml:"provider" json:"provider"`
	// Model is the provider's model name; required unless Provider is
	// "echo".
	Model string `yaml:"model" json:"model"`
	// BaseURL points an OpenAI-compatible provider at another endpoint,
	// such as a local Ollama or vLLM server.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// Temperature is the sampling temperature, 0 to 2; nil leaves it to the
	// provider.
	Temperature *float64 `yaml:"temperature" json:"temperature"`
	// MaxTokens caps the tokens of one response; 0 leaves it to the
	// provider.
	MaxTokens int `yaml:"max_tokens" json:"max_tokens"`
	// APIKeyEnv names the environment variable holding the API key; empty
	// means LLM_API_KEY.
	APIKeyEnv string `yaml:"api_key_env" json:"api_key_env"`
}

// Formats accepted by [Parse].
const (
	FormatYAML = "yaml"
	FormatJSON = "json"
)

// MaxFileSize is the largest agent file [Load] reads.
const MaxFileSize = 1 << 20

// Errors [Load] returns, wrapped with the path.
var (
	// ErrNotFound means the agent file does not exist.
	ErrNotFound = errors.New("agent file not found")
	// ErrUnsupported means the file's extension is not one Load reads.
	ErrUnsupported = errors.New("unsupported agent file")
)

// Problem is one thing wrong with an agent file.
type Problem struct {
	// Key is the dotted path of the key concerned, such as
	// "model_config.temperature" or "tools[1].builtin"; empty when the
	// problem concerns the whole file.
	Key string
	// Line is the 1-based line the problem is on; 0 when it has none, as
	// for a missing key.
	Line int
	// Message describes the problem, naming the key and line.
	Message string
}

// Error reports every problem found in one agent file.
type Error struct {
	// File is the name given to [Parse], usually the path.
	File string
	// Problems is never empty. After the first 50, one last entry counts
	// the rest.
	Problems []Problem
}

// Error lists the problems one per line, each prefixed with the file name.
func (e *Error) Error() string {
	var b strings.Builder
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		if e.File != "" {
			b.WriteString(e.File)
			b.WriteString(": ")
		}
		b.WriteString(p.Message)
	}
	return b.String()
}

// Load reads and parses the agent file at path. The extension decides the
// format: .yaml and .yml are YAML, .json is JSON. Go agent files and other
// extensions are refused with [ErrUnsupported]; a missing file is
// [ErrNotFound]; a file larger than [MaxFileSize] is refused unread.
// Problems with the content are reported as an [*Error].
func Load(path string) (*File, error) {
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("read agent file: %w", err)
	}
	if info.IsDir() {
		return nil, fmt.Errorf("agent file %s is a directory", path)
	}
	format, err := formatOf(path)
	if err != nil {
		return nil, err
	}
	if info.Size() > MaxFileSize {
		return nil, fmt.Errorf("agent file %s is larger than %d bytes", path, MaxFileSize)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read agent file: %w", err)
	}
	defer f.Close()
	// The size may change between Stat and Read, so the cap is enforced
	// again on what is actually read.
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read agent file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("agent file %s is larger than %d bytes", path, MaxFileSize)
	}
	return Parse(data, format, path)
}

// formatOf picks the format from path's extension.
func formatOf(path string) (string, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".yaml", ".yml":
		return FormatYAML, nil
	case ".json":
		return FormatJSON, nil
	case ".go":
		return "", fmt.Errorf("%w %s: Go agent files are not supported yet; describe the agent in YAML (.yaml, .yml) or JSON (.json)", ErrUnsupported, path)
	default:
		return "", fmt.Errorf("%w %s: want a .yaml, .yml or .json file", ErrUnsupported, path)
	}
}

// Parse decodes and validates an agent file held in data. format is
// [FormatYAML] or [FormatJSON]; name labels error messages, usually with the
// file's path. Problems with the content are reported as an [*Error] listing
// all of them.
func Parse(data []byte, format string, name string) (*File, error) {
	switch format {
	case FormatYAML:
	case FormatJSON:
		// The YAML parser reads JSON too, but also accepts YAML that is not
		// JSON; check the stricter grammar first.
		if p, ok := checkJSON(data); !ok {
			return nil, &Error{File: name, Problems: []Problem{p}}
		}
	default:
		return nil, fmt.Errorf("parse agent file %s: unsupported format %q, want %q or %q", name, format, FormatYAML, FormatJSON)
	}
	f, problems := decode(data)
	if len(problems) > 0 {
		if n := len(problems) - maxProblems; n > 0 {
			problems = append(problems[:maxProblems:maxProblems], Problem{Message: fmt.Sprintf("%d more problems not shown", n)})
		}
		return nil, &Error{File: name, Problems: problems}
	}
	return f, nil
}

// maxProblems bounds the problems one [Error] lists, so that a badly broken
// file still gets a readable message.
const maxProblems = 50

// checkJSON reports whether data is valid JSON and, if not, where it breaks.
func checkJSON(data []byte) (Problem, bool) {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	if err == nil {
		return Problem{}, true
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(data[:min(int(se.Offset), len(data))], []byte("\n"))
		return Problem{Line: line, Message: fmt.Sprintf("invalid JSON at line %d: %v", line, se)}, false
	}
	return Problem{Message: fmt.Sprintf("invalid JSON: %v", err)}, false
}
