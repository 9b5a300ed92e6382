package cli

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/omniserve/omniserve/internal/config"
)

// healthServer serves path with status and body, and 404 elsewhere.
func healthServer(t *testing.T, path string, status int, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func serverPort(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

const healthyBody = `{"status":"healthy","agent_name":"a","uptime":1.5,"version":"0+unknown"}`

func TestHealthcheck(t *testing.T) {
	tests := []struct {
		name   string
		path   string // where the server answers
		status int
		body   string
		env    func(port string) map[string]string
		useURL bool // pass --url instead of relying on the configuration
		code   int
		want   string // in stdout on success, stderr on failure
	}{
		{
			name: "url healthy", path: "/health", status: 200, body: healthyBody, useURL: true,
			code: ExitOK, want: "healthy: http://127.0.0.1:",
		},
		{
			name: "env port", path: "/health", status: 200, body: healthyBody,
			env:  func(port string) map[string]string { return map[string]string{"OMNICOREAGENT_SERVE_PORT": port} },
			code: ExitOK, want: "/health",
		},
		{
			name: "env port and prefix", path: "/api/v1/health", status: 200, body: healthyBody,
			env: func(port string) map[string]string {
				return map[string]string{"OMNICOREAGENT_SERVE_PORT": port, "OMNICOREAGENT_SERVE_API_PREFIX": "api/v1/"}
			},
			code: ExitOK, want: "/api/v1/health",
		},
		{
			name: "prefix not honoured is a 404", path: "/api/v1/health", status: 200, body: healthyBody,
			env:  func(port string) map[string]string { return map[string]string{"OMNICOREAGENT_SERVE_PORT": port} },
			code: ExitFailure, want: "status 404 Not Found",
		},
		{
			name: "503", path: "/health", status: 503, body: `{"status":"healthy"}`, useURL: true,
			code: ExitFailure, want: "status 503 Service Unavailable",
		},
		{
			name: "not healthy", path: "/health", status: 200, body: `{"status":"starting"}`, useURL: true,
			code: ExitFailure, want: `status "starting", want "healthy"`,
		},
		{
			name: "not JSON", path: "/health", status: 200, body: `OK`, useURL: true,
			code: ExitFailure, want: "body is not JSON",
		},
		{
			// Docker reserves exit status 2, so a broken configuration is
			// unhealthy, not a usage error.
			name: "invalid env", path: "/health", status: 200, body: healthyBody,
			env:  func(string) map[string]string { return map[string]string{"OMNICOREAGENT_SERVE_PORT": "eighty"} },
			code: ExitFailure, want: "Invalid OmniServe config: OMNICOREAGENT_SERVE_PORT must be an integer",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := healthServer(t, tt.path, tt.status, tt.body)
			args := []string{"healthcheck"}
			if tt.useURL {
				args = append(args, "--url", srv.URL+tt.path)
			}
			var env map[string]string
			if tt.env != nil {
				env = tt.env(serverPort(t, srv))
			}
			r := runCLI(t, env, neverServe(t), args...)
			if r.code != tt.code {
				t.Errorf("code = %d, want %d; stderr %q", r.code, tt.code, r.stderr)
			}
			got := r.stdout
			if tt.code != ExitOK {
				got = r.stderr
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("output = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestHealthcheckConnectionRefused(t *testing.T) {
	port := freePort(t) // closed again: nothing listens there
	r := runCLI(t, map[string]string{"OMNICOREAGENT_SERVE_PORT": strconv.Itoa(port)}, neverServe(t), "healthcheck")
	if r.code != ExitFailure {
		t.Errorf("code = %d, want %d", r.code, ExitFailure)
	}
	if !strings.Contains(r.stderr, "connection refused") {
		t.Errorf("stderr = %q, want a refused connection", r.stderr)
	}
}

func TestHealthcheckTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first, so Close never waits on the handler
	r := runCLI(t, nil, neverServe(t), "healthcheck", "--url", srv.URL+"/health", "--timeout", "50ms")
	if r.code != ExitFailure {
		t.Errorf("code = %d, want %d", r.code, ExitFailure)
	}
	if !strings.Contains(r.stderr, "no answer within 50ms") {
		t.Errorf("stderr = %q, want a timeout", r.stderr)
	}
}

func TestHealthcheckBadInvocationExitsOne(t *testing.T) {
	for _, args := range [][]string{
		{"healthcheck", "--bogus"},
		{"healthcheck", "--timeout", "soon"},
		{"healthcheck", "--timeout", "0s"},
		{"healthcheck", "extra"},
		{"healthcheck", "--url", "://nope"},
	} {
		r := runCLI(t, nil, neverServe(t), args...)
		if r.code != ExitFailure {
			t.Errorf("%v: code = %d, want %d (Docker reserves 2); stderr %q", args, r.code, ExitFailure, r.stderr)
		}
	}
}

// TestHealthcheckAgainstServer checks the real server, found through the
// same variable that set its port.
func TestHealthcheckAgainstServer(t *testing.T) {
	port := freePort(t)
	env := map[string]string{"OMNICOREAGENT_SERVE_PORT": strconv.Itoa(port), "OMNICOREAGENT_SERVE_HOST": "127.0.0.1"}
	var hc result
	r := runCLI(t, env, serveAndCall(t, func(string) {
		hc = runCLI(t, env, nil, "healthcheck")
	}), "quickstart", "--provider", "echo")
	if r.code != ExitOK {
		t.Fatalf("quickstart: code %d, stderr %s", r.code, r.stderr)
	}
	if hc.code != ExitOK {
		t.Errorf("healthcheck: code %d, stderr %q", hc.code, hc.stderr)
	}
}

func TestHealthURL(t *testing.T) {
	tests := []struct {
		host, prefix string
		port         int
		want         string
	}{
		{"0.0.0.0", "", 8000, "http://127.0.0.1:8000/health"},
		{"::", "/api/v1", 9000, "http://127.0.0.1:9000/api/v1/health"},
		{"", "", 8000, "http://127.0.0.1:8000/health"},
		{"localhost", "", 8000, "http://127.0.0.1:8000/health"},
		{"127.0.0.1", "", 8001, "http://127.0.0.1:8001/health"},
		{"::1", "", 8000, "http://[::1]:8000/health"},
		{"10.1.2.3", "/p", 80, "http://10.1.2.3:80/p/health"},
	}
	for _, tt := range tests {
		cfg := config.Default()
		cfg.Host, cfg.APIPrefix, cfg.Port = tt.host, tt.prefix, tt.port
		if got := healthURL(cfg); got != tt.want {
			t.Errorf("healthURL(host %q, prefix %q, port %d) = %q, want %q", tt.host, tt.prefix, tt.port, got, tt.want)
		}
	}
}
