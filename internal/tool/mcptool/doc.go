// Package mcptool exposes the tools of MCP (Model Context Protocol) servers as
// [tool.Tool] values, using the official MCP Go SDK as the client.
//
// A [Manager] owns one client session per configured server, over stdio (a
// child process), streamable HTTP or the older HTTP+SSE transport. Start
// connects to every server concurrently and lists its tools; a server that is
// down does not fail Start: its error is shown by [Manager.Status] and the
// manager keeps retrying in the background with exponential backoff.
//
// # Lost sessions
//
// A session counts as lost when the SDK reports it closed (a stdio server
// exited, an SSE stream broke), when a periodic ping fails, or when a tool
// call fails at the transport level and the ping that follows also fails.
// The server is then marked disconnected at once, its session is closed and
// a background loop reconnects with backoff,
// reporting each attempt through [ManagerConfig.OnEventFunc] as an
// [EventReconnect]. After a reconnect the server's tool list is listed again.
// Calls to a disconnected server fail fast with an error wrapping
// [ErrNotConnected].
//
// # Tool names
//
// The tools returned by [Manager.Tools] are resolved by name at call time, so
// they stay valid across reconnects. Names are handed out once and never
// change for the life of the manager:
//
//   - At Start, servers are taken in configuration order. The first server
//     that declares a tool name keeps it; a later server's tool with the same
//     name is exposed as "<server>__<tool>" (two underscores), for example
//     "github__search". If that name is taken too, the tool is not exposed
//     and a warning is logged.
//   - A server that first connects after Start, or whose list grows later,
//     gets names by the same rule, checked against the names already handed
//     out; an exposed name is never moved to another server.
//   - A tool that disappears from its server's list keeps its name; calling
//     it returns the server's own error.
//
// The description and input schema of a tool come from the server's latest
// listing.
//
// # Stdio servers
//
// A stdio server is started in a process group of its own (on Unix) with a
// small inherited environment plus its configured Env. Stopping it closes
// its stdin, waits up to 5s, sends SIGTERM to the group, waits up to 5s
// more, then kills the group, so that a launcher such as npx leaves nothing
// behind.
package mcptool
