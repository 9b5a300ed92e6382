package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// HealthBody is the body of GET /health.
type HealthBody struct {
	Status    string  `json:"status" example:"healthy"`
	AgentName string  `json:"agent_name"`
	Uptime    float64 `json:"uptime" doc:"Seconds since the server started."`
	Version   string  `json:"version"`
}

// ReadyBody is the body of GET /ready.
type ReadyBody struct {
	Ready        bool   `json:"ready"`
	AgentName    string `json:"agent_name"`
	Initialized  bool   `json:"initialized"`
	MCPConnected bool   `json:"mcp_connected"`
	// MCPServers lists each configured MCP server; absent when there are none.
	MCPServers []MCPServerStatus `json:"mcp_servers,omitempty"`
}

// MCPServerStatus is one MCP server's state in GET /ready.
type MCPServerStatus struct {
	Name      string `json:"name"`
	Connected bool   `json:"connected"`
	Tools     int    `json:"tools"`
	Error     string `json:"error,omitempty"`
}

// ToolInfo describes one tool in GET /tools.
type ToolInfo struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"inputSchema"`
	Type        string          `json:"type" enum:"local,mcp"`
	// Server names the MCP server an "mcp" tool comes from.
	Server string `json:"server,omitempty"`
}

// ToolsBody is the body of GET /tools.
type ToolsBody struct {
	Tools []ToolInfo `json:"tools"`
	Total int        `json:"total"`
}

// MetricsBody is the body of GET /metrics: the agent's cumulative usage.
type MetricsBody struct {
	TotalRequests       int64   `json:"total_requests"`
	TotalRequestTokens  int64   `json:"total_request_tokens"`
	TotalResponseTokens int64   `json:"total_response_tokens"`
	TotalTokens         int64   `json:"total_tokens"`
	TotalTime           float64 `json:"total_time" doc:"Seconds spent in runs."`
	AverageTime         float64 `json:"average_time" doc:"Mean seconds per run."`
}

type bodyOutput[T any] struct {
	Body T
}

type readyOutput struct {
	Status int
	Body   ReadyBody
}

func (a *API) registerCore(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "health", Method: http.MethodGet, Path: "/health",
		Summary: "Liveness: answers while the process serves requests", Metadata: publicMeta(),
	}, func(ctx context.Context, _ *struct{}) (*bodyOutput[HealthBody], error) {
		return &bodyOutput[HealthBody]{Body: HealthBody{
			Status:    "healthy",
			AgentName: a.cfg.Runner.Name(),
			Uptime:    time.Since(a.started).Seconds(),
			Version:   a.cfg.Version,
		}}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "ready", Method: http.MethodGet, Path: "/ready",
		Summary:  "Readiness: 200 once started, 503 before that and while draining",
		Metadata: publicMeta(),
		Responses: map[string]*huma.Response{
			"503": {Description: "Not ready: starting up or shutting down. The body says which part is not ready."},
		},
	}, func(ctx context.Context, _ *struct{}) (*readyOutput, error) {
		mcpConnected := true
		var servers []MCPServerStatus
		if a.cfg.MCPStatusFunc != nil {
			servers = a.cfg.MCPStatusFunc()
			for _, s := range servers {
				mcpConnected = mcpConnected && s.Connected
			}
		}
		ready := a.ready.Load() && !a.draining.Load() && mcpConnected
		out := &readyOutput{Status: http.StatusOK, Body: ReadyBody{
			Ready: ready, AgentName: a.cfg.Runner.Name(), Initialized: a.ready.Load(),
			MCPConnected: mcpConnected, MCPServers: servers,
		}}
		if !ready {
			out.Status = http.StatusServiceUnavailable
		}
		return out, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "tools", Method: http.MethodGet, Path: "/tools",
		Summary: "List the tools the agent can call", Security: bearer,
	}, func(ctx context.Context, _ *struct{}) (*bodyOutput[ToolsBody], error) {
		tools := a.cfg.Runner.Tools().List()
		body := ToolsBody{Tools: make([]ToolInfo, 0, len(tools)), Total: len(tools)}
		for _, t := range tools {
			info := ToolInfo{Name: t.Name(), Description: t.Description(), InputSchema: t.InputSchema(), Type: t.Kind()}
			if s, ok := t.(interface{ Server() string }); ok {
				info.Server = s.Server()
			}
			body.Tools = append(body.Tools, info)
		}
		return &bodyOutput[ToolsBody]{Body: body}, nil
	})

	huma.Register(api, huma.Operation{
		OperationID: "metrics", Method: http.MethodGet, Path: "/metrics",
		Summary: "The agent's cumulative usage", Security: bearer,
	}, func(ctx context.Context, _ *struct{}) (*bodyOutput[MetricsBody], error) {
		m := a.cfg.Runner.Metrics()
		body := MetricsBody{
			TotalRequests:       m.TotalRequests,
			TotalRequestTokens:  m.TotalRequestTokens,
			TotalResponseTokens: m.TotalResponseTokens,
			TotalTokens:         m.TotalTokens,
			TotalTime:           m.TotalTime.Seconds(),
		}
		if m.TotalRequests > 0 {
			body.AverageTime = body.TotalTime / float64(m.TotalRequests)
		}
		return &bodyOutput[MetricsBody]{Body: body}, nil
	})
}

// bearer is the security requirement of protected operations.
var bearer = []map[string][]string{{"bearer": {}}}
