package httpapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/cors"
)

// CORSConfig configures cross-origin resource sharing.
type CORSConfig struct {
	// Enabled turns CORS handling on.
	Enabled bool
	// Origins allowed; "*" allows any. Defaults to ["*"].
	Origins []string
	// Methods allowed; "*" allows any. Defaults to ["*"].
	Methods []string
	// Headers allowed; "*" allows any. Defaults to ["*"].
	Headers []string
	// Credentials allows cookies and Authorization on cross-origin calls.
	Credentials bool
}

var allMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// corsMiddleware answers preflight requests before authentication, as
// browsers send them without credentials. Browsers refuse a literal "*"
// origin on credentialed requests, so "*" with credentials echoes the
// caller's origin (with Vary: Origin) instead.
func corsMiddleware(c CORSConfig) func(http.Handler) http.Handler {
	origins := c.Origins
	if len(origins) == 0 {
		origins = []string{"*"}
	}
	methods := c.Methods
	if len(methods) == 0 || slices.Contains(methods, "*") {
		methods = allMethods
	}
	headers := c.Headers
	if len(headers) == 0 {
		headers = []string{"*"}
	}
	opts := cors.Options{
		AllowedOrigins:       origins,
		AllowedMethods:       methods,
		AllowedHeaders:       headers,
		AllowCredentials:     c.Credentials,
		OptionsSuccessStatus: http.StatusOK,
		ExposedHeaders:       []string{"X-Request-ID", "X-Process-Time", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"},
	}
	if c.Credentials && slices.Contains(origins, "*") {
		opts.AllowOriginFunc = func(string) bool { return true }
	}
	return cors.New(opts).Handler
}

// clientKey identifies the caller for rate limiting: the peer address,
// unless the peer is a trusted proxy, in which case the first address of
// X-Forwarded-For (else X-Real-IP) is believed.
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !trustedPeer(peer, trusted) {
		return peer.String()
	}
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if a, err := netip.ParseAddr(strings.TrimSpace(first)); err == nil {
			return a.Unmap().String()
		}
	}
	if xr := strings.TrimSpace(r.Header.Get("X-Real-IP")); xr != "" {
		if a, err := netip.ParseAddr(xr); err == nil {
			return a.Unmap().String()
		}
	}
	return peer.String()
}

func trustedPeer(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// rateLimiter is a fixed-window counter per client. Windows are aligned to
// multiples of the window length, so every client's window rolls over at
// once and the whole table is dropped then: memory is bounded by the
// clients seen within one window, and by maxClients beyond that (clients
// past the cap share one bucket, so a flood of spoofed addresses cannot
// grow the table or escape the limit).
type rateLimiter struct {
	limit      int
	window     time.Duration
	maxClients int
	now        func() time.Time

	mu          sync.Mutex
	windowStart time.Time
	counts      map[string]int
}

const overflowKey = "\x00overflow"

func newRateLimiter(limit int, window time.Duration, maxClients int) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, maxClients: maxClients, now: time.Now, counts: make(map[string]int)}
}

// allow counts one request of key and reports whether it may proceed, how
// many remain and when the window ends.
func (l *rateLimiter) allow(key string) (ok bool, remaining int, reset time.Time) {
	now := l.now()
	start := now.Truncate(l.window)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !start.Equal(l.windowStart) {
		l.windowStart = start
		clear(l.counts)
	}
	if _, seen := l.counts[key]; !seen && len(l.counts) >= l.maxClients {
		key = overflowKey
	}
	n := l.counts[key] + 1
	l.counts[key] = n
	reset = start.Add(l.window)
	if n > l.limit {
		return false, 0, reset
	}
	return true, l.limit - n, reset
}

// rateLimitBody is the original's 429 body.
type rateLimitBody struct {
	Error      string `json:"error"`
	Message    string `json:"message"`
	RetryAfter int    `json:"retry_after"`
}

// rateLimitMiddleware limits every non-public path. It sits outside
// authentication, so unauthenticated calls use quota too.
func (a *API) rateLimitMiddleware(l *rateLimiter, trusted []netip.Prefix) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions || a.isPublicPath(r.URL.Path) {
				next.ServeHTTP(w, r)
				return
			}
			ok, remaining, reset := l.allow(clientKey(r, trusted))
			h := w.Header()
			h.Set("X-RateLimit-Limit", strconv.Itoa(l.limit))
			h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
			h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
			if !ok {
				retry := max(int(math.Ceil(time.Until(reset).Seconds())), 1)
				h.Set("Retry-After", strconv.Itoa(retry))
				writeJSON(w, http.StatusTooManyRequests, rateLimitBody{
					Error:      "TooManyRequests",
					Message:    "Rate limit exceeded. Max " + strconv.Itoa(l.limit) + " requests per " + strconv.Itoa(int(l.window.Seconds())) + " seconds.",
					RetryAfter: retry,
				})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// isPublicPath reports whether path never needs a token and is never rate
// limited: health and readiness (at the root and under the prefix), the
// docs pages, the OpenAPI document and the Prometheus scrape.
func (a *API) isPublicPath(path string) bool {
	switch path {
	case "/health", "/ready", "/docs", "/redoc", "/openapi.json", "/prometheus":
		return true
	}
	if strings.HasPrefix(path, "/docs/") || strings.HasPrefix(path, "/redoc/") {
		return true
	}
	p := a.cfg.APIPrefix
	return p != "" && (path == p+"/health" || path == p+"/ready")
}
