package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/tool"
	"github.com/omniserve/omniserve/internal/tool/mcptool"
)

// SystemSessionID is the event-log session of server-level events such as
// MCP reconnects, which belong to no conversation.
const SystemSessionID = "omniserve:system"

// startMCP connects the MCP servers and registers their tools. Tools of a
// server that connects later (it was down at startup) are registered when
// it connects; names already taken are kept by their first owner.
func startMCP(ctx context.Context, servers []mcptool.ServerConfig, tools *tool.Registry, events telemetry.Store, lookup func(string) (string, bool), logger *slog.Logger) (*mcptool.Manager, error) {
	var mgr *mcptool.Manager
	register := func() {
		for _, t := range mgr.Tools() {
			if err := tools.Add(t); err != nil && !errors.Is(err, tool.ErrDuplicate) {
				logger.Warn("register mcp tool", slog.String("tool", t.Name()), slog.String("error", err.Error()))
			}
		}
	}
	mgr, err := mcptool.NewManager(mcptool.ManagerConfig{
		Servers:       servers,
		LookupEnvFunc: lookup,
		Logger:        logger.With(slog.String("component", "mcp")),
		OnEventFunc: func(e mcptool.Event) {
			if e.Type == mcptool.EventConnected && mgr != nil {
				register()
			}
			ev := &telemetry.Event{
				EventType: e.Type,
				SessionID: SystemSessionID,
				TraceID:   "trace_mcp_" + e.Server,
				Actor:     telemetry.Actor{Type: "mcp_server", Name: e.Server},
				Output:    telemetry.JSON(map[string]any{"server": e.Server, "attempt": e.Attempt}),
				Metadata:  map[string]any{"session_id": SystemSessionID, "experimental": e.Type != "mcp_reconnect"},
			}
			if e.Error != "" {
				ev.Error = &telemetry.EventError{Type: "mcp_error", Message: e.Error, Retryable: true}
			}
			if err := events.EventAppend(context.WithoutCancel(ctx), ev); err != nil {
				logger.Warn("record mcp event", slog.String("error", err.Error()))
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("mcp_servers: %w", err)
	}
	if err := mgr.Start(ctx); err != nil {
		return nil, fmt.Errorf("mcp_servers: %w", err)
	}
	register()
	return mgr, nil
}
