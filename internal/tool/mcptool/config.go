package mcptool

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// Transport types accepted in [ServerConfig.TransportType].
const (
	TransportStdio          = "stdio"
	TransportStreamableHTTP = "streamable_http"
	TransportSSE            = "sse"
)

// Defaults applied to zero configuration values.
const (
	DefaultTimeout             = 30 * time.Second
	DefaultConnectTimeout      = 30 * time.Second
	DefaultReconnectBackoffMin = time.Second
	DefaultReconnectBackoffMax = 30 * time.Second
	DefaultPingInterval        = 30 * time.Second
)

// ServerConfig describes one MCP server. Field names mirror the agent-file
// keys name, transport_type, command, args, env, url, headers and timeout.
type ServerConfig struct {
	// Name identifies the server in status, events, errors and prefixed tool
	// names. Required, and unique within a [Manager].
	Name string

	// TransportType is TransportStdio, TransportStreamableHTTP or
	// TransportSSE. Defaults to TransportStreamableHTTP when URL is set and
	// Command is not, else to TransportStdio.
	TransportType string

	// Command is the executable started for a stdio server; it is looked up
	// in PATH when it has no path separator. Required for stdio.
	Command string

	// Args are the command's arguments. Defaults to none.
	Args []string

	// Env holds extra environment variables for a stdio server, on top of a
	// small safe base (see [ManagerConfig.LookupEnvFunc]); they win over the
	// base. Values may be secrets: they never appear in errors or logs.
	// Defaults to none.
	Env map[string]string

	// URL is the endpoint of an HTTP server: an absolute http or https URL.
	// Required for streamable_http and sse.
	URL string

	// Headers are added to every HTTP request to the server, unless the
	// request already carries that header. Values may be secrets: they never
	// appear in errors or logs. Defaults to none.
	Headers map[string]string

	// Timeout bounds each tool call to the server, and each connect attempt
	// (connect, initialize and tool listing). Defaults to 30s for calls;
	// when zero, connect attempts are bounded by
	// [ManagerConfig.ConnectTimeout] instead.
	Timeout time.Duration
}

// transport returns the effective transport type.
func (c *ServerConfig) transport() string {
	if c.TransportType != "" {
		return c.TransportType
	}
	if c.URL != "" && c.Command == "" {
		return TransportStreamableHTTP
	}
	return TransportStdio
}

// Validate reports the first problem with c, naming the offending field.
// Uniqueness of Name is checked by [NewManager].
func (c *ServerConfig) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name must not be empty")
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	switch c.transport() {
	case TransportStdio:
		if c.Command == "" {
			return errors.New("command is required for transport_type stdio")
		}
		for k := range c.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				return fmt.Errorf("env: invalid variable name %q", k)
			}
		}
	case TransportStreamableHTTP, TransportSSE:
		if c.URL == "" {
			return fmt.Errorf("url is required for transport_type %s", c.transport())
		}
		// The URL is not echoed: its query may carry a token.
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return errors.New("url must be an absolute http or https URL")
		}
		for k, v := range c.Headers {
			if !validHeaderName(k) {
				return fmt.Errorf("headers: invalid header name %q", k)
			}
			if strings.ContainsAny(v, "\r\n\x00") {
				return fmt.Errorf("headers: value of %q contains a control character", k)
			}
		}
	default:
		return fmt.Errorf("transport_type %q is not one of %s, %s, %s",
			c.TransportType, TransportStdio, TransportStreamableHTTP, TransportSSE)
	}
	return nil
}

// validHeaderName reports whether name is an RFC 9110 token.
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}

// Event types reported through [ManagerConfig.OnEventFunc].
const (
	// EventConnected: a server's session is up and its tools are listed.
	EventConnected = "mcp_connected"
	// EventDisconnected: a connected server's session was lost.
	EventDisconnected = "mcp_disconnected"
	// EventReconnect: one reconnect attempt finished; Error is empty when
	// it succeeded.
	EventReconnect = "mcp_reconnect"
)

// Event reports a change in a server's connection.
type Event struct {
	// Type is EventConnected, EventDisconnected or EventReconnect.
	Type string
	// Server is the server's configured name.
	Server string
	// Attempt counts reconnect attempts since the server was last connected,
	// starting at 1; it is 0 for the connect made by Start.
	Attempt int
	// Error is the reason for a failed attempt or a lost session.
	Error string
}

// ManagerConfig configures a [Manager].
type ManagerConfig struct {
	// Servers are the MCP servers, in priority order for tool names (see the
	// package documentation). Defaults to none.
	Servers []ServerConfig

	// ConnectTimeout bounds a connect attempt (connect, initialize and tool
	// listing) to a server whose Timeout is zero. Defaults to 30s.
	ConnectTimeout time.Duration

	// ReconnectBackoffMin is the wait before the first reconnect attempt; it
	// doubles with each failed attempt. Defaults to 1s.
	ReconnectBackoffMin time.Duration

	// ReconnectBackoffMax caps the wait between reconnect attempts. Defaults
	// to 30s.
	ReconnectBackoffMax time.Duration

	// PingInterval is how often a connected server is pinged, so that a
	// server gone away is noticed while idle. Defaults to 30s; a negative
	// value disables pings.
	PingInterval time.Duration

	// OnEventFunc, if set, is called for every [Event], from the manager's
	// background goroutines, possibly concurrently; it should return quickly.
	// Defaults to nil, meaning no hook.
	OnEventFunc func(Event)

	// LookupEnvFunc reads the manager's own environment; only HOME, LOGNAME,
	// PATH, SHELL, TERM, TMPDIR and USER (plus a few Windows equivalents) are
	// passed on to stdio servers, so the process's secrets are not.
	// Defaults to [os.LookupEnv].
	LookupEnvFunc func(key string) (string, bool)

	// Logger receives connection logs and, at debug level, the stderr lines
	// of stdio servers. Defaults to nil, meaning discard.
	Logger *slog.Logger
}

// withDefaults returns c with zero values replaced by defaults.
func (c ManagerConfig) withDefaults() ManagerConfig {
	c.ConnectTimeout = cmp.Or(c.ConnectTimeout, DefaultConnectTimeout)
	c.ReconnectBackoffMin = cmp.Or(c.ReconnectBackoffMin, DefaultReconnectBackoffMin)
	c.ReconnectBackoffMax = cmp.Or(c.ReconnectBackoffMax, DefaultReconnectBackoffMax)
	c.PingInterval = cmp.Or(c.PingInterval, DefaultPingInterval)
	if c.LookupEnvFunc == nil {
		c.LookupEnvFunc = os.LookupEnv
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// validate checks c after defaults are applied.
func (c *ManagerConfig) validate() error {
	if c.ConnectTimeout < 0 {
		return errors.New("connect timeout must not be negative")
	}
	if c.ReconnectBackoffMin < 0 {
		return errors.New("reconnect backoff min must not be negative")
	}
	if c.ReconnectBackoffMax < c.ReconnectBackoffMin {
		return errors.New("reconnect backoff max must not be less than reconnect backoff min")
	}
	seen := make(map[string]bool, len(c.Servers))
	for i := range c.Servers {
		s := &c.Servers[i]
		if err := s.Validate(); err != nil {
			if s.Name != "" {
				return fmt.Errorf("mcp server %d (%s): %w", i, s.Name, err)
			}
			return fmt.Errorf("mcp server %d: %w", i, err)
		}
		if seen[s.Name] {
			return fmt.Errorf("mcp server %d: name %q is used by another server", i, s.Name)
		}
		seen[s.Name] = true
	}
	return nil
}
