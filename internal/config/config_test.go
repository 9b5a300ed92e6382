package config

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// env returns a lookup over the given name/value pairs.
func env(pairs map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := pairs[name]
		return v, ok
	}
}

var ignoreSources = cmpopts.IgnoreUnexported(Config{})

func TestDefault(t *testing.T) {
	want := Config{
		Host:                  "0.0.0.0",
		Port:                  8000,
		Workers:               1,
		APIPrefix:             "",
		EnableDocs:            true,
		EnableRedoc:           true,
		CORSEnabled:           true,
		CORSOrigins:           []string{"*"},
		CORSMethods:           []string{"*"},
		CORSHeaders:           []string{"*"},
		CORSCredentials:       true,
		AuthEnabled:           false,
		RequestLogging:        true,
		LogLevel:              "INFO",
		RequestTimeout:        300 * time.Second,
		RateLimitEnabled:      false,
		RateLimitRequests:     100,
		RateLimitWindow:       time.Minute,
		MaxConcurrentRuns:     64,
		RunAdmissionWait:      5 * time.Second,
		MaxBodyBytes:          1 << 20,
		ShutdownGrace:         30 * time.Second,
		KeepAliveInterval:     15 * time.Second,
		BackgroundEnabled:     true,
		BackgroundAgentID:     "default",
		BackgroundTaskStore:   "in_memory",
		BackgroundStartWorker: true,
		BackgroundConcurrency: 4,
		BackgroundLease:       30 * time.Second,
		WorkspaceBackend:      "local",
		WorkspaceDir:          "./workspace",
		StreamMaxLag:          10_000,
		TelemetryStoreBackend: "in_memory",
		MemoryStoreBackend:    "in_memory",
	}
	got := Default()
	if diff := cmp.Diff(want, got, ignoreSources); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}

	// Each call must hand out its own slices.
	a := Default()
	a.CORSOrigins[0] = "https://example.com"
	if b := Default(); b.CORSOrigins[0] != "*" {
		t.Errorf("Default().CORSOrigins[0] = %q after mutating another copy, want %q", b.CORSOrigins[0], "*")
	}
}

func TestLoadPrecedence(t *testing.T) {
	tests := []struct {
		name string
		code func(*Config)
		env  map[string]string
		want func(*Config)
	}{
		{
			name: "defaults when nothing is set",
			want: func(*Config) {},
		},
		{
			name: "code beats default",
			code: func(c *Config) { c.Port = 9000; c.Host = "127.0.0.1" },
			want: func(c *Config) { c.Port = 9000; c.Host = "127.0.0.1" },
		},
		{
			name: "env beats code",
			code: func(c *Config) { c.Port = 9000; c.AuthToken = "from-code-token" },
			env: map[string]string{
				"OMNICOREAGENT_SERVE_PORT":       "9100",
				"OMNICOREAGENT_SERVE_AUTH_TOKEN": "from-env-token",
			},
			want: func(c *Config) { c.Port = 9100; c.AuthToken = "from-env-token" },
		},
		{
			name: "env beats default",
			env:  map[string]string{"OMNICOREAGENT_SERVE_ENABLE_DOCS": "false"},
			want: func(c *Config) { c.EnableDocs = false },
		},
		{
			name: "empty env counts as unset",
			code: func(c *Config) { c.Port = 9000; c.Host = "127.0.0.1" },
			env: map[string]string{
				"OMNICOREAGENT_SERVE_PORT": "",
				"OMNICOREAGENT_SERVE_HOST": "",
			},
			want: func(c *Config) { c.Port = 9000; c.Host = "127.0.0.1" },
		},
		{
			name: "unrelated variables are ignored",
			env: map[string]string{
				"REDIS_URL":   "redis://localhost:6379",
				"MONGODB_URI": "mongodb://localhost",
				"PORT":        "1",
			},
			want: func(*Config) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := Default()
			if tt.code != nil {
				tt.code(&code)
			}
			want := Default()
			tt.want(&want)
			got, err := Load(code, env(tt.env))
			if err != nil {
				t.Fatalf("Load() error = %v, want nil", err)
			}
			if diff := cmp.Diff(want, got, ignoreSources); diff != "" {
				t.Errorf("Load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadParsesEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(*Config)
	}{
		{"host", map[string]string{"OMNICOREAGENT_SERVE_HOST": "127.0.0.1"}, func(c *Config) { c.Host = "127.0.0.1" }},
		{"port", map[string]string{"OMNICOREAGENT_SERVE_PORT": "9000"}, func(c *Config) { c.Port = 9000 }},
		{"port with spaces", map[string]string{"OMNICOREAGENT_SERVE_PORT": " 9000 "}, func(c *Config) { c.Port = 9000 }},
		{"workers", map[string]string{"OMNICOREAGENT_SERVE_WORKERS": "1"}, func(c *Config) { c.Workers = 1 }},
		{"bool true", map[string]string{"OMNICOREAGENT_SERVE_AUTH_ENABLED": "true", "OMNICOREAGENT_SERVE_AUTH_TOKEN": "t"}, func(c *Config) { c.AuthEnabled = true; c.AuthToken = "t" }},
		{"bool 1", map[string]string{"OMNICOREAGENT_SERVE_RATE_LIMIT_ENABLED": "1"}, func(c *Config) { c.RateLimitEnabled = true }},
		{"bool YES", map[string]string{"OMNICOREAGENT_SERVE_RATE_LIMIT_ENABLED": "YES"}, func(c *Config) { c.RateLimitEnabled = true }},
		{"bool On", map[string]string{"OMNICOREAGENT_SERVE_RATE_LIMIT_ENABLED": "On"}, func(c *Config) { c.RateLimitEnabled = true }},
		{"bool FALSE", map[string]string{"OMNICOREAGENT_SERVE_ENABLE_DOCS": "FALSE"}, func(c *Config) { c.EnableDocs = false }},
		{"bool 0", map[string]string{"OMNICOREAGENT_SERVE_ENABLE_REDOC": "0"}, func(c *Config) { c.EnableRedoc = false }},
		{"bool no", map[string]string{"OMNICOREAGENT_SERVE_CORS_ENABLED": "no"}, func(c *Config) { c.CORSEnabled = false }},
		{"bool Off", map[string]string{"OMNICOREAGENT_SERVE_CORS_CREDENTIALS": "Off"}, func(c *Config) { c.CORSCredentials = false }},
		{"request logging", map[string]string{"OMNICOREAGENT_SERVE_REQUEST_LOGGING": "off"}, func(c *Config) { c.RequestLogging = false }},
		{
			"lists split, trim and drop empties",
			map[string]string{
				"OMNICOREAGENT_SERVE_CORS_ORIGINS": " https://a.example , ,https://b.example,",
				"OMNICOREAGENT_SERVE_CORS_METHODS": "GET,POST",
				"OMNICOREAGENT_SERVE_CORS_HEADERS": ",,",
			},
			func(c *Config) {
				c.CORSOrigins = []string{"https://a.example", "https://b.example"}
				c.CORSMethods = []string{"GET", "POST"}
				c.CORSHeaders = []string{}
			},
		},
		{"log level upper-cased", map[string]string{"OMNICOREAGENT_SERVE_LOG_LEVEL": "debug"}, func(c *Config) { c.LogLevel = "DEBUG" }},
		{"request timeout", map[string]string{"OMNICOREAGENT_SERVE_REQUEST_TIMEOUT": "30"}, func(c *Config) { c.RequestTimeout = 30 * time.Second }},
		{"request timeout zero disables", map[string]string{"OMNICOREAGENT_SERVE_REQUEST_TIMEOUT": "0"}, func(c *Config) { c.RequestTimeout = 0 }},
		{"request timeout negative disables", map[string]string{"OMNICOREAGENT_SERVE_REQUEST_TIMEOUT": "-1"}, func(c *Config) { c.RequestTimeout = -time.Second }},
		{
			"rate limit",
			map[string]string{
				"OMNICOREAGENT_SERVE_RATE_LIMIT_ENABLED":  "true",
				"OMNICOREAGENT_SERVE_RATE_LIMIT_REQUESTS": "10",
				"OMNICOREAGENT_SERVE_RATE_LIMIT_WINDOW":   "1",
			},
			func(c *Config) { c.RateLimitEnabled = true; c.RateLimitRequests = 10; c.RateLimitWindow = time.Second },
		},
		{"max concurrent runs number", map[string]string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS": "8"}, func(c *Config) { c.MaxConcurrentRuns = 8 }},
		{"max concurrent runs 0", map[string]string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS": "0"}, func(c *Config) { c.MaxConcurrentRuns = 0 }},
		{"max concurrent runs none", map[string]string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS": "none"}, func(c *Config) { c.MaxConcurrentRuns = 0 }},
		{"max concurrent runs None", map[string]string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS": "None"}, func(c *Config) { c.MaxConcurrentRuns = 0 }},
		{"max concurrent runs unlimited", map[string]string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS": "unlimited"}, func(c *Config) { c.MaxConcurrentRuns = 0 }},
		{"run admission wait fraction", map[string]string{"OMNICOREAGENT_SERVE_RUN_ADMISSION_WAIT": "0.25"}, func(c *Config) { c.RunAdmissionWait = 250 * time.Millisecond }},
		{"run admission wait zero", map[string]string{"OMNICOREAGENT_SERVE_RUN_ADMISSION_WAIT": "0"}, func(c *Config) { c.RunAdmissionWait = 0 }},
		{"max body bytes", map[string]string{"OMNICOREAGENT_SERVE_MAX_BODY_BYTES": "4096"}, func(c *Config) { c.MaxBodyBytes = 4096 }},
		{
			"trusted proxies",
			map[string]string{"OMNICOREAGENT_SERVE_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7 ,::1,2001:db8::/32,172.16.5.4/12"},
			func(c *Config) {
				c.TrustedProxies = []netip.Prefix{
					netip.MustParsePrefix("10.0.0.0/8"),
					netip.MustParsePrefix("192.168.1.7/32"),
					netip.MustParsePrefix("::1/128"),
					netip.MustParsePrefix("2001:db8::/32"),
					netip.MustParsePrefix("172.16.0.0/12"),
				}
			},
		},
		{"shutdown grace", map[string]string{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE": "2.5"}, func(c *Config) { c.ShutdownGrace = 2500 * time.Millisecond }},
		{"shutdown grace zero", map[string]string{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE": "0"}, func(c *Config) { c.ShutdownGrace = 0 }},
		{"shutdown delay", map[string]string{"OMNICOREAGENT_SERVE_SHUTDOWN_DELAY": "1.5"}, func(c *Config) { c.ShutdownDelay = 1500 * time.Millisecond }},
		{"keepalive interval", map[string]string{"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL": "1e1"}, func(c *Config) { c.KeepAliveInterval = 10 * time.Second }},
		{"background enabled", map[string]string{"OMNICOREAGENT_BACKGROUND_ENABLED": "false"}, func(c *Config) { c.BackgroundEnabled = false }},
		{"background agent id", map[string]string{"OMNICOREAGENT_BACKGROUND_AGENT_ID": "support"}, func(c *Config) { c.BackgroundAgentID = "support" }},
		{"background start worker", map[string]string{"OMNICOREAGENT_BACKGROUND_START_WORKER": "no"}, func(c *Config) { c.BackgroundStartWorker = false }},
		{
			"mongodb task store settings",
			map[string]string{
				"OMNICOREAGENT_BACKGROUND_TASK_STORE":                   "mongodb",
				"OMNICOREAGENT_BACKGROUND_TASK_STORE_URI":               "mongodb://db:27017",
				"OMNICOREAGENT_BACKGROUND_TASK_STORE_DATABASE":          "agents",
				"OMNICOREAGENT_BACKGROUND_TASK_STORE_COLLECTION_PREFIX": "bg",
				"OMNICOREAGENT_BACKGROUND_TASK_STORE_CONNECT_TIMEOUT":   "2.5",
			},
			func(c *Config) {
				c.BackgroundTaskStore = "mongodb"
				c.BackgroundTaskStoreURI = "mongodb://db:27017"
				c.BackgroundTaskStoreDatabase = "agents"
				c.BackgroundTaskStoreCollectionPrefix = "bg"
				c.BackgroundTaskStoreConnectTimeout = 2500 * time.Millisecond
			},
		},
		{
			"redis task store settings",
			map[string]string{
				"OMNICOREAGENT_BACKGROUND_TASK_STORE":        "redis",
				"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL":    "redis://cache:6379/0",
				"OMNICOREAGENT_BACKGROUND_TASK_STORE_PREFIX": "myapp",
			},
			func(c *Config) {
				c.BackgroundTaskStore = "redis"
				c.BackgroundTaskStoreURL = "redis://cache:6379/0"
				c.BackgroundTaskStorePrefix = "myapp"
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := Default()
			tt.want(&want)
			got, err := Load(Default(), env(tt.env))
			if err != nil {
				t.Fatalf("Load() error = %v, want nil", err)
			}
			if diff := cmp.Diff(want, got, ignoreSources, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
				t.Errorf("Load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name string
		code func(*Config)
		env  map[string]string
		want []string
	}{
		// Parse errors.
		{name: "bool", env: map[string]string{"OMNICOREAGENT_SERVE_ENABLE_DOCS": "maybe"}, want: []string{"OMNICOREAGENT_SERVE_ENABLE_DOCS must be a boolean value"}},
		{name: "bool background", env: map[string]string{"OMNICOREAGENT_BACKGROUND_START_WORKER": "y"}, want: []string{"OMNICOREAGENT_BACKGROUND_START_WORKER must be a boolean value"}},
		{name: "int", env: map[string]string{"OMNICOREAGENT_SERVE_PORT": "80a"}, want: []string{"OMNICOREAGENT_SERVE_PORT must be an integer"}},
		{name: "int rejects fraction", env: map[string]string{"OMNICOREAGENT_SERVE_WORKERS": "1.0"}, want: []string{"OMNICOREAGENT_SERVE_WORKERS must be an integer"}},
		{name: "int seconds", env: map[string]string{"OMNICOREAGENT_SERVE_REQUEST_TIMEOUT": "1.5"}, want: []string{"OMNICOREAGENT_SERVE_REQUEST_TIMEOUT must be an integer"}},
		{name: "int seconds too large", env: map[string]string{"OMNICOREAGENT_SERVE_RATE_LIMIT_WINDOW": "99999999999"}, want: []string{"OMNICOREAGENT_SERVE_RATE_LIMIT_WINDOW is too large"}},
		{name: "rate limit requests", env: map[string]string{"OMNICOREAGENT_SERVE_RATE_LIMIT_REQUESTS": "many"}, want: []string{"OMNICOREAGENT_SERVE_RATE_LIMIT_REQUESTS must be an integer"}},
		{name: "max concurrent runs word", env: map[string]string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS": "lots"}, want: []string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS must be an integer"}},
		{name: "max concurrent runs fraction", env: map[string]string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS": "2.5"}, want: []string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS must be an integer"}},
		{name: "max concurrent runs negative", env: map[string]string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS": "-1"}, want: []string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS must be at least 0 (0 means unlimited)"}},
		{name: "float", env: map[string]string{"OMNICOREAGENT_SERVE_RUN_ADMISSION_WAIT": "soon"}, want: []string{"OMNICOREAGENT_SERVE_RUN_ADMISSION_WAIT must be a number"}},
		{name: "float NaN", env: map[string]string{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE": "NaN"}, want: []string{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE must be a number"}},
		{name: "float Inf", env: map[string]string{"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL": "inf"}, want: []string{"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL must be a number"}},
		{name: "float too large", env: map[string]string{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE": "1e300"}, want: []string{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE is too large"}},
		{name: "connect timeout", env: map[string]string{"OMNICOREAGENT_BACKGROUND_TASK_STORE_CONNECT_TIMEOUT": "fast"}, want: []string{"OMNICOREAGENT_BACKGROUND_TASK_STORE_CONNECT_TIMEOUT must be a number"}},
		{name: "max body bytes", env: map[string]string{"OMNICOREAGENT_SERVE_MAX_BODY_BYTES": "1MiB"}, want: []string{"OMNICOREAGENT_SERVE_MAX_BODY_BYTES must be an integer"}},
		{
			name: "trusted proxies name every bad entry",
			env:  map[string]string{"OMNICOREAGENT_SERVE_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local,10.0.0/8,fe80::1%eth0,1.2.3.4/33"},
			want: []string{
				`OMNICOREAGENT_SERVE_TRUSTED_PROXIES entry "proxy.local" is not an IP address or CIDR prefix`,
				`OMNICOREAGENT_SERVE_TRUSTED_PROXIES entry "10.0.0/8" is not an IP address or CIDR prefix`,
				`OMNICOREAGENT_SERVE_TRUSTED_PROXIES entry "fe80::1%eth0" is not an IP address or CIDR prefix`,
				`OMNICOREAGENT_SERVE_TRUSTED_PROXIES entry "1.2.3.4/33" is not an IP address or CIDR prefix`,
			},
		},

		// Validation, values from the environment.
		{name: "host blank", env: map[string]string{"OMNICOREAGENT_SERVE_HOST": "  "}, want: []string{"OMNICOREAGENT_SERVE_HOST must not be empty"}},
		{name: "port zero", env: map[string]string{"OMNICOREAGENT_SERVE_PORT": "0"}, want: []string{"OMNICOREAGENT_SERVE_PORT must be between 1 and 65535"}},
		{name: "port too high", env: map[string]string{"OMNICOREAGENT_SERVE_PORT": "65536"}, want: []string{"OMNICOREAGENT_SERVE_PORT must be between 1 and 65535"}},
		{name: "workers", env: map[string]string{"OMNICOREAGENT_SERVE_WORKERS": "4"}, want: []string{"OMNICOREAGENT_SERVE_WORKERS must be 1 for direct OmniServe. Run multiple OmniServe processes behind a process manager for horizontal scaling."}},
		{name: "api prefix whitespace", env: map[string]string{"OMNICOREAGENT_SERVE_API_PREFIX": "/api v1"}, want: []string{"OMNICOREAGENT_SERVE_API_PREFIX must not contain whitespace"}},
		{name: "log level", env: map[string]string{"OMNICOREAGENT_SERVE_LOG_LEVEL": "verbose"}, want: []string{"OMNICOREAGENT_SERVE_LOG_LEVEL must be one of: CRITICAL, DEBUG, ERROR, INFO, TRACE, WARNING"}},
		{name: "auth without token", env: map[string]string{"OMNICOREAGENT_SERVE_AUTH_ENABLED": "true"}, want: []string{"OMNICOREAGENT_SERVE_AUTH_TOKEN is required when OMNICOREAGENT_SERVE_AUTH_ENABLED=true"}},
		{name: "auth with blank token", env: map[string]string{"OMNICOREAGENT_SERVE_AUTH_ENABLED": "true", "OMNICOREAGENT_SERVE_AUTH_TOKEN": "   "}, want: []string{"OMNICOREAGENT_SERVE_AUTH_TOKEN is required when OMNICOREAGENT_SERVE_AUTH_ENABLED=true"}},
		{
			name: "rate limit requests and window",
			env: map[string]string{
				"OMNICOREAGENT_SERVE_RATE_LIMIT_ENABLED":  "on",
				"OMNICOREAGENT_SERVE_RATE_LIMIT_REQUESTS": "0",
				"OMNICOREAGENT_SERVE_RATE_LIMIT_WINDOW":   "0",
			},
			want: []string{
				"OMNICOREAGENT_SERVE_RATE_LIMIT_REQUESTS must be at least 1 when rate limiting is enabled",
				"OMNICOREAGENT_SERVE_RATE_LIMIT_WINDOW must be at least 1 when rate limiting is enabled",
			},
		},
		{name: "run admission wait negative", env: map[string]string{"OMNICOREAGENT_SERVE_RUN_ADMISSION_WAIT": "-0.5"}, want: []string{"OMNICOREAGENT_SERVE_RUN_ADMISSION_WAIT must be at least 0"}},
		{name: "max body bytes zero", env: map[string]string{"OMNICOREAGENT_SERVE_MAX_BODY_BYTES": "0"}, want: []string{"OMNICOREAGENT_SERVE_MAX_BODY_BYTES must be at least 1"}},
		{name: "shutdown grace negative", env: map[string]string{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE": "-1"}, want: []string{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE must be at least 0"}},
		{name: "telemetry sql without url", env: map[string]string{"OMNICOREAGENT_TELEMETRY_STORE": "sql"}, want: []string{"OMNICOREAGENT_TELEMETRY_STORE=sql requires OMNICOREAGENT_TELEMETRY_STORE_URL"}},
		{name: "telemetry unknown", env: map[string]string{"OMNICOREAGENT_TELEMETRY_STORE": "redis"}, want: []string{"OMNICOREAGENT_TELEMETRY_STORE must be one of: in_memory, sql"}},
		{name: "memory sql without url", env: map[string]string{"OMNICOREAGENT_MEMORY_STORE": "sql"}, want: []string{"OMNICOREAGENT_MEMORY_STORE=sql requires DATABASE_URL"}},
		{name: "background concurrency zero", env: map[string]string{"OMNICOREAGENT_BACKGROUND_CONCURRENCY": "0"}, want: []string{"OMNICOREAGENT_BACKGROUND_CONCURRENCY must be at least 1"}},
		{name: "lease too short", env: map[string]string{"OMNICOREAGENT_BACKGROUND_LEASE_SECONDS": "0.5"}, want: []string{"OMNICOREAGENT_BACKGROUND_LEASE_SECONDS must be at least 1"}},
		{name: "workspace backend s3", env: map[string]string{"OMNICOREAGENT_WORKSPACE_BACKEND": "s3"}, want: []string{"OMNICOREAGENT_WORKSPACE_BACKEND must be local (the S3 and R2 backends are not available yet)"}},
		{name: "stream lag zero", env: map[string]string{"OMNICOREAGENT_SERVE_STREAM_MAX_LAG": "0"}, want: []string{"OMNICOREAGENT_SERVE_STREAM_MAX_LAG must be at least 1"}},
		{name: "shutdown delay negative", env: map[string]string{"OMNICOREAGENT_SERVE_SHUTDOWN_DELAY": "-1"}, want: []string{"OMNICOREAGENT_SERVE_SHUTDOWN_DELAY must be at least 0"}},
		{name: "keepalive zero", env: map[string]string{"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL": "0"}, want: []string{"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL must be greater than 0"}},
		{name: "background agent id blank", env: map[string]string{"OMNICOREAGENT_BACKGROUND_AGENT_ID": " "}, want: []string{"OMNICOREAGENT_BACKGROUND_AGENT_ID must not be empty"}},
		{name: "connect timeout negative", env: map[string]string{"OMNICOREAGENT_BACKGROUND_TASK_STORE_CONNECT_TIMEOUT": "-1"}, want: []string{"OMNICOREAGENT_BACKGROUND_TASK_STORE_CONNECT_TIMEOUT must be at least 0"}},
		{name: "task store name", env: map[string]string{"OMNICOREAGENT_BACKGROUND_TASK_STORE": "postgres"}, want: []string{"OMNICOREAGENT_BACKGROUND_TASK_STORE must be one of: in_memory, sql, redis, mongodb"}},
		{
			name: "uri with sql",
			env:  map[string]string{"OMNICOREAGENT_BACKGROUND_TASK_STORE": "sql", "OMNICOREAGENT_BACKGROUND_TASK_STORE_URI": "mongodb://db"},
			want: []string{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URI can only be used with the MongoDB background task store"},
		},
		{
			name: "url with mongodb",
			env:  map[string]string{"OMNICOREAGENT_BACKGROUND_TASK_STORE": "mongodb", "OMNICOREAGENT_BACKGROUND_TASK_STORE_URL": "redis://cache"},
			want: []string{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL can only be used with the SQL or Redis background task store"},
		},
		{
			name: "mongodb without uri ignores MONGODB_URI",
			env:  map[string]string{"OMNICOREAGENT_BACKGROUND_TASK_STORE": "mongodb", "MONGODB_URI": "mongodb://db"},
			want: []string{"MongoDB background task store requires OMNICOREAGENT_BACKGROUND_TASK_STORE_URI"},
		},
		{
			name: "redis without url ignores REDIS_URL",
			env:  map[string]string{"OMNICOREAGENT_BACKGROUND_TASK_STORE": "redis", "REDIS_URL": "redis://cache"},
			want: []string{"Redis background task store requires OMNICOREAGENT_BACKGROUND_TASK_STORE_URL"},
		},

		// Validation names the variable even when the value came from code.
		{name: "code host", code: func(c *Config) { c.Host = "" }, want: []string{"OMNICOREAGENT_SERVE_HOST must not be empty"}},
		{name: "code port", code: func(c *Config) { c.Port = -1 }, want: []string{"OMNICOREAGENT_SERVE_PORT must be between 1 and 65535"}},
		{name: "code workers", code: func(c *Config) { c.Workers = 0 }, want: []string{msgWorkers}},
		{name: "code api prefix", code: func(c *Config) { c.APIPrefix = "api\tv1" }, want: []string{"OMNICOREAGENT_SERVE_API_PREFIX must not contain whitespace"}},
		{name: "code log level", code: func(c *Config) { c.LogLevel = "" }, want: []string{"OMNICOREAGENT_SERVE_LOG_LEVEL must be one of: CRITICAL, DEBUG, ERROR, INFO, TRACE, WARNING"}},
		{name: "code auth", code: func(c *Config) { c.AuthEnabled = true }, want: []string{msgAuth}},
		{name: "code rate limit window below a second", code: func(c *Config) { c.RateLimitEnabled = true; c.RateLimitWindow = 500 * time.Millisecond }, want: []string{"OMNICOREAGENT_SERVE_RATE_LIMIT_WINDOW must be at least 1 when rate limiting is enabled"}},
		{name: "code max concurrent runs", code: func(c *Config) { c.MaxConcurrentRuns = -3 }, want: []string{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS must be at least 0 (0 means unlimited)"}},
		{name: "code max body bytes", code: func(c *Config) { c.MaxBodyBytes = -1 }, want: []string{"OMNICOREAGENT_SERVE_MAX_BODY_BYTES must be at least 1"}},
		{name: "code trusted proxy", code: func(c *Config) { c.TrustedProxies = []netip.Prefix{{}} }, want: []string{`OMNICOREAGENT_SERVE_TRUSTED_PROXIES contains an invalid prefix "invalid Prefix"`}},
		{name: "code keepalive", code: func(c *Config) { c.KeepAliveInterval = 0 }, want: []string{"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL must be greater than 0"}},
		{name: "code task store", code: func(c *Config) { c.BackgroundTaskStore = "" }, want: []string{"OMNICOREAGENT_BACKGROUND_TASK_STORE must be one of: in_memory, sql, redis, mongodb"}},

		// Several problems are all reported: parse errors in table order,
		// then validation errors in field order.
		{
			name: "everything at once",
			code: func(c *Config) { c.Workers = 2 },
			env: map[string]string{
				"OMNICOREAGENT_SERVE_PORT":               "http",
				"OMNICOREAGENT_SERVE_LOG_LEVEL":          "loud",
				"OMNICOREAGENT_SERVE_HOST":               " ",
				"OMNICOREAGENT_SERVE_ENABLE_DOCS":        "sure",
				"OMNICOREAGENT_SERVE_AUTH_ENABLED":       "1",
				"OMNICOREAGENT_BACKGROUND_TASK_STORE":    "redis",
				"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL": "x",
			},
			want: []string{
				"OMNICOREAGENT_SERVE_PORT must be an integer",
				"OMNICOREAGENT_SERVE_ENABLE_DOCS must be a boolean value",
				"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL must be a number",
				"OMNICOREAGENT_SERVE_HOST must not be empty",
				msgWorkers,
				"OMNICOREAGENT_SERVE_LOG_LEVEL must be one of: CRITICAL, DEBUG, ERROR, INFO, TRACE, WARNING",
				msgAuth,
				"Redis background task store requires OMNICOREAGENT_BACKGROUND_TASK_STORE_URL",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := Default()
			if tt.code != nil {
				tt.code(&code)
			}
			got, err := Load(code, env(tt.env))
			if err == nil {
				t.Fatalf("Load() error = nil, want %q", tt.want)
			}
			if diff := cmp.Diff(tt.want, strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Load() error mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(Config{}, got, ignoreSources); diff != "" {
				t.Errorf("Load() returned a non-zero Config with its error (-want +got):\n%s", diff)
			}
			if tt.env == nil {
				// Code-only problems must read the same through Validate.
				if verr := code.Validate(); verr == nil || verr.Error() != err.Error() {
					t.Errorf("Validate() = %v, want %v", verr, err)
				}
			}
		})
	}
}

func TestAPIPrefixNormalised(t *testing.T) {
	tests := []struct {
		name string
		code string
		env  string
		want string
	}{
		{name: "empty", code: "", want: ""},
		{name: "slash", code: "/", want: ""},
		{name: "spaces only", code: "   ", want: ""},
		{name: "leading slash added", code: "api", want: "/api"},
		{name: "trailing slash removed", code: "/api/", want: "/api"},
		{name: "surrounding space trimmed", code: "  /api/v1  ", want: "/api/v1"},
		{name: "several trailing slashes", code: "/api//", want: "/api"},
		{name: "already canonical", code: "/api/v1", want: "/api/v1"},
		{name: "env api/v1/", code: "/ignored", env: "api/v1/", want: "/api/v1"},
		{name: "env slash clears code", code: "/api", env: "/", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code := Default()
			code.APIPrefix = tt.code
			got, err := Load(code, env(map[string]string{"OMNICOREAGENT_SERVE_API_PREFIX": tt.env}))
			if err != nil {
				t.Fatalf("Load() error = %v, want nil", err)
			}
			if got.APIPrefix != tt.want {
				t.Errorf("APIPrefix = %q, want %q", got.APIPrefix, tt.want)
			}
		})
	}
}

func TestTaskStore(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*Config)
		want    TaskStore
		wantErr string
	}{
		{
			name: "default is in memory",
			set:  func(*Config) {},
			want: TaskStore{Backend: StoreInMemory},
		},
		{
			name: "sql without url uses the default SQLite file",
			set:  func(c *Config) { c.BackgroundTaskStore = "sql"; c.BackgroundTaskStorePrefix = "t_" },
			want: TaskStore{Backend: StoreSQL, URL: "sqlite:///.omnicoreagent/background.db", Prefix: "t_"},
		},
		{
			name: "url alone promotes in_memory to sql",
			set: func(c *Config) {
				c.BackgroundTaskStoreURL = "postgresql://db/agents"
				c.BackgroundTaskStoreConnectTimeout = 3 * time.Second
			},
			want: TaskStore{Backend: StoreSQL, URL: "postgresql://db/agents", ConnectTimeout: 3 * time.Second},
		},
		{
			name: "url with redis",
			set: func(c *Config) {
				c.BackgroundTaskStore = "redis"
				c.BackgroundTaskStoreURL = "redis://cache:6379"
				c.BackgroundTaskStorePrefix = "app"
			},
			want: TaskStore{Backend: StoreRedis, URL: "redis://cache:6379", Prefix: "app"},
		},
		{
			name: "uri alone selects mongodb with the default database",
			set:  func(c *Config) { c.BackgroundTaskStoreURI = "mongodb://db" },
			want: TaskStore{Backend: StoreMongoDB, URI: "mongodb://db", Database: "omnicoreagent"},
		},
		{
			name: "uri with mongodb and settings",
			set: func(c *Config) {
				c.BackgroundTaskStore = "mongodb"
				c.BackgroundTaskStoreURI = "mongodb://db"
				c.BackgroundTaskStoreDatabase = "agents"
				c.BackgroundTaskStoreCollectionPrefix = "bg"
				c.BackgroundTaskStoreConnectTimeout = time.Second
			},
			want: TaskStore{Backend: StoreMongoDB, URI: "mongodb://db", Database: "agents", CollectionPrefix: "bg", ConnectTimeout: time.Second},
		},
		{
			name: "uri wins over url",
			set: func(c *Config) {
				c.BackgroundTaskStoreURI = "mongodb://db"
				c.BackgroundTaskStoreURL = "redis://cache"
			},
			want: TaskStore{Backend: StoreMongoDB, URI: "mongodb://db", Database: "omnicoreagent"},
		},
		{
			name:    "uri with redis",
			set:     func(c *Config) { c.BackgroundTaskStore = "redis"; c.BackgroundTaskStoreURI = "mongodb://db" },
			wantErr: "OMNICOREAGENT_BACKGROUND_TASK_STORE_URI can only be used with the MongoDB background task store",
		},
		{
			name:    "url with mongodb",
			set:     func(c *Config) { c.BackgroundTaskStore = "mongodb"; c.BackgroundTaskStoreURL = "sqlite:///x.db" },
			wantErr: "OMNICOREAGENT_BACKGROUND_TASK_STORE_URL can only be used with the SQL or Redis background task store",
		},
		{
			name:    "mongodb without uri",
			set:     func(c *Config) { c.BackgroundTaskStore = "mongodb" },
			wantErr: "MongoDB background task store requires OMNICOREAGENT_BACKGROUND_TASK_STORE_URI",
		},
		{
			name:    "redis without url",
			set:     func(c *Config) { c.BackgroundTaskStore = "redis" },
			wantErr: "Redis background task store requires OMNICOREAGENT_BACKGROUND_TASK_STORE_URL",
		},
		{
			name:    "unknown backend",
			set:     func(c *Config) { c.BackgroundTaskStore = "SQL" },
			wantErr: "OMNICOREAGENT_BACKGROUND_TASK_STORE must be one of: in_memory, sql, redis, mongodb",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.set(&c)
			got, err := c.TaskStore()
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("TaskStore() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("TaskStore() error = %v, want nil", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("TaskStore() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSlogLevel(t *testing.T) {
	tests := []struct {
		level string
		want  slog.Level
	}{
		{"TRACE", slog.LevelDebug - 4},
		{"DEBUG", slog.LevelDebug},
		{"INFO", slog.LevelInfo},
		{"WARNING", slog.LevelWarn},
		{"ERROR", slog.LevelError},
		{"CRITICAL", slog.LevelError + 4},
		{"warning", slog.LevelWarn},
		{"bogus", slog.LevelInfo},
	}
	for _, tt := range tests {
		t.Run(tt.level, func(t *testing.T) {
			c := Default()
			c.LogLevel = tt.level
			if got := c.SlogLevel(); got != tt.want {
				t.Errorf("SlogLevel() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAddr(t *testing.T) {
	tests := []struct {
		host string
		port int
		want string
	}{
		{"0.0.0.0", 8000, "0.0.0.0:8000"},
		{"::1", 9000, "[::1]:9000"},
	}
	for _, tt := range tests {
		c := Default()
		c.Host, c.Port = tt.host, tt.port
		if got := c.Addr(); got != tt.want {
			t.Errorf("Addr() with host %q port %d = %q, want %q", tt.host, tt.port, got, tt.want)
		}
	}
}

func TestStoreChoices(t *testing.T) {
	tests := []struct {
		env               map[string]string
		telemetry, memory StoreChoice
	}{
		{nil, StoreChoice{Backend: "in_memory"}, StoreChoice{Backend: "in_memory"}},
		{map[string]string{"OMNICOREAGENT_TELEMETRY_STORE_URL": "sqlite:///e.db"}, StoreChoice{Backend: "sql", URL: "sqlite:///e.db"}, StoreChoice{Backend: "in_memory"}},
		// DATABASE_URL alone does not move memory: it often exists for other reasons.
		{map[string]string{"DATABASE_URL": "postgres://h/db"}, StoreChoice{Backend: "in_memory"}, StoreChoice{Backend: "in_memory"}},
		{map[string]string{"OMNICOREAGENT_MEMORY_STORE": "sql", "DATABASE_URL": "postgres://h/db"}, StoreChoice{Backend: "in_memory"}, StoreChoice{Backend: "sql", URL: "postgres://h/db"}},
	}
	for _, tt := range tests {
		c, err := Load(Default(), env(tt.env))
		if err != nil {
			t.Fatalf("%v: %v", tt.env, err)
		}
		tel, _ := c.TelemetryStore()
		mem, _ := c.MemoryStore()
		if tel != tt.telemetry || mem != tt.memory {
			t.Errorf("%v: telemetry %+v memory %+v", tt.env, tel, mem)
		}
	}
}
