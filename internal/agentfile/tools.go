package agentfile

import (
	"encoding/json"
	"math"
	"time"
)

// ToolRef is one entry of [File.Tools]. Exactly one of its fields is set:
// the entry names a built-in tool, describes a shell tool or describes an
// HTTP tool.
type ToolRef struct {
	// Builtin names a built-in tool, such as "calculate"; the name is also
	// the tool's name.
	Builtin string `yaml:"builtin,omitempty" json:"builtin,omitempty"`
	// Shell describes a tool that runs a program per call.
	Shell *ShellTool `yaml:"shell,omitempty" json:"shell,omitempty"`
	// HTTP describes a tool that sends an HTTP request per call.
	HTTP *HTTPTool `yaml:"http,omitempty" json:"http,omitempty"`
}

// Name returns the name the tool is registered under: the built-in's name,
// or the Name of the shell or HTTP tool.
func (r ToolRef) Name() string {
	switch {
	case r.Shell != nil:
		return r.Shell.Name
	case r.HTTP != nil:
		return r.HTTP.Name
	}
	return r.Builtin
}

// ShellTool describes a tool that runs a program once per call, with the
// call's arguments written to its standard input as one line of JSON. It
// mirrors the shell tool package's Config.
type ShellTool struct {
	// Name is the tool's name: 1 to 64 letters, digits, underscores or
	// hyphens, unique among the file's tools. Required.
	Name string `yaml:"name" json:"name"`
	// Description tells the model what the tool does.
	Description string `yaml:"description" json:"description"`
	// Command is the program and its arguments, run directly, without a
	// shell. Required, with a non-blank program.
	Command []string `yaml:"command" json:"command"`
	// Parameters is the JSON Schema of the arguments object, converted from
	// YAML when the file is YAML. When set, its top-level "type" is
	// "object". Empty means an object with no declared properties.
	Parameters json.RawMessage `yaml:"parameters" json:"parameters,omitempty"`
	// TimeoutSeconds bounds one call, in seconds; when set it is greater
	// than 0. Zero leaves the default to the tool; see [ShellTool.Timeout].
	TimeoutSeconds float64 `yaml:"timeout" json:"timeout"`
	// Env adds variables to the program's environment. Values are kept as
	// written: ${VAR} references are not expanded here.
	Env map[string]string `yaml:"env" json:"env"`
	// Workdir is the program's working directory; empty means the server's.
	Workdir string `yaml:"workdir" json:"workdir"`
}

// Timeout returns TimeoutSeconds as a duration, 0 when unset.
func (s *ShellTool) Timeout() time.Duration { return seconds(s.TimeoutSeconds) }

// HTTPTool describes a tool that sends one HTTP request per call: the
// arguments go in the query string of a GET or DELETE and in the JSON body
// otherwise. It mirrors the HTTP tool package's Config.
type HTTPTool struct {
	// Name is the tool's name: 1 to 64 letters, digits, underscores or
	// hyphens, unique among the file's tools. Required.
	Name string `yaml:"name" json:"name"`
	// Description tells the model what the tool does.
	Description string `yaml:"description" json:"description"`
	// URL is the endpoint, an absolute http or https URL. It may hold
	// ${VAR} references, which are kept as written. Required.
	URL string `yaml:"url" json:"url"`
	// Method is GET, POST, PUT, PATCH or DELETE, in any case; empty means
	// GET.
	Method string `yaml:"method" json:"method"`
	// Headers are sent with every request. Values are kept as written:
	// ${VAR} references are not expanded here.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// Parameters is the JSON Schema of the arguments object, as for
	// [ShellTool.Parameters].
	Parameters json.RawMessage `yaml:"parameters" json:"parameters,omitempty"`
	// TimeoutSeconds bounds one call, in seconds; when set it is greater
	// than 0. Zero leaves the default to the tool; see [HTTPTool.Timeout].
	TimeoutSeconds float64 `yaml:"timeout" json:"timeout"`
	// AllowPrivate lets the tool reach link-local and cloud metadata
	// addresses, which are refused by default.
	AllowPrivate bool `yaml:"allow_private" json:"allow_private"`
}

// Timeout returns TimeoutSeconds as a duration, 0 when unset.
func (h *HTTPTool) Timeout() time.Duration { return seconds(h.TimeoutSeconds) }

// Transport types of [MCPServer.TransportType].
const (
	TransportStdio          = "stdio"
	TransportStreamableHTTP = "streamable_http"
	TransportSSE            = "sse"
)

// MCPServer describes one MCP server whose tools the agent may call. It
// mirrors the MCP tool package's ServerConfig.
type MCPServer struct {
	// Name identifies the server; unique among the file's servers.
	// Required.
	Name string `yaml:"name" json:"name"`
	// TransportType is [TransportStdio], [TransportStreamableHTTP] or
	// [TransportSSE]. Empty means streamable_http when URL is set and
	// Command is not, else stdio; the field is kept as written.
	TransportType string `yaml:"transport_type" json:"transport_type"`
	// Command is the program started for a stdio server. Required for
	// stdio.
	Command string `yaml:"command" json:"command"`
	// Args are the program's arguments.
	Args []string `yaml:"args" json:"args"`
	// Env adds variables to a stdio server's environment. Values are kept
	// as written: ${VAR} references are not expanded here.
	Env map[string]string `yaml:"env" json:"env"`
	// URL is the endpoint of a streamable_http or sse server, an absolute
	// http or https URL that may hold ${VAR} references. Required for those
	// transports.
	URL string `yaml:"url" json:"url"`
	// Headers are sent with every request to an HTTP server. Values are
	// kept as written: ${VAR} references are not expanded here.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// TimeoutSeconds bounds each call to the server and each connect
	// attempt, in seconds; when set it is greater than 0. Zero leaves the
	// default to the MCP client; see [MCPServer.Timeout].
	TimeoutSeconds float64 `yaml:"timeout" json:"timeout"`
}

// Timeout returns TimeoutSeconds as a duration, 0 when unset.
func (m *MCPServer) Timeout() time.Duration { return seconds(m.TimeoutSeconds) }

// Transport returns the effective transport type: TransportType, or the
// one implied by URL and Command when it is empty.
func (m *MCPServer) Transport() string {
	switch {
	case m.TransportType != "":
		return m.TransportType
	case m.URL != "" && m.Command == "":
		return TransportStreamableHTTP
	}
	return TransportStdio
}

// maxTimeoutSeconds is the longest timeout a [time.Duration] holds.
const maxTimeoutSeconds = float64(math.MaxInt64) / float64(time.Second)

// seconds converts a validated timeout to a duration, rounding up so that a
// tiny positive timeout does not become 0, which means the default.
func seconds(s float64) time.Duration {
	if !(s > 0) {
		return 0
	}
	if s >= maxTimeoutSeconds {
		return math.MaxInt64
	}
	return time.Duration(math.Ceil(s * float64(time.Second)))
}
