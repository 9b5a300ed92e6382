// Package config holds the server's typed settings: their defaults, the
// OMNICOREAGENT_SERVE_* and OMNICOREAGENT_BACKGROUND_* environment variables
// that override them, and the validation that runs before anything starts.
//
// Precedence is environment, then code (values the caller, usually the CLI,
// sets on a [Default] config), then defaults. The environment is read only
// here and only through the lookup function passed to [Load], so tests never
// touch the process environment.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Config is the complete set of server settings. Start from [Default], set
// fields from code or flags, then pass it to [Load] to apply the environment
// and validate.
type Config struct {
	// Host is the address the HTTP server binds to. Defaults to "0.0.0.0".
	Host string
	// Port is the TCP port the HTTP server binds to. Defaults to 8000.
	Port int
	// Workers is the number of server processes; only 1 is supported, scale
	// out with more processes instead. Defaults to 1.
	Workers int
	// APIPrefix is the path prefix for every route, normalised by [Load] to
	// "" or "/segment[/segment...]". Defaults to "".
	APIPrefix string
	// EnableDocs serves the interactive API documentation. Defaults to true.
	EnableDocs bool
	// EnableRedoc serves the ReDoc API reference. Defaults to true.
	EnableRedoc bool
	// CORSEnabled turns on the CORS middleware. Defaults to true.
	CORSEnabled bool
	// CORSOrigins lists allowed origins. Defaults to ["*"].
	CORSOrigins []string
	// CORSMethods lists allowed methods. Defaults to ["*"].
	CORSMethods []string
	// CORSHeaders lists allowed request headers. Defaults to ["*"].
	CORSHeaders []string
	// CORSCredentials allows credentialed cross-origin requests. Defaults to
	// true.
	CORSCredentials bool
	// AuthEnabled requires a bearer token on protected routes. Defaults to
	// false.
	AuthEnabled bool
	// AuthToken is the bearer token callers must present; required when
	// AuthEnabled is set. Defaults to "".
	AuthToken string
	// RequestLogging logs one line per request. Defaults to true.
	RequestLogging bool
	// LogLevel is one of CRITICAL, DEBUG, ERROR, INFO, TRACE or WARNING,
	// upper-cased by [Load]. Defaults to "INFO".
	LogLevel string
	// RequestTimeout bounds each request; zero or negative disables the
	// timeout. Defaults to 300s.
	RequestTimeout time.Duration
	// RateLimitEnabled turns on per-client rate limiting. Defaults to false.
	RateLimitEnabled bool
	// RateLimitRequests is the number of requests allowed per window.
	// Defaults to 100.
	RateLimitRequests int
	// RateLimitWindow is the rate-limit window. Defaults to 60s.
	RateLimitWindow time.Duration
	// MaxConcurrentRuns caps the agent runs in flight in this process; 0
	// means unlimited. Defaults to 64.
	MaxConcurrentRuns int
	// RunAdmissionWait is how long a run request waits for a free slot
	// before it is refused with 503. Defaults to 5s.
	RunAdmissionWait time.Duration
	// MaxBodyBytes caps the size of a request body. Defaults to 1 MiB.
	MaxBodyBytes int64
	// TrustedProxies lists the proxies whose forwarding headers are believed
	// when working out a client's address. Defaults to none.
	TrustedProxies []netip.Prefix
	// ShutdownGrace is how long shutdown waits for in-flight requests and
	// runs to finish. Defaults to 30s.
	ShutdownGrace time.Duration
	// ShutdownDelay is how long, after a stop signal, the server keeps
	// accepting requests while /ready answers 503, so load balancers take
	// it out of rotation before connections are refused. Defaults to 0.
	ShutdownDelay time.Duration
	// KeepAliveInterval is the gap between keep-alive comments on idle
	// event streams. Defaults to 15s.
	KeepAliveInterval time.Duration

	// BackgroundEnabled mounts the /background routes. Defaults to true.
	BackgroundEnabled bool
	// BackgroundAgentID is the id under which the served agent is
	// registered for background runs. Defaults to "default".
	BackgroundAgentID string
	// BackgroundTaskStore names the task store backend: in_memory, sql,
	// redis or mongodb. See [Config.TaskStore] for how it combines with the
	// URL and URI. Defaults to "in_memory".
	BackgroundTaskStore string
	// BackgroundTaskStoreURL is the SQL or Redis URL of the task store.
	// Defaults to "".
	BackgroundTaskStoreURL string
	// BackgroundTaskStoreURI is the MongoDB URI of the task store. Defaults
	// to "".
	BackgroundTaskStoreURI string
	// BackgroundTaskStoreDatabase is the MongoDB database; empty means
	// "omnicoreagent". Defaults to "".
	BackgroundTaskStoreDatabase string
	// BackgroundTaskStorePrefix is the Redis key (or SQL table) prefix; empty
	// means the store's own default. Defaults to "".
	BackgroundTaskStorePrefix string
	// BackgroundTaskStoreCollectionPrefix is the MongoDB collection prefix;
	// empty means the store's own default. Defaults to "".
	BackgroundTaskStoreCollectionPrefix string
	// BackgroundTaskStoreConnectTimeout bounds connecting to a remote task
	// store; zero means the store's own default. Defaults to 0.
	BackgroundTaskStoreConnectTimeout time.Duration
	// BackgroundStartWorker runs the scheduler and worker loop inside the
	// server. Defaults to true.
	BackgroundStartWorker bool
	// BackgroundConcurrency is how many background runs one process
	// executes at once. Defaults to 4.
	BackgroundConcurrency int
	// BackgroundLease is how long a worker's claim on a run lasts without
	// renewal; it is renewed every quarter of it. Defaults to 30s.
	BackgroundLease time.Duration
	// WorkspaceBackend stores run workspaces: "local" is the only backend
	// so far. Defaults to "local".
	WorkspaceBackend string
	// WorkspaceDir is the local workspace root; files go under its files/
	// folder. Defaults to "./workspace".
	WorkspaceDir string
	// TelemetryStoreBackend keeps the event log: "in_memory" or "sql".
	// Defaults to "in_memory".
	TelemetryStoreBackend string
	// TelemetryStoreURL is the event log's SQL URL; alone it selects sql.
	// Defaults to "".
	TelemetryStoreURL string
	// MemoryStoreBackend keeps session memory: "in_memory" or "sql".
	// Defaults to "in_memory".
	MemoryStoreBackend string
	// DatabaseURL is the SQL URL of session memory, the original's
	// DATABASE_URL. Defaults to "".
	DatabaseURL string
	// StreamMaxLag is how many events a follow stream may fall behind
	// before it is cut with an error frame. Defaults to 10,000.
	StreamMaxLag int

	// fromEnv holds the names of the variables [Load] applied, so [Values]
	// can report where each setting came from. Never mutated after Load.
	fromEnv map[string]bool
}

// Default returns a Config holding every default.
func Default() Config {
	return Config{
		Host:                  "0.0.0.0",
		Port:                  8000,
		Workers:               1,
		EnableDocs:            true,
		EnableRedoc:           true,
		CORSEnabled:           true,
		CORSOrigins:           []string{"*"},
		CORSMethods:           []string{"*"},
		CORSHeaders:           []string{"*"},
		CORSCredentials:       true,
		RequestLogging:        true,
		LogLevel:              "INFO",
		RequestTimeout:        300 * time.Second,
		RateLimitRequests:     100,
		RateLimitWindow:       60 * time.Second,
		MaxConcurrentRuns:     64,
		RunAdmissionWait:      5 * time.Second,
		MaxBodyBytes:          1 << 20,
		ShutdownGrace:         30 * time.Second,
		KeepAliveInterval:     15 * time.Second,
		BackgroundEnabled:     true,
		BackgroundAgentID:     "default",
		BackgroundTaskStore:   StoreInMemory,
		BackgroundStartWorker: true,
		BackgroundConcurrency: 4,
		BackgroundLease:       30 * time.Second,
		WorkspaceBackend:      "local",
		WorkspaceDir:          "./workspace",
		StreamMaxLag:          10_000,
		TelemetryStoreBackend: "in_memory",
		MemoryStoreBackend:    "in_memory",
	}
}

// Load applies every set environment variable on top of code, then
// normalises and validates the result. lookup reads one variable, as
// [os.LookupEnv] does; a variable set to "" counts as unset.
//
// On failure Load reports every unparsable variable and every invalid
// setting at once, in a stable order, and returns a zero Config.
func Load(code Config, lookup func(string) (string, bool)) (Config, error) {
	c := code
	c.fromEnv = make(map[string]bool)
	var errs []error
	for _, e := range table {
		raw, ok := lookup(e.Name)
		if !ok || raw == "" {
			continue
		}
		if err := e.set(&c, raw); err != nil {
			errs = append(errs, err)
			continue
		}
		c.fromEnv[e.Name] = true
	}
	c, verrs := c.normalize()
	errs = append(errs, verrs...)
	if len(errs) > 0 {
		return Config{}, errors.Join(errs...)
	}
	return c, nil
}

// Validate reports every invalid setting of c, as [Load] would after
// applying the environment. Messages name the environment variable even when
// the value came from code.
func (c Config) Validate() error {
	_, errs := c.normalize()
	return errors.Join(errs...)
}

// Addr is the host:port the HTTP server listens on.
func (c Config) Addr() string {
	return net.JoinHostPort(c.Host, strconv.Itoa(c.Port))
}

// Log levels beyond the four slog defines, for TRACE and CRITICAL.
const (
	LevelTrace    = slog.LevelDebug - 4
	LevelCritical = slog.LevelError + 4
)

// logLevels maps each accepted LogLevel to its slog level.
var logLevels = map[string]slog.Level{
	"CRITICAL": LevelCritical,
	"DEBUG":    slog.LevelDebug,
	"ERROR":    slog.LevelError,
	"INFO":     slog.LevelInfo,
	"TRACE":    LevelTrace,
	"WARNING":  slog.LevelWarn,
}

// SlogLevel maps LogLevel to a slog level: TRACE is [LevelTrace], CRITICAL
// is [LevelCritical] and the rest map to their slog namesakes. An unknown
// level maps to Info.
func (c Config) SlogLevel() slog.Level {
	if l, ok := logLevels[strings.ToUpper(strings.TrimSpace(c.LogLevel))]; ok {
		return l
	}
	return slog.LevelInfo
}

// Validation messages shared with tests. The quoted ones match the original
// Python server word for word.
const (
	msgWorkers = "OMNICOREAGENT_SERVE_WORKERS must be 1 for direct OmniServe. Run multiple OmniServe processes behind a process manager for horizontal scaling."
	msgAuth    = "OMNICOREAGENT_SERVE_AUTH_TOKEN is required when OMNICOREAGENT_SERVE_AUTH_ENABLED=true"
)

// normalize returns c with its API prefix and log level in canonical form,
// and every validation failure in field order.
func (c Config) normalize() (Config, []error) {
	var errs []error
	fail := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(format, args...))
	}

	if strings.TrimSpace(c.Host) == "" {
		fail("%s must not be empty", envHost)
	}
	if c.Port < 1 || c.Port > 65535 {
		fail("%s must be between 1 and 65535", envPort)
	}
	if c.Workers != 1 {
		fail("%s", msgWorkers)
	}
	if p, ok := normalizePrefix(c.APIPrefix); ok {
		c.APIPrefix = p
	} else {
		fail("%s must not contain whitespace", envAPIPrefix)
	}
	c.LogLevel = strings.ToUpper(strings.TrimSpace(c.LogLevel))
	if _, ok := logLevels[c.LogLevel]; !ok {
		names := make([]string, 0, len(logLevels))
		for n := range logLevels {
			names = append(names, n)
		}
		slices.Sort(names)
		fail("%s must be one of: %s", envLogLevel, strings.Join(names, ", "))
	}
	if c.AuthEnabled && strings.TrimSpace(c.AuthToken) == "" {
		fail("%s", msgAuth)
	}
	if c.RateLimitEnabled {
		if c.RateLimitRequests < 1 {
			fail("%s must be at least 1 when rate limiting is enabled", envRateLimitRequests)
		}
		if c.RateLimitWindow < time.Second {
			fail("%s must be at least 1 when rate limiting is enabled", envRateLimitWindow)
		}
	}
	if c.MaxConcurrentRuns < 0 {
		fail("%s must be at least 0 (0 means unlimited)", envMaxConcurrentRuns)
	}
	if c.RunAdmissionWait < 0 {
		fail("%s must be at least 0", envRunAdmissionWait)
	}
	if c.MaxBodyBytes < 1 {
		fail("%s must be at least 1", envMaxBodyBytes)
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			fail("%s contains an invalid prefix %q", envTrustedProxies, p.String())
		}
	}
	if c.ShutdownDelay < 0 {
		fail("%s must be at least 0", envShutdownDelay)
	}
	if c.ShutdownGrace < 0 {
		fail("%s must be at least 0", envShutdownGrace)
	}
	if c.KeepAliveInterval <= 0 {
		fail("%s must be greater than 0", envKeepAliveInterval)
	}
	if c.BackgroundEnabled && strings.TrimSpace(c.BackgroundAgentID) == "" {
		fail("%s must not be empty", envBackgroundAgentID)
	}
	if c.BackgroundConcurrency < 1 {
		fail("%s must be at least 1", envBackgroundConcurrency)
	}
	if c.BackgroundLease < time.Second {
		fail("%s must be at least 1", envBackgroundLease)
	}
	if c.WorkspaceBackend != "local" {
		fail("%s must be local (the S3 and R2 backends are not available yet)", envWorkspaceBackend)
	}
	if strings.TrimSpace(c.WorkspaceDir) == "" {
		fail("%s must not be empty", envWorkspaceDir)
	}
	if c.StreamMaxLag < 1 {
		fail("%s must be at least 1", envStreamMaxLag)
	}
	if c.BackgroundTaskStoreConnectTimeout < 0 {
		fail("%s must be at least 0", envTaskStoreConnectTimeout)
	}
	if _, err := c.TaskStore(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.TelemetryStore(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.MemoryStore(); err != nil {
		errs = append(errs, err)
	}
	return c, errs
}

// normalizePrefix trims p, maps "" and "/" to "", adds a leading slash and
// drops trailing ones. It reports false when p has whitespace inside.
func normalizePrefix(p string) (string, bool) {
	p = strings.TrimSpace(p)
	if strings.ContainsFunc(p, unicode.IsSpace) {
		return "", false
	}
	p = strings.TrimRight(p, "/")
	if p == "" {
		return "", true
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return p, true
}
