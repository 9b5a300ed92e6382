package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/agent"
)

func TestCORSPreflightBeforeAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.AuthToken = "tok"
		c.CORS = CORSConfig{Enabled: true, Origins: []string{"*"}, Credentials: true}
	})
	resp, _ := b.do(t, http.MethodOptions, "/run/sync", "",
		"Origin", "https://app.example", "Access-Control-Request-Method", "POST", "Access-Control-Request-Headers", "authorization,content-type")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("preflight status = %d, want 200", resp.StatusCode)
	}
	// "*" with credentials must echo the origin: browsers refuse a literal *.
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Errorf("allow-origin = %q", got)
	}
	if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
		t.Errorf("allow-credentials = %q", got)
	}
}

func TestCORSOriginList(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.CORS = CORSConfig{Enabled: true, Origins: []string{"https://ok.example"}}
	})
	resp, _ := b.do(t, http.MethodGet, "/health", "", "Origin", "https://ok.example")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://ok.example" {
		t.Errorf("allowed origin: header = %q", got)
	}
	resp, _ = b.do(t, http.MethodGet, "/health", "", "Origin", "https://evil.example")
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin: header = %q, want none", got)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.AuthToken = "tok"
		c.RateLimit = 2
		c.RateLimitWindow = time.Hour
	})
	// Unauthenticated requests use quota and carry the headers on their 401.
	resp, _ := b.do(t, http.MethodGet, "/tools", "")
	if resp.StatusCode != 401 || resp.Header.Get("X-RateLimit-Limit") != "2" || resp.Header.Get("X-RateLimit-Remaining") != "1" {
		t.Errorf("first: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = b.do(t, http.MethodGet, "/tools", "", "Authorization", "Bearer tok")
	if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("second: %d %v", resp.StatusCode, resp.Header)
	}
	reset, err := strconv.ParseInt(resp.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err != nil || reset <= time.Now().Unix() {
		t.Errorf("reset = %q, want a future epoch second", resp.Header.Get("X-RateLimit-Reset"))
	}
	resp, body := b.do(t, http.MethodGet, "/tools", "", "Authorization", "Bearer tok")
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third: status %d", resp.StatusCode)
	}
	if resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("429 headers = %v", resp.Header)
	}
	got := decode[map[string]any](t, body)
	if got["error"] != "TooManyRequests" || got["message"] != "Rate limit exceeded. Max 2 requests per 3600 seconds." {
		t.Errorf("429 body = %s", body)
	}
	if ra, ok := got["retry_after"].(float64); !ok || ra < 1 {
		t.Errorf("retry_after = %v", got["retry_after"])
	}
	// Public paths are exempt and carry no rate-limit headers.
	for _, p := range []string{"/health", "/ready", "/prometheus", "/openapi.json"} {
		resp, _ := b.do(t, http.MethodGet, p, "")
		if resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Limit") != "" {
			t.Errorf("%s: %d, headers %v", p, resp.StatusCode, resp.Header)
		}
	}
}

func TestClientKeyTrustsOnlyConfiguredProxies(t *testing.T) {
	t.Parallel()
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff, realIP, want string
	}{
		{"untrusted peer ignores XFF", "203.0.113.5:1234", "1.2.3.4", "", "203.0.113.5"},
		{"trusted proxy XFF first entry", "10.1.2.3:1234", "198.51.100.7, 10.1.2.3", "", "198.51.100.7"},
		{"trusted proxy X-Real-IP", "10.1.2.3:1234", "", "198.51.100.8", "198.51.100.8"},
		{"trusted proxy garbage XFF", "10.1.2.3:1234", "not-an-ip", "", "10.1.2.3"},
		{"ipv4-mapped peer", "[::ffff:203.0.113.9]:1", "", "", "203.0.113.9"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if tt.realIP != "" {
			r.Header.Set("X-Real-IP", tt.realIP)
		}
		if got := clientKey(r, trusted); got != tt.want {
			t.Errorf("%s: key = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestRateLimiterBoundedMemory(t *testing.T) {
	t.Parallel()
	l := newRateLimiter(1, time.Minute, 10)
	now := time.Unix(1_000_000_020, 0)
	l.now = func() time.Time { return now }
	for i := range 1000 {
		l.allow("client-" + strconv.Itoa(i))
	}
	if len(l.counts) > 11 {
		t.Errorf("table holds %d clients, want at most cap+1", len(l.counts))
	}
	// Clients past the cap share one bucket, so they are limited too.
	if ok, _, _ := l.allow("yet-another"); ok {
		t.Error("an overflow client escaped the limit")
	}
	// The next window starts empty.
	now = now.Add(time.Minute)
	if ok, _, _ := l.allow("client-1"); !ok || len(l.counts) != 1 {
		t.Errorf("new window: ok=%v size=%d", ok, len(l.counts))
	}
}

func TestAdmissionControl(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.MaxConcurrentRuns = 1
		c.RunAdmissionWait = 20 * time.Millisecond
	})
	started := make(chan struct{}, 4)
	release := make(chan struct{})
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		started <- struct{}{}
		<-release
		return b.runner.Runner.Run(ctx, p)
	}
	first := make(chan int, 1)
	go func() {
		resp, _ := b.do(t, http.MethodPost, "/run/sync", `{"query":"one"}`)
		first <- resp.StatusCode
	}()
	<-started

	for _, path := range []string{"/run/sync", "/run"} {
		resp, body := b.do(t, http.MethodPost, path, `{"query":"two"}`)
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("%s: status %d, want 503", path, resp.StatusCode)
		}
		if resp.Header.Get("Retry-After") != "1" || !strings.Contains(resp.Header.Get("Content-Type"), "json") {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
		got := decode[map[string]any](t, body)
		want := map[string]any{
			"error":               "ServerBusy",
			"message":             "This server is already running 1 runs at once and none finished within 0.02 seconds. Retry shortly.",
			"max_concurrent_runs": float64(1),
			"retry_after":         float64(1),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s body (-want +got):\n%s", path, diff)
		}
	}
	// Reads never wait for a slot.
	if resp, _ := b.do(t, http.MethodGet, "/tools", ""); resp.StatusCode != 200 {
		t.Errorf("/tools while full: %d", resp.StatusCode)
	}
	close(release)
	if code := <-first; code != 200 {
		t.Errorf("first run: %d", code)
	}
	// The slot is free again.
	if resp, _ := b.do(t, http.MethodPost, "/run/sync", `{"query":"three"}`); resp.StatusCode != 200 {
		t.Errorf("after release: %d", resp.StatusCode)
	}
	_, prom := b.do(t, http.MethodGet, "/prometheus", "")
	for _, want := range []string{"omniserve_runs_rejected_total 2", "omniserve_runs_limit 1", "omniserve_runs_in_flight 0"} {
		if !strings.Contains(string(prom), want) {
			t.Errorf("/prometheus lacks %q", want)
		}
	}
}

func TestAdmissionWaiterGetsFreedSlot(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *Config) {
		c.MaxConcurrentRuns = 1
		c.RunAdmissionWait = time.Minute
	})
	calls := make(chan struct{}, 2)
	release := make(chan struct{})
	b.runner.RunFunc = func(ctx context.Context, p agent.RunParams) (*agent.Result, error) {
		calls <- struct{}{}
		if p.Query == "fail" {
			<-release
			return nil, errors.New("boom")
		}
		return b.runner.Runner.Run(ctx, p)
	}
	first := make(chan int, 1)
	go func() {
		resp, _ := b.do(t, http.MethodPost, "/run/sync", `{"query":"fail"}`)
		first <- resp.StatusCode
	}()
	<-calls
	second := make(chan int, 1)
	go func() {
		resp, _ := b.do(t, http.MethodPost, "/run/sync", `{"query":"ok"}`)
		second <- resp.StatusCode
	}()
	// A failed run releases its slot to the waiter.
	close(release)
	if code := <-first; code != 500 {
		t.Errorf("failed run: %d", code)
	}
	if code := <-second; code != 200 {
		t.Errorf("waiter: %d, want 200", code)
	}
}

// TestLogsNeverCarryTokens: request logs name the route and status, never
// the Authorization header or a query string.
func TestLogsNeverCarryTokens(t *testing.T) {
	t.Parallel()
	var buf syncBuffer
	b := setup(t, func(c *Config) {
		c.AuthToken = "s3cret-token-value"
		c.RequestLogging = true
		c.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	b.do(t, http.MethodGet, "/tools?api_key=query-secret", "", "Authorization", "Bearer s3cret-token-value")
	b.do(t, http.MethodGet, "/tools", "", "Authorization", "Bearer wrong-but-secret")
	b.do(t, http.MethodPost, "/run/sync", `{"query":"hi"}`, "Authorization", "Bearer s3cret-token-value")
	logs := buf.String()
	if !strings.Contains(logs, `"route":"/tools"`) {
		t.Fatalf("no request log lines: %s", logs)
	}
	for _, secret := range []string{"s3cret-token-value", "wrong-but-secret", "query-secret"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q:\n%s", secret, logs)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
