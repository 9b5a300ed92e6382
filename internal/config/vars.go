package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Var describes one setting and the environment variable that overrides it.
type Var struct {
	// Name is the environment variable, e.g. "OMNICOREAGENT_SERVE_PORT".
	Name string
	// Field is the setting's snake_case name, as the original server spells
	// it, e.g. "port".
	Field string
	// Default is the default value written the way the variable takes it.
	Default string
	// Description says what the setting does.
	Description string
	// Secret marks a value that is masked whenever it is shown.
	Secret bool
}

// Source says where a setting's value came from.
type Source string

// The places a setting can come from, weakest first.
const (
	SourceDefault Source = "default"
	SourceCode    Source = "code"
	SourceEnv     Source = "env"
)

// Value is one setting of a Config rendered for display.
type Value struct {
	Var
	// Value is the setting written the way its variable takes it, with
	// secrets masked and passwords in store URLs hidden.
	Value string
	// Source is where the value came from. A value set in code that equals
	// the default reports SourceDefault.
	Source Source
}

// Environment variable names that validation messages use.
const (
	envHost                    = "OMNICOREAGENT_SERVE_HOST"
	envPort                    = "OMNICOREAGENT_SERVE_PORT"
	envAPIPrefix               = "OMNICOREAGENT_SERVE_API_PREFIX"
	envLogLevel                = "OMNICOREAGENT_SERVE_LOG_LEVEL"
	envRateLimitRequests       = "OMNICOREAGENT_SERVE_RATE_LIMIT_REQUESTS"
	envRateLimitWindow         = "OMNICOREAGENT_SERVE_RATE_LIMIT_WINDOW"
	envMaxConcurrentRuns       = "OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS"
	envRunAdmissionWait        = "OMNICOREAGENT_SERVE_RUN_ADMISSION_WAIT"
	envMaxBodyBytes            = "OMNICOREAGENT_SERVE_MAX_BODY_BYTES"
	envTrustedProxies          = "OMNICOREAGENT_SERVE_TRUSTED_PROXIES"
	envShutdownGrace           = "OMNICOREAGENT_SERVE_SHUTDOWN_GRACE"
	envShutdownDelay           = "OMNICOREAGENT_SERVE_SHUTDOWN_DELAY"
	envStreamMaxLag            = "OMNICOREAGENT_SERVE_STREAM_MAX_LAG"
	envBackgroundConcurrency   = "OMNICOREAGENT_BACKGROUND_CONCURRENCY"
	envBackgroundLease         = "OMNICOREAGENT_BACKGROUND_LEASE_SECONDS"
	envWorkspaceBackend        = "OMNICOREAGENT_WORKSPACE_BACKEND"
	envWorkspaceDir            = "OMNICOREAGENT_WORKSPACE_DIR"
	envTelemetryStore          = "OMNICOREAGENT_TELEMETRY_STORE"
	envTelemetryStoreURL       = "OMNICOREAGENT_TELEMETRY_STORE_URL"
	envMemoryStore             = "OMNICOREAGENT_MEMORY_STORE"
	envDatabaseURL             = "DATABASE_URL"
	envKeepAliveInterval       = "OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL"
	envBackgroundAgentID       = "OMNICOREAGENT_BACKGROUND_AGENT_ID"
	envTaskStore               = "OMNICOREAGENT_BACKGROUND_TASK_STORE"
	envTaskStoreConnectTimeout = "OMNICOREAGENT_BACKGROUND_TASK_STORE_CONNECT_TIMEOUT"
)

// entry ties a Var to the Config field it sets.
type entry struct {
	Var
	// set parses a non-empty variable value into c; on error c is unchanged.
	set func(c *Config, raw string) error
	// get renders the field the way the variable takes it.
	get func(c *Config) string
	// redact hides credentials in a rendered value, when non-nil.
	redact func(string) string
}

// table lists every setting in the order documentation and config --show
// present them.
var table = []entry{
	stringVar(envHost, "host", "Address the HTTP server binds to.", func(c *Config) *string { return &c.Host }),
	intVar(envPort, "port", "TCP port the HTTP server binds to.", func(c *Config) *int { return &c.Port }),
	intVar("OMNICOREAGENT_SERVE_WORKERS", "workers", "Number of server processes; must be 1, scale out with more processes.", func(c *Config) *int { return &c.Workers }),
	stringVar(envAPIPrefix, "api_prefix", "Path prefix for every route, such as /api/v1.", func(c *Config) *string { return &c.APIPrefix }),
	boolVar("OMNICOREAGENT_SERVE_ENABLE_DOCS", "enable_docs", "Serve the interactive API documentation.", func(c *Config) *bool { return &c.EnableDocs }),
	boolVar("OMNICOREAGENT_SERVE_ENABLE_REDOC", "enable_redoc", "Serve the ReDoc API reference.", func(c *Config) *bool { return &c.EnableRedoc }),
	boolVar("OMNICOREAGENT_SERVE_CORS_ENABLED", "cors_enabled", "Turn on CORS handling.", func(c *Config) *bool { return &c.CORSEnabled }),
	listVar("OMNICOREAGENT_SERVE_CORS_ORIGINS", "cors_origins", "Comma-separated origins allowed by CORS.", func(c *Config) *[]string { return &c.CORSOrigins }),
	listVar("OMNICOREAGENT_SERVE_CORS_METHODS", "cors_methods", "Comma-separated methods allowed by CORS.", func(c *Config) *[]string { return &c.CORSMethods }),
	listVar("OMNICOREAGENT_SERVE_CORS_HEADERS", "cors_headers", "Comma-separated request headers allowed by CORS.", func(c *Config) *[]string { return &c.CORSHeaders }),
	boolVar("OMNICOREAGENT_SERVE_CORS_CREDENTIALS", "cors_credentials", "Allow credentialed cross-origin requests.", func(c *Config) *bool { return &c.CORSCredentials }),
	boolVar("OMNICOREAGENT_SERVE_AUTH_ENABLED", "auth_enabled", "Require a bearer token on protected routes.", func(c *Config) *bool { return &c.AuthEnabled }),
	secretVar("OMNICOREAGENT_SERVE_AUTH_TOKEN", "auth_token", "Bearer token callers must present when auth is enabled.", func(c *Config) *string { return &c.AuthToken }),
	boolVar("OMNICOREAGENT_SERVE_REQUEST_LOGGING", "request_logging", "Log one line per request.", func(c *Config) *bool { return &c.RequestLogging }),
	stringVar(envLogLevel, "log_level", "Log level: TRACE, DEBUG, INFO, WARNING, ERROR or CRITICAL.", func(c *Config) *string { return &c.LogLevel }),
	intSecondsVar("OMNICOREAGENT_SERVE_REQUEST_TIMEOUT", "request_timeout", "Request timeout in whole seconds; 0 or less disables it.", func(c *Config) *time.Duration { return &c.RequestTimeout }),
	boolVar("OMNICOREAGENT_SERVE_RATE_LIMIT_ENABLED", "rate_limit_enabled", "Turn on per-client rate limiting.", func(c *Config) *bool { return &c.RateLimitEnabled }),
	intVar(envRateLimitRequests, "rate_limit_requests", "Requests allowed per client per window.", func(c *Config) *int { return &c.RateLimitRequests }),
	intSecondsVar(envRateLimitWindow, "rate_limit_window", "Rate-limit window in whole seconds.", func(c *Config) *time.Duration { return &c.RateLimitWindow }),
	{
		Var: Var{Name: envMaxConcurrentRuns, Field: "max_concurrent_runs", Description: "Agent runs in flight per process; 0, none or unlimited removes the cap."},
		set: func(c *Config, raw string) error {
			switch strings.ToLower(strings.TrimSpace(raw)) {
			case "none", "unlimited":
				c.MaxConcurrentRuns = 0
				return nil
			}
			n, err := parseInt(envMaxConcurrentRuns, raw)
			if err != nil {
				return err
			}
			c.MaxConcurrentRuns = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(c.MaxConcurrentRuns) },
	},
	secondsVar(envRunAdmissionWait, "run_admission_wait_seconds", "Seconds a run request waits for a free slot before a 503.", func(c *Config) *time.Duration { return &c.RunAdmissionWait }),
	{
		Var: Var{Name: envMaxBodyBytes, Field: "max_body_bytes", Description: "Largest request body accepted, in bytes."},
		set: func(c *Config, raw string) error {
			n, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
			if err != nil {
				return fmt.Errorf("%s must be an integer", envMaxBodyBytes)
			}
			c.MaxBodyBytes = n
			return nil
		},
		get: func(c *Config) string { return strconv.FormatInt(c.MaxBodyBytes, 10) },
	},
	{
		Var: Var{Name: envTrustedProxies, Field: "trusted_proxies", Description: "Comma-separated IP addresses or CIDR prefixes of proxies whose forwarding headers are believed."},
		set: func(c *Config, raw string) error {
			var prefixes []netip.Prefix
			var errs []error
			for _, s := range splitList(raw) {
				p, err := parseProxy(s)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s entry %q is not an IP address or CIDR prefix", envTrustedProxies, s))
					continue
				}
				prefixes = append(prefixes, p)
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			c.TrustedProxies = prefixes
			return nil
		},
		get: func(c *Config) string {
			s := make([]string, len(c.TrustedProxies))
			for i, p := range c.TrustedProxies {
				s[i] = p.String()
			}
			return strings.Join(s, ",")
		},
	},
	secondsVar(envShutdownGrace, "shutdown_grace", "Seconds shutdown waits for in-flight requests and runs.", func(c *Config) *time.Duration { return &c.ShutdownGrace }),
	secondsVar(envShutdownDelay, "shutdown_delay", "Seconds the server keeps accepting requests, with /ready answering 503, before it stops accepting.", func(c *Config) *time.Duration { return &c.ShutdownDelay }),
	secondsVar(envKeepAliveInterval, "keepalive_interval", "Seconds between keep-alive comments on idle event streams.", func(c *Config) *time.Duration { return &c.KeepAliveInterval }),
	intVar(envStreamMaxLag, "stream_max_lag", "Events a follow stream may fall behind before it is cut with an error frame (the client resumes with Last-Event-ID).", func(c *Config) *int { return &c.StreamMaxLag }),
	boolVar("OMNICOREAGENT_BACKGROUND_ENABLED", "background_enabled", "Mount the /background routes.", func(c *Config) *bool { return &c.BackgroundEnabled }),
	stringVar(envBackgroundAgentID, "background_agent_id", "Id of the served agent for background runs.", func(c *Config) *string { return &c.BackgroundAgentID }),
	stringVar(envTaskStore, "background_task_store", "Task store backend: in_memory, sql, redis or mongodb.", func(c *Config) *string { return &c.BackgroundTaskStore }),
	urlVar("OMNICOREAGENT_BACKGROUND_TASK_STORE_URL", "background_task_store_url", "SQL or Redis URL of the task store; alone it selects sql.", func(c *Config) *string { return &c.BackgroundTaskStoreURL }),
	urlVar("OMNICOREAGENT_BACKGROUND_TASK_STORE_URI", "background_task_store_uri", "MongoDB URI of the task store; it selects mongodb.", func(c *Config) *string { return &c.BackgroundTaskStoreURI }),
	stringVar("OMNICOREAGENT_BACKGROUND_TASK_STORE_DATABASE", "background_task_store_database", "MongoDB database of the task store; empty means omnicoreagent.", func(c *Config) *string { return &c.BackgroundTaskStoreDatabase }),
	stringVar("OMNICOREAGENT_BACKGROUND_TASK_STORE_PREFIX", "background_task_store_prefix", "Redis key or SQL table prefix of the task store.", func(c *Config) *string { return &c.BackgroundTaskStorePrefix }),
	stringVar("OMNICOREAGENT_BACKGROUND_TASK_STORE_COLLECTION_PREFIX", "background_task_store_collection_prefix", "MongoDB collection prefix of the task store.", func(c *Config) *string { return &c.BackgroundTaskStoreCollectionPrefix }),
	secondsVar(envTaskStoreConnectTimeout, "background_task_store_connect_timeout", "Seconds allowed for connecting to a remote task store; 0 means the store's default.", func(c *Config) *time.Duration { return &c.BackgroundTaskStoreConnectTimeout }),
	boolVar("OMNICOREAGENT_BACKGROUND_START_WORKER", "background_start_worker", "Run the background scheduler and worker inside the server.", func(c *Config) *bool { return &c.BackgroundStartWorker }),
	intVar(envBackgroundConcurrency, "background_concurrency", "Background runs one process executes at once.", func(c *Config) *int { return &c.BackgroundConcurrency }),
	secondsVar(envBackgroundLease, "background_lease_seconds", "Seconds a worker's claim on a run lasts without renewal; renewed every quarter of it.", func(c *Config) *time.Duration { return &c.BackgroundLease }),
	stringVar(envWorkspaceBackend, "workspace_backend", "Where run workspaces are stored: local.", func(c *Config) *string { return &c.WorkspaceBackend }),
	stringVar(envTelemetryStore, "telemetry_store", "Event log backend: in_memory or sql.", func(c *Config) *string { return &c.TelemetryStoreBackend }),
	urlVar(envTelemetryStoreURL, "telemetry_store_url", "SQL URL of the event log; alone it selects sql.", func(c *Config) *string { return &c.TelemetryStoreURL }),
	stringVar(envMemoryStore, "memory_store", "Session memory backend: in_memory or sql (with DATABASE_URL).", func(c *Config) *string { return &c.MemoryStoreBackend }),
	urlVar(envDatabaseURL, "database_url", "SQL URL of session memory when OMNICOREAGENT_MEMORY_STORE=sql.", func(c *Config) *string { return &c.DatabaseURL }),
	stringVar(envWorkspaceDir, "workspace_dir", "Root of the local run workspaces; files go under its files/ folder.", func(c *Config) *string { return &c.WorkspaceDir }),
}

// Vars lists every setting with its variable, default and description, in
// display order.
func Vars() []Var {
	def := Default()
	vars := make([]Var, len(table))
	for i, e := range table {
		vars[i] = e.Var
		vars[i].Default = e.get(&def)
	}
	return vars
}

// Values renders every setting of c in [Vars] order, masking secrets and
// hiding passwords in store URLs, and says where each value came from.
func (c Config) Values() []Value {
	def := Default()
	vals := make([]Value, len(table))
	for i, e := range table {
		v := Value{Var: e.Var, Value: e.get(&c), Source: SourceDefault}
		v.Default = e.get(&def)
		switch {
		case c.fromEnv[e.Name]:
			v.Source = SourceEnv
		case v.Value != v.Default:
			v.Source = SourceCode
		}
		if e.redact != nil {
			v.Value = e.redact(v.Value)
			v.Default = e.redact(v.Default)
		}
		vals[i] = v
	}
	return vals
}

// Mask hides a secret for display: its first and last four characters
// around "****", or just "****" when it has eight characters or fewer. The
// empty string stays empty.
func Mask(s string) string {
	r := []rune(s)
	switch {
	case len(r) == 0:
		return ""
	case len(r) <= 8:
		return "****"
	}
	return string(r[:4]) + "****" + string(r[len(r)-4:])
}

// redactURL hides the password in a URL's user info. A value that does not
// parse as a URL is masked whole, since it may hold anything.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return Mask(s)
	}
	return u.Redacted()
}

func stringVar(name, field, desc string, ptr func(*Config) *string) entry {
	return entry{
		Var: Var{Name: name, Field: field, Description: desc},
		set: func(c *Config, raw string) error { *ptr(c) = raw; return nil },
		get: func(c *Config) string { return *ptr(c) },
	}
}

func secretVar(name, field, desc string, ptr func(*Config) *string) entry {
	e := stringVar(name, field, desc, ptr)
	e.Secret = true
	e.redact = Mask
	return e
}

func urlVar(name, field, desc string, ptr func(*Config) *string) entry {
	e := stringVar(name, field, desc, ptr)
	e.redact = redactURL
	return e
}

func boolVar(name, field, desc string, ptr func(*Config) *bool) entry {
	return entry{
		Var: Var{Name: name, Field: field, Description: desc},
		set: func(c *Config, raw string) error {
			b, err := parseBool(name, raw)
			if err != nil {
				return err
			}
			*ptr(c) = b
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*ptr(c)) },
	}
}

func intVar(name, field, desc string, ptr func(*Config) *int) entry {
	return entry{
		Var: Var{Name: name, Field: field, Description: desc},
		set: func(c *Config, raw string) error {
			n, err := parseInt(name, raw)
			if err != nil {
				return err
			}
			*ptr(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*ptr(c)) },
	}
}

func listVar(name, field, desc string, ptr func(*Config) *[]string) entry {
	return entry{
		Var: Var{Name: name, Field: field, Description: desc},
		set: func(c *Config, raw string) error { *ptr(c) = splitList(raw); return nil },
		get: func(c *Config) string { return strings.Join(*ptr(c), ",") },
	}
}

// intSecondsVar is a duration its variable gives in whole seconds.
func intSecondsVar(name, field, desc string, ptr func(*Config) *time.Duration) entry {
	return entry{
		Var: Var{Name: name, Field: field, Description: desc},
		set: func(c *Config, raw string) error {
			n, err := parseInt(name, raw)
			if err != nil {
				return err
			}
			d, err := seconds(name, float64(n))
			if err != nil {
				return err
			}
			*ptr(c) = d
			return nil
		},
		get: func(c *Config) string { return formatSeconds(*ptr(c)) },
	}
}

// secondsVar is a duration its variable gives in seconds, fractions allowed.
func secondsVar(name, field, desc string, ptr func(*Config) *time.Duration) entry {
	return entry{
		Var: Var{Name: name, Field: field, Description: desc},
		set: func(c *Config, raw string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(raw), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
				return fmt.Errorf("%s must be a number", name)
			}
			d, err := seconds(name, f)
			if err != nil {
				return err
			}
			*ptr(c) = d
			return nil
		},
		get: func(c *Config) string { return formatSeconds(*ptr(c)) },
	}
}

// parseBool accepts true/1/yes/on and false/0/no/off in any case.
func parseBool(name, raw string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(raw)) {
	case "true", "1", "yes", "on":
		return true, nil
	case "false", "0", "no", "off":
		return false, nil
	}
	return false, fmt.Errorf("%s must be a boolean value", name)
}

func parseInt(name, raw string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(raw))
	if err != nil {
		return 0, fmt.Errorf("%s must be an integer", name)
	}
	return n, nil
}

// seconds converts f seconds to a Duration, refusing values it cannot hold.
func seconds(name string, f float64) (time.Duration, error) {
	ns := f * float64(time.Second)
	if ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, fmt.Errorf("%s is too large", name)
	}
	return time.Duration(ns), nil
}

func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// splitList splits on commas, trims each item and drops empty ones.
func splitList(raw string) []string {
	items := []string{}
	for s := range strings.SplitSeq(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			items = append(items, s)
		}
	}
	return items
}

// parseProxy reads a CIDR prefix, or a single address as a full-length
// prefix. Addresses with a zone are refused: a prefix cannot carry one.
func parseProxy(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("parse prefix: %w", err)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("parse address: %w", err)
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("address has a zone")
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}
