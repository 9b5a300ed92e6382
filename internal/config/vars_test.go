package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestVars(t *testing.T) {
	// Every variable of the original server, plus ours, with its field name
	// and default as the variable spells it.
	want := []struct{ name, field, def string }{
		{"OMNICOREAGENT_SERVE_HOST", "host", "0.0.0.0"},
		{"OMNICOREAGENT_SERVE_PORT", "port", "8000"},
		{"OMNICOREAGENT_SERVE_WORKERS", "workers", "1"},
		{"OMNICOREAGENT_SERVE_API_PREFIX", "api_prefix", ""},
		{"OMNICOREAGENT_SERVE_ENABLE_DOCS", "enable_docs", "true"},
		{"OMNICOREAGENT_SERVE_ENABLE_REDOC", "enable_redoc", "true"},
		{"OMNICOREAGENT_SERVE_CORS_ENABLED", "cors_enabled", "true"},
		{"OMNICOREAGENT_SERVE_CORS_ORIGINS", "cors_origins", "*"},
		{"OMNICOREAGENT_SERVE_CORS_METHODS", "cors_methods", "*"},
		{"OMNICOREAGENT_SERVE_CORS_HEADERS", "cors_headers", "*"},
		{"OMNICOREAGENT_SERVE_CORS_CREDENTIALS", "cors_credentials", "true"},
		{"OMNICOREAGENT_SERVE_AUTH_ENABLED", "auth_enabled", "false"},
		{"OMNICOREAGENT_SERVE_AUTH_TOKEN", "auth_token", ""},
		{"OMNICOREAGENT_SERVE_REQUEST_LOGGING", "request_logging", "true"},
		{"OMNICOREAGENT_SERVE_LOG_LEVEL", "log_level", "INFO"},
		{"OMNICOREAGENT_SERVE_REQUEST_TIMEOUT", "request_timeout", "300"},
		{"OMNICOREAGENT_SERVE_RATE_LIMIT_ENABLED", "rate_limit_enabled", "false"},
		{"OMNICOREAGENT_SERVE_RATE_LIMIT_REQUESTS", "rate_limit_requests", "100"},
		{"OMNICOREAGENT_SERVE_RATE_LIMIT_WINDOW", "rate_limit_window", "60"},
		{"OMNICOREAGENT_SERVE_MAX_CONCURRENT_RUNS", "max_concurrent_runs", "64"},
		{"OMNICOREAGENT_SERVE_RUN_ADMISSION_WAIT", "run_admission_wait_seconds", "5"},
		{"OMNICOREAGENT_SERVE_MAX_BODY_BYTES", "max_body_bytes", "1048576"},
		{"OMNICOREAGENT_SERVE_TRUSTED_PROXIES", "trusted_proxies", ""},
		{"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE", "shutdown_grace", "30"},
		{"OMNICOREAGENT_SERVE_SHUTDOWN_DELAY", "shutdown_delay", "0"},
		{"OMNICOREAGENT_SERVE_KEEPALIVE_INTERVAL", "keepalive_interval", "15"},
		{"OMNICOREAGENT_SERVE_STREAM_MAX_LAG", "stream_max_lag", "10000"},
		{"OMNICOREAGENT_BACKGROUND_ENABLED", "background_enabled", "true"},
		{"OMNICOREAGENT_BACKGROUND_AGENT_ID", "background_agent_id", "default"},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE", "background_task_store", "in_memory"},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL", "background_task_store_url", ""},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URI", "background_task_store_uri", ""},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_DATABASE", "background_task_store_database", ""},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_PREFIX", "background_task_store_prefix", ""},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_COLLECTION_PREFIX", "background_task_store_collection_prefix", ""},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_CONNECT_TIMEOUT", "background_task_store_connect_timeout", "0"},
		{"OMNICOREAGENT_BACKGROUND_START_WORKER", "background_start_worker", "true"},
		{"OMNICOREAGENT_BACKGROUND_CONCURRENCY", "background_concurrency", "4"},
		{"OMNICOREAGENT_BACKGROUND_LEASE_SECONDS", "background_lease_seconds", "30"},
		{"OMNICOREAGENT_WORKSPACE_BACKEND", "workspace_backend", "local"},
		{"OMNICOREAGENT_TELEMETRY_STORE", "telemetry_store", "in_memory"},
		{"OMNICOREAGENT_TELEMETRY_STORE_URL", "telemetry_store_url", ""},
		{"OMNICOREAGENT_MEMORY_STORE", "memory_store", "in_memory"},
		{"DATABASE_URL", "database_url", ""},
		{"OMNICOREAGENT_WORKSPACE_DIR", "workspace_dir", "./workspace"},
	}
	vars := Vars()
	if len(vars) != len(want) {
		t.Fatalf("len(Vars()) = %d, want %d", len(vars), len(want))
	}
	for i, v := range vars {
		w := want[i]
		if v.Name != w.name || v.Field != w.field || v.Default != w.def {
			t.Errorf("Vars()[%d] = {%q, %q, default %q}, want {%q, %q, default %q}", i, v.Name, v.Field, v.Default, w.name, w.field, w.def)
		}
		if v.Description == "" {
			t.Errorf("Vars()[%d] (%s) has no description", i, v.Name)
		}
		if got, want := v.Secret, v.Name == "OMNICOREAGENT_SERVE_AUTH_TOKEN"; got != want {
			t.Errorf("Vars()[%d] (%s).Secret = %v, want %v", i, v.Name, got, want)
		}
	}
}

// TestDefaultsRoundTrip sets every variable to its documented default and
// checks Load lands on Default, so Vars and the parsers agree.
func TestDefaultsRoundTrip(t *testing.T) {
	pairs := map[string]string{}
	for _, v := range Vars() {
		pairs[v.Name] = v.Default
	}
	got, err := Load(Default(), env(pairs))
	if err != nil {
		t.Fatalf("Load() error = %v, want nil", err)
	}
	if diff := cmp.Diff(Default(), got, ignoreSources); diff != "" {
		t.Errorf("Load(defaults as env) mismatch (-want +got):\n%s", diff)
	}
}

func TestValues(t *testing.T) {
	code := Default()
	code.Port = 9000                              // code, overridden by env below
	code.Host = "127.0.0.1"                       // code
	code.LogLevel = "INFO"                        // code, but equal to the default
	code.AuthToken = "short"                      // code, masked
	code.RequestTimeout = 1500 * time.Millisecond // code, fractional seconds
	code.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	c, err := Load(code, env(map[string]string{
		"OMNICOREAGENT_SERVE_PORT":                "9100",
		"OMNICOREAGENT_SERVE_AUTH_ENABLED":        "true",
		"OMNICOREAGENT_SERVE_CORS_ORIGINS":        "https://a.example, https://b.example",
		"OMNICOREAGENT_BACKGROUND_TASK_STORE":     "redis",
		"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL": "redis://user:hunter2@cache:6379/0",
	}))
	if err != nil {
		t.Fatalf("Load() error = %v, want nil", err)
	}
	got := map[string]Value{}
	for _, v := range c.Values() {
		got[v.Name] = v
	}
	if len(got) != len(Vars()) {
		t.Errorf("Values() has %d settings, want %d", len(got), len(Vars()))
	}
	tests := []struct {
		name   string
		value  string
		source Source
	}{
		{"OMNICOREAGENT_SERVE_PORT", "9100", SourceEnv},
		{"OMNICOREAGENT_SERVE_HOST", "127.0.0.1", SourceCode},
		{"OMNICOREAGENT_SERVE_LOG_LEVEL", "INFO", SourceDefault},
		{"OMNICOREAGENT_SERVE_WORKERS", "1", SourceDefault},
		{"OMNICOREAGENT_SERVE_AUTH_ENABLED", "true", SourceEnv},
		{"OMNICOREAGENT_SERVE_AUTH_TOKEN", "****", SourceCode},
		{"OMNICOREAGENT_SERVE_REQUEST_TIMEOUT", "1.5", SourceCode},
		{"OMNICOREAGENT_SERVE_CORS_ORIGINS", "https://a.example,https://b.example", SourceEnv},
		{"OMNICOREAGENT_SERVE_TRUSTED_PROXIES", "10.0.0.0/8", SourceCode},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE", "redis", SourceEnv},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL", "redis://user:xxxxx@cache:6379/0", SourceEnv},
		{"OMNICOREAGENT_BACKGROUND_TASK_STORE_URI", "", SourceDefault},
	}
	for _, tt := range tests {
		v, ok := got[tt.name]
		if !ok {
			t.Errorf("Values() lacks %s", tt.name)
			continue
		}
		if v.Value != tt.value || v.Source != tt.source {
			t.Errorf("Values()[%s] = (%q, %s), want (%q, %s)", tt.name, v.Value, v.Source, tt.value, tt.source)
		}
	}

	long := Default()
	long.AuthToken = "abcd-secret-token-wxyz"
	for _, v := range long.Values() {
		if v.Name == "OMNICOREAGENT_SERVE_AUTH_TOKEN" && v.Value != "abcd****wxyz" {
			t.Errorf("Values() auth token = %q, want %q", v.Value, "abcd****wxyz")
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"a", "****"},
		{"12345678", "****"},
		{"123456789", "1234****6789"},
		{"sk-live-0123456789abcdef", "sk-l****cdef"},
		{"äöüßäöüßé", "äöüß****öüßé"},
	}
	for _, tt := range tests {
		if got := Mask(tt.in); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"redis://cache:6379/0", "redis://cache:6379/0"},
		{"redis://:hunter2@cache:6379", "redis://:xxxxx@cache:6379"},
		{"mongodb+srv://app:pw@cluster.example/db", "mongodb+srv://app:xxxxx@cluster.example/db"},
		{"sqlite:///.omnicoreagent/background.db", "sqlite:///.omnicoreagent/background.db"},
		{"postgres://u:p@[::1", "post****[::1"},
	}
	for _, tt := range tests {
		if got := redactURL(tt.in); got != tt.want {
			t.Errorf("redactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
