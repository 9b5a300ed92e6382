package mcptool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/omniserve/omniserve/internal/tool"
)

// ErrNotConnected is wrapped by the error of a call to a server that is not
// connected: "mcp server <name> is not connected".
var ErrNotConnected = errors.New("not connected")

// ResultError is the error of a call whose result the server flagged with
// isError. Its text is the server's own, so the model reads it unchanged.
type ResultError struct {
	// Server is the server's configured name.
	Server string
	// Tool is the tool's name on the server.
	Tool string
	// Text is the result's text content.
	Text string
}

// Error returns the server's text.
func (e *ResultError) Error() string {
	if e.Text == "" {
		return fmt.Sprintf("mcp tool %s on server %s reported an error without text", e.Tool, e.Server)
	}
	return e.Text
}

// Tool is one MCP tool as a [tool.Tool]. It holds no session: each call is
// routed through its [Manager] to the server's current session, so a Tool
// stays valid across reconnects.
type Tool struct {
	m           *Manager
	s           *server
	name        string
	remote      string
	description string          // as first listed
	schema      json.RawMessage // as first listed
}

var _ tool.Tool = (*Tool)(nil)

// Name is the exposed name: the server's tool name, or
// "<server>__<tool>" when an earlier server took it.
func (t *Tool) Name() string { return t.name }

// Server is the configured name of the tool's server.
func (t *Tool) Server() string { return t.s.cfg.Name }

// RemoteName is the tool's name on its server.
func (t *Tool) RemoteName() string { return t.remote }

// Kind is [tool.KindMCP].
func (t *Tool) Kind() string { return tool.KindMCP }

// Description is the server's description of the tool, from its latest
// listing.
func (t *Tool) Description() string {
	if ti, ok := t.s.info(t.remote); ok {
		return ti.description
	}
	return t.description
}

// InputSchema is the server's JSON Schema for the tool's arguments, from its
// latest listing.
func (t *Tool) InputSchema() json.RawMessage {
	if ti, ok := t.s.info(t.remote); ok {
		return ti.schema
	}
	return t.schema
}

// Call calls the tool on its server's current session, bounded by the
// server's timeout; cancelling ctx cancels the call on the server. The
// result's text parts, joined by newlines, are returned. A result flagged as
// an error is returned as a *[ResultError]; a server that is not connected
// fails at once with an error wrapping [ErrNotConnected].
func (t *Tool) Call(ctx context.Context, args json.RawMessage) (string, error) {
	s := t.s
	cs := s.current()
	if cs == nil {
		return "", fmt.Errorf("mcp server %s is %w", s.cfg.Name, ErrNotConnected)
	}
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage("{}")
	} else if !json.Valid(args) {
		return "", fmt.Errorf("call %s on mcp server %s: arguments are not valid JSON", t.remote, s.cfg.Name)
	}
	callCtx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	res, err := cs.CallTool(callCtx, &mcp.CallToolParams{Name: t.remote, Arguments: args})
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return "", fmt.Errorf("call %s on mcp server %s: %w", t.remote, s.cfg.Name, context.Cause(ctx))
		case callCtx.Err() != nil:
			return "", fmt.Errorf("call %s on mcp server %s: timed out after %s: %w",
				t.remote, s.cfg.Name, s.callTimeout, context.DeadlineExceeded)
		case transportFailure(err):
			// The session may be gone; let the supervisor find out.
			signal(s.probe)
		}
		return "", s.scrub(fmt.Errorf("call %s on mcp server %s: %w", t.remote, s.cfg.Name, err))
	}
	text := resultText(res)
	if res.IsError {
		return "", &ResultError{Server: s.cfg.Name, Tool: t.remote, Text: text}
	}
	return text, nil
}

// codeRejected is the code of the SDK's internal "rejected by transport"
// error, which it returns when a request did not reach the server or the
// HTTP layer refused it (connection refused, 502, 503, ...).
const codeRejected = -32005

// transportFailure reports whether a call error came from the transport
// rather than from the server's JSON-RPC answer. The SDK wraps the server's
// answer, when there is one, before its own rejection error, so the first
// JSON-RPC error in the chain tells which.
func transportFailure(err error) bool {
	var rpcErr *jsonrpc.Error
	if !errors.As(err, &rpcErr) {
		return true
	}
	return rpcErr.Code == codeRejected
}

// resultText joins the text of a tool result. Text and embedded text
// resources are kept as they are; images, audio and binary resources are
// named in brackets; with no content at all, the structured content is
// returned as JSON.
func resultText(res *mcp.CallToolResult) string {
	parts := make([]string, 0, len(res.Content))
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.EmbeddedResource:
			switch {
			case c.Resource == nil:
			case c.Resource.Text != "":
				parts = append(parts, c.Resource.Text)
			default:
				parts = append(parts, fmt.Sprintf("[resource %s omitted]", c.Resource.URI))
			}
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource link %s]", c.URI))
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[%s image omitted]", c.MIMEType))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[%s audio omitted]", c.MIMEType))
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			return string(b)
		}
	}
	return strings.Join(parts, "\n")
}
