package cli

import (
	"bufio"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// testdataDir is absolute because some tests change directory.
var testdataDir = func() string {
	d, err := filepath.Abs("testdata")
	if err != nil {
		return "testdata"
	}
	return d
}()

// golden compares got with testdata/name, or rewrites the file under -update.
func golden(t *testing.T, name string, got string) {
	t.Helper()
	path := filepath.Join(testdataDir, name)
	if *update {
		if err := os.MkdirAll(testdataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s mismatch (-want +got), run go test -update if the change is intended:\n%s", name, diff)
	}
}

// showEnv is the fixed environment of the --show golden file: some
// settings from the environment, a token to mask and a store URL whose
// password must be hidden.
var showEnv = map[string]string{
	"OMNICOREAGENT_SERVE_PORT":                "9090",
	"OMNICOREAGENT_SERVE_API_PREFIX":          "api/v1/",
	"OMNICOREAGENT_SERVE_AUTH_ENABLED":        "yes",
	"OMNICOREAGENT_SERVE_AUTH_TOKEN":          "sk-serve-0123456789abcdef",
	"OMNICOREAGENT_SERVE_CORS_ORIGINS":        "https://a.example, https://b.example",
	"OMNICOREAGENT_BACKGROUND_TASK_STORE":     "redis",
	"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL": "redis://:hunter22@cache:6379/0",
	"OMNICOREAGENT_SERVE_HOST":                "", // empty counts as unset
	"REDIS_URL":                               "redis://ignored:6379/0",
}

func TestConfigShow(t *testing.T) {
	r := runCLI(t, showEnv, neverServe(t), "config", "--show")
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	golden(t, "config_show.golden", r.stdout)
	for _, secret := range []string{"sk-serve-0123456789abcdef", "hunter22"} {
		if strings.Contains(r.stdout, secret) {
			t.Errorf("output shows the secret %q", secret)
		}
	}
	// One line per setting, in the order config.Vars gives.
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	vars := config.Vars()
	if len(lines) != 2+len(vars) {
		t.Fatalf("got %d lines, want %d", len(lines), 2+len(vars))
	}
	for i, v := range vars {
		if !strings.HasPrefix(lines[2+i], "  "+v.Field+": ") {
			t.Errorf("line %d = %q, want the %s setting", 2+i, lines[2+i], v.Field)
		}
	}
}

func TestConfigShowMasksToken(t *testing.T) {
	tests := []struct {
		token, want string
	}{
		{"abcdefghijkl", "  auth_token: abcd****ijkl  (environment: OMNICOREAGENT_SERVE_AUTH_TOKEN)\n"},
		{"abcdefghi", "  auth_token: abcd****fghi  (environment: OMNICOREAGENT_SERVE_AUTH_TOKEN)\n"},
		{"abcdefgh", "  auth_token: ****  (environment: OMNICOREAGENT_SERVE_AUTH_TOKEN)\n"},
		{"abc", "  auth_token: ****  (environment: OMNICOREAGENT_SERVE_AUTH_TOKEN)\n"},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			r := runCLI(t, map[string]string{"OMNICOREAGENT_SERVE_AUTH_TOKEN": tt.token}, neverServe(t), "config", "--show")
			if r.code != ExitOK {
				t.Fatalf("code %d, stderr %q", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, tt.want) {
				t.Errorf("output lacks %q:\n%s", tt.want, r.stdout)
			}
		})
	}
}

func TestConfigUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{"no flag", nil, []string{"config"}, "omniserve config --show"},
		{"both flags", nil, []string{"config", "--show", "--env-example"}, "either --show or --env-example"},
		{"bad port", map[string]string{"OMNICOREAGENT_SERVE_PORT": "eighty"}, []string{"config", "--show"}, "Invalid OmniServe config: OMNICOREAGENT_SERVE_PORT must be an integer"},
		{"auth without token", map[string]string{"OMNICOREAGENT_SERVE_AUTH_ENABLED": "true"}, []string{"config", "--show"}, "Invalid OmniServe config: OMNICOREAGENT_SERVE_AUTH_TOKEN is required when OMNICOREAGENT_SERVE_AUTH_ENABLED=true"},
		{"redis without url", map[string]string{"OMNICOREAGENT_BACKGROUND_TASK_STORE": "redis", "REDIS_URL": "redis://x"}, []string{"config", "--show"}, "Redis background task store requires OMNICOREAGENT_BACKGROUND_TASK_STORE_URL"},
		{"argument", nil, []string{"config", "show"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCLI(t, tt.env, neverServe(t), tt.args...)
			if r.code != ExitUsage {
				t.Errorf("code = %d, want %d", r.code, ExitUsage)
			}
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.want)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
		})
	}
}

func TestConfigEnvExample(t *testing.T) {
	// The template is the same whatever the environment holds.
	r := runCLI(t, showEnv, neverServe(t), "config", "--env-example")
	if r.code != ExitOK {
		t.Fatalf("code %d, stderr %q", r.code, r.stderr)
	}
	golden(t, "config_env_example.golden", r.stdout)

	for _, banned := range []string{"REDIS_URL", "MONGODB_URI"} {
		if strings.Contains(r.stdout, banned) {
			t.Errorf("template mentions %s; OmniServe reads only OMNICOREAGENT_BACKGROUND_TASK_STORE*", banned)
		}
	}
	for _, want := range []string{"Choose one backend", "sqlite:///.omnicoreagent/background.db", "postgresql://", "redis://localhost:6379/0", "mongodb://localhost:27017"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("template lacks %q", want)
		}
	}

	// Only the model key is live; every setting is there, commented out at
	// its default.
	var live []string
	for line := range strings.Lines(r.stdout) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			live = append(live, line)
		}
	}
	if diff := cmp.Diff([]string{"export LLM_API_KEY=your_api_key_here"}, live); diff != "" {
		t.Errorf("uncommented lines (-want +got):\n%s", diff)
	}
	for _, v := range config.Vars() {
		want := "# export " + v.Name + "=" + shellQuote(v.Default) + "\n"
		if !strings.Contains(r.stdout, want) {
			t.Errorf("template lacks %q", want)
		}
	}
}

// TestConfigEnvExampleStoreBlocks uncomments each backend block and checks
// that the configuration accepts it and picks that backend.
func TestConfigEnvExampleStoreBlocks(t *testing.T) {
	r := runCLI(t, nil, neverServe(t), "config", "--env-example")
	_, blocks, ok := strings.Cut(r.stdout, "Choose one backend")
	if !ok {
		t.Fatal("no \"Choose one backend\" heading")
	}
	var got []string
	for block := range strings.SplitSeq(blocks, "\n\n") {
		env := map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(block))
		for sc.Scan() {
			name, value, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# export "), "=")
			if ok && strings.HasPrefix(sc.Text(), "# export ") {
				env[name] = value
			}
		}
		if len(env) == 0 {
			continue
		}
		for name := range env {
			if !strings.HasPrefix(name, "OMNICOREAGENT_BACKGROUND_TASK_STORE") {
				t.Errorf("block sets %s", name)
			}
		}
		cfg, err := config.Load(config.Default(), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			t.Errorf("block %v: %v", env, err)
			continue
		}
		ts, err := cfg.TaskStore()
		if err != nil {
			t.Errorf("block %v: %v", env, err)
			continue
		}
		got = append(got, ts.Backend)
	}
	want := []string{config.StoreSQL, config.StoreSQL, config.StoreRedis, config.StoreMongoDB}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backends (-want +got):\n%s", diff)
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"8000", "8000"},
		{"sqlite:///.omnicoreagent/background.db", "sqlite:///.omnicoreagent/background.db"},
		{"postgresql://u:p@h:5432/db", "postgresql://u:p@h:5432/db"},
		{"*", "'*'"},
		{"a b", "'a b'"},
		{"it's", `'it'\''s'`},
		{"$HOME", "'$HOME'"},
		{"deploy/my dir/Dockerfile", "'deploy/my dir/Dockerfile'"},
	}
	for _, tt := range tests {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
