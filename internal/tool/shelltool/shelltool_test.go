package shelltool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/tool"
)

// newTool builds a tool from cfg, naming it "t" unless cfg names it.
func newTool(t *testing.T, cfg Config) tool.Tool {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "t"
	}
	tl, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return tl
}

// fixedEnv is a LookupEnvFunc over a map.
func fixedEnv(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

// readPID parses a pid file, reporting false while it is missing or
// incomplete.
func readPID(t *testing.T, path string) (int, bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, false
	}
	if err != nil {
		t.Fatalf("read pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, false
	}
	return pid, true
}

func TestNew(t *testing.T) {
	t.Parallel()

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // empty means success
	}{
		{name: "minimal", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}}},
		{name: "program on PATH", cfg: Config{Name: "t", Command: []string{"sh", "-c", "cat"}}},
		{name: "no name", cfg: Config{Command: []string{"testdata/echo.sh"}}, wantErr: "Name must not be empty"},
		{name: "no command", cfg: Config{Name: "t"}, wantErr: "invalid Command"},
		{name: "empty program", cfg: Config{Name: "t", Command: []string{""}}, wantErr: "invalid Command"},
		{name: "NUL in argument", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh", "a\x00b"}}, wantErr: "invalid Command[1]"},
		{name: "missing program", cfg: Config{Name: "t", Command: []string{"omniserve-no-such-program"}}, wantErr: "find program"},
		{name: "missing script", cfg: Config{Name: "t", Command: []string{"testdata/missing.sh"}}, wantErr: "find program"},
		{name: "negative timeout", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Timeout: -time.Second}, wantErr: "invalid Timeout"},
		{name: "negative output cap", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, MaxOutputBytes: -1}, wantErr: "invalid MaxOutputBytes"},
		{name: "bad env name", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Env: map[string]string{"A=B": "x"}}, wantErr: "bad variable name"},
		{name: "NUL in env value", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Env: map[string]string{"TOKEN": "se\x00cret"}}, wantErr: "value of TOKEN contains a NUL byte"},
		{name: "missing workdir", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Workdir: filepath.Join(file, "nope")}, wantErr: "invalid Workdir"},
		{name: "workdir is a file", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Workdir: file}, wantErr: "is not a directory"},
		{name: "schema not JSON", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Parameters: json.RawMessage(`{`)}, wantErr: "parse Parameters"},
		{name: "schema not an object", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Parameters: json.RawMessage(`{"type":"string"}`)}, wantErr: `"type" must be "object"`},
		{name: "schema with bad keyword value", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Parameters: json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer","minimum":"zero"}}}`)}, wantErr: "Parameters"},
		{name: "schema with unresolvable ref", cfg: Config{Name: "t", Command: []string{"testdata/echo.sh"}, Parameters: json.RawMessage(`{"type":"object","properties":{"n":{"$ref":"#/$defs/missing"}}}`)}, wantErr: "resolve Parameters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("New error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestNewSecretNotInError(t *testing.T) {
	t.Parallel()

	_, err := New(Config{Name: "t", Command: []string{"testdata/echo.sh"}, Env: map[string]string{"TOKEN": "hunter2\x00"}})
	if err == nil {
		t.Fatal("New succeeded, want an error")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %q quotes the variable's value", err)
	}
}

func TestDescribe(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name       string
		parameters json.RawMessage
		wantSchema string
	}{
		{name: "default", wantSchema: `{"type":"object","properties":{}}`},
		{name: "null", parameters: json.RawMessage(`null`), wantSchema: `{"type":"object","properties":{}}`},
		{
			name:       "given",
			parameters: json.RawMessage("{\n  \"type\": \"object\",\n  \"properties\": {\"q\": {\"type\": \"string\"}}\n}"),
			wantSchema: `{"type":"object","properties":{"q":{"type":"string"}}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := newTool(t, Config{Name: "grep", Description: "Search files.", Command: []string{"testdata/echo.sh"}, Parameters: tt.parameters})
			got := []string{tl.Name(), tl.Description(), tl.Kind(), string(tl.InputSchema())}
			want := []string{"grep", "Search files.", tool.KindLocal, tt.wantSchema}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("description mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCallStdin(t *testing.T) {
	t.Parallel()

	schema := json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"n":{"type":"integer"}}}`)
	tests := []struct {
		name string
		args string
		want string
	}{
		{name: "object", args: `{"path": "a.txt", "n": 3}`, want: `{"path":"a.txt","n":3}` + "\n"},
		{name: "empty", args: ``, want: "{}\n"},
		{name: "null", args: `null`, want: "{}\n"},
		{name: "multi-line JSON becomes one line", args: "{\n\"path\":\n\"x\"\n}", want: `{"path":"x"}` + "\n"},
		{
			name: "shell syntax is data",
			args: `{"path": "; rm -rf / # $(reboot) ` + "`id`" + ` && echo pwned | sh"}`,
			want: `{"path":"; rm -rf / # $(reboot) ` + "`id`" + ` && echo pwned | sh"}` + "\n",
		},
	}
	tl := newTool(t, Config{Command: []string{"testdata/echo.sh"}, Parameters: schema})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tl.Call(t.Context(), json.RawMessage(tt.args))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if got != tt.want {
				t.Errorf("Call = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestCallArgumentsNeverReachCommandLine runs arguments full of shell syntax
// through a real shell configured with a fixed script: had any of them been
// interpolated, the marker files would exist.
func TestCallArgumentsNeverReachCommandLine(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	tl := newTool(t, Config{Command: []string{"sh", "-c", `read -r line; printf '%s' "$line"`}, Workdir: dir})
	args := `{"a":"; touch pwned1","b":"$(touch pwned2)","c":"` + "`touch pwned3`" + `","d":"' ; touch pwned4 ; '"}`
	got, err := tl.Call(t.Context(), json.RawMessage(args))
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if got != args {
		t.Errorf("Call = %q, want the arguments back unchanged: %q", got, args)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 0 {
		t.Errorf("arguments were executed: workdir holds %v", entries)
	}
}

func TestCallInvalidArguments(t *testing.T) {
	t.Parallel()

	schema := json.RawMessage(`{
		"type": "object",
		"properties": {"path": {"type": "string"}, "n": {"type": "integer", "minimum": 1}},
		"required": ["path"],
		"additionalProperties": false
	}`)
	dir := t.TempDir()
	// The command would leave a file behind if it ever ran.
	tl := newTool(t, Config{Command: []string{"sh", "-c", "touch ran"}, Workdir: dir, Parameters: schema})
	tests := []struct {
		name    string
		args    string
		wantErr string
	}{
		{name: "not JSON", args: `{"path":`, wantErr: "decode arguments"},
		{name: "missing required", args: `{}`, wantErr: "invalid arguments"},
		{name: "wrong type", args: `{"path": 3}`, wantErr: "invalid arguments"},
		{name: "below minimum", args: `{"path": "a", "n": 0}`, wantErr: "invalid arguments"},
		{name: "unknown property", args: `{"path": "a", "extra": true}`, wantErr: "invalid arguments"},
		{name: "not an object", args: `["a"]`, wantErr: "invalid arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tl.Call(t.Context(), json.RawMessage(tt.args))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Call error = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("command ran despite invalid arguments (stat: %v)", err)
	}
}

func TestCallExitStatus(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name    string
		command []string
		want    string
	}{
		{name: "stderr quoted", command: []string{"testdata/fail.sh"}, want: "command t exited with status 3: something went wrong"},
		{name: "no stderr", command: []string{"sh", "-c", "exit 7"}, want: "command t exited with status 7"},
		{name: "signal", command: []string{"sh", "-c", "kill -TERM $$"}, want: "command t was terminated by signal 15"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := newTool(t, Config{Command: tt.command})
			_, err := tl.Call(t.Context(), nil)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("Call error = %v, want it to start with %q", err, tt.want)
			}
		})
	}
}

func TestCallStderrTail(t *testing.T) {
	t.Parallel()

	tl := newTool(t, Config{Command: []string{"testdata/stderr.sh"}})
	_, err := tl.Call(t.Context(), nil)
	if err == nil {
		t.Fatal("Call succeeded, want an error")
	}
	msg := err.Error()
	if !strings.HasSuffix(msg, "the real reason") {
		t.Errorf("error does not end with the last stderr line: %q", msg)
	}
	if strings.Contains(msg, "noise line 0\n") {
		t.Errorf("error quotes the start of a long stderr: %q", msg)
	}
	if !strings.Contains(msg, ": ...") {
		t.Errorf("error does not mark the cut: %q", msg)
	}
	if len(msg) > stderrTailBytes+100 {
		t.Errorf("error is %d bytes, want about %d", len(msg), stderrTailBytes)
	}
}

func TestCallOutputLimit(t *testing.T) {
	t.Parallel()

	args := `{"k":"0123456789"}` // echoed back with a newline: 19 bytes
	tests := []struct {
		name    string
		command []string
		args    string
		max     int64
		wantErr bool
	}{
		{name: "at the limit", command: []string{"testdata/echo.sh"}, args: args, max: 19},
		{name: "one byte over", command: []string{"testdata/echo.sh"}, args: args, max: 18, wantErr: true},
		{name: "endless output", command: []string{"testdata/forever.sh"}, max: 4096, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tl := newTool(t, Config{Command: tt.command, MaxOutputBytes: tt.max})
			got, err := tl.Call(t.Context(), json.RawMessage(tt.args))
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Call: %v", err)
				}
				if int64(len(got)) != tt.max {
					t.Errorf("Call returned %d bytes, want %d", len(got), tt.max)
				}
				return
			}
			if !errors.Is(err, errOutputLimit) || !strings.Contains(err.Error(), "output limit exceeded") {
				t.Fatalf("Call error = %v, want the output limit error", err)
			}
		})
	}
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()

	tl := newTool(t, Config{Command: []string{"testdata/sleep.sh"}, Timeout: 10 * time.Millisecond})
	_, err := tl.Call(t.Context(), nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "command t timed out after 10ms") {
		t.Fatalf("Call error = %v, want a timeout", err)
	}
}

func TestCallCancelledBeforeStart(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	tl := newTool(t, Config{Command: []string{"sh", "-c", "touch ran"}, Workdir: dir})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := tl.Call(ctx, nil)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "command t cancelled") {
		t.Fatalf("Call error = %v, want a cancellation", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ran")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("command ran with a cancelled context (stat: %v)", err)
	}
}

// TestCallCancelKillsGroup cancels a call once its command has started a
// grandchild, and checks the grandchild died with it. The pid travels
// through a FIFO, so the test knows the grandchild exists before it
// cancels, without polling.
func TestCallCancelKillsGroup(t *testing.T) {
	t.Parallel()

	fifo := filepath.Join(t.TempDir(), "pid")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	tl := newTool(t, Config{Command: []string{"testdata/grandchild.sh", fifo}, Timeout: time.Hour})

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := tl.Call(ctx, nil)
		errc <- err
	}()
	// Opening the FIFO blocks until the script opens it to write the pid.
	b, err := os.ReadFile(fifo)
	if err != nil {
		t.Fatalf("read pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("parse pid %q: %v", b, err)
	}
	cancel()
	err = <-errc
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "command t cancelled") {
		t.Fatalf("Call error = %v, want a cancellation", err)
	}
	waitExited(t, pid)
}

// TestCallTimeoutKillsGroup lets a call time out after its command started
// a grandchild. The timeout cannot be aligned with the grandchild's start
// without a hook, so a timeout that fires before the pid is written is
// retried with a longer one; nothing is asserted about durations.
func TestCallTimeoutKillsGroup(t *testing.T) {
	t.Parallel()

	for timeout := 50 * time.Millisecond; ; timeout *= 4 {
		pidFile := filepath.Join(t.TempDir(), "pid")
		tl := newTool(t, Config{Command: []string{"testdata/grandchild.sh", pidFile}, Timeout: timeout})
		_, err := tl.Call(t.Context(), nil)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
			t.Fatalf("Call error = %v, want a timeout", err)
		}
		if pid, ok := readPID(t, pidFile); ok {
			waitExited(t, pid)
			return
		}
		if timeout > 10*time.Second {
			t.Fatal("the command never wrote its grandchild's pid")
		}
	}
}

// TestCallExitKillsLeftovers checks that a grandchild left running by a
// command that exited successfully does not outlive the call, and does not
// hold the call open through the output pipe it inherited.
func TestCallExitKillsLeftovers(t *testing.T) {
	t.Parallel()

	pidFile := filepath.Join(t.TempDir(), "pid")
	tl := newTool(t, Config{Command: []string{"testdata/background.sh", pidFile}, Timeout: time.Hour})
	got, err := tl.Call(t.Context(), nil)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if got != "done\n" {
		t.Errorf("Call = %q, want %q", got, "done\n")
	}
	pid, ok := readPID(t, pidFile)
	if !ok {
		t.Fatal("no grandchild pid")
	}
	waitExited(t, pid)
}

// TestCallEscapedChild checks that a grandchild which left the process
// group, and so survives the group kill while holding the output pipe, does
// not keep the call from returning.
func TestCallEscapedChild(t *testing.T) {
	t.Parallel()

	if _, err := exec.LookPath("setsid"); err != nil {
		t.Skip("setsid not installed")
	}
	pidFile := filepath.Join(t.TempDir(), "pid")
	tl := newTool(t, Config{Command: []string{"testdata/escape.sh", pidFile}, Timeout: time.Hour})
	got, err := tl.Call(t.Context(), nil)
	if pid, ok := readPID(t, pidFile); ok {
		// Out of the tool's reach by design; the test cleans up after it.
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitExited(t, pid)
	}
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if got != "done\n" {
		t.Errorf("Call = %q, want %q", got, "done\n")
	}
}

func TestCallIgnoredInput(t *testing.T) {
	t.Parallel()

	// Far more than a pipe buffer holds, to a program that never reads it.
	big, err := json.Marshal(map[string]string{"blob": strings.Repeat("x", 4<<20)})
	if err != nil {
		t.Fatal(err)
	}
	tl := newTool(t, Config{Command: []string{"testdata/ignore.sh"}})
	got, err := tl.Call(t.Context(), big)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	if got != "ignored\n" {
		t.Errorf("Call = %q, want %q", got, "ignored\n")
	}
}

// envOf runs env.sh through a tool built from cfg and returns the variables
// it saw.
func envOf(t *testing.T, cfg Config) map[string]string {
	t.Helper()
	cfg.Command = []string{"testdata/env.sh"}
	out, err := newTool(t, cfg).Call(t.Context(), nil)
	if err != nil {
		t.Fatalf("Call: %v", err)
	}
	vars := make(map[string]string)
	for line := range strings.Lines(out) {
		k, v, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "=")
		vars[k] = v
	}
	return vars
}

func TestCallEnv(t *testing.T) {
	t.Parallel()

	server := map[string]string{
		"PATH":           os.Getenv("PATH"),
		"HOME":           "/home/omni",
		"LANG":           "C.UTF-8",
		"TZ":             "UTC",
		"OPENAI_API_KEY": "sk-server-secret",
		"AWS_SECRET":     "aws-server-secret",
	}
	tests := []struct {
		name    string
		lookup  map[string]string
		env     map[string]string
		want    map[string]string
		notWant []string
	}{
		{
			name:    "only the minimal set is inherited",
			lookup:  server,
			want:    map[string]string{"HOME": "/home/omni", "LANG": "C.UTF-8", "TZ": "UTC"},
			notWant: []string{"OPENAI_API_KEY", "AWS_SECRET"},
		},
		{
			name:    "configured variables are added and override",
			lookup:  server,
			env:     map[string]string{"API_TOKEN": "tool-token", "LANG": "fr_FR.UTF-8", "OPENAI_API_KEY": "sk-tool"},
			want:    map[string]string{"API_TOKEN": "tool-token", "LANG": "fr_FR.UTF-8", "OPENAI_API_KEY": "sk-tool", "HOME": "/home/omni"},
			notWant: []string{"AWS_SECRET"},
		},
		{
			name:    "unset server variables stay unset",
			lookup:  map[string]string{"PATH": os.Getenv("PATH")},
			notWant: []string{"HOME", "LANG", "TZ"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := envOf(t, Config{LookupEnvFunc: fixedEnv(tt.lookup), Env: tt.env})
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tt.notWant {
				if _, ok := got[k]; ok {
					t.Errorf("%s is set, want it withheld", k)
				}
			}
		})
	}
}

// TestCallEnvProcess uses the real process environment, so it cannot run in
// parallel.
func TestCallEnvProcess(t *testing.T) {
	const key = "OMNISERVE_SHELLTOOL_TEST_SECRET"
	t.Setenv(key, "hunter2")

	if got := envOf(t, Config{}); got[key] != "" {
		t.Errorf("%s reached the command without being configured", key)
	}
	if got := envOf(t, Config{Env: map[string]string{key: "configured"}}); got[key] != "configured" {
		t.Errorf("%s = %q, want %q", key, got[key], "configured")
	}
}

func TestCallWorkdir(t *testing.T) {
	t.Parallel()

	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	tests := []struct {
		name    string
		workdir string
		want    string
	}{
		{name: "default is the server's", want: here},
		{name: "configured", workdir: dir, want: dir},
		{name: "relative", workdir: "testdata", want: filepath.Join(here, "testdata")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A relative program path is resolved when the tool is built, not
			// against the workdir.
			tl := newTool(t, Config{Command: []string{"testdata/pwd.sh"}, Workdir: tt.workdir})
			got, err := tl.Call(t.Context(), nil)
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if diff := cmp.Diff(evalSymlinks(t, tt.want), evalSymlinks(t, strings.TrimSpace(got))); diff != "" {
				t.Errorf("working directory mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func evalSymlinks(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatalf("eval symlinks: %v", err)
	}
	return p
}

func TestCallConcurrent(t *testing.T) {
	t.Parallel()

	tl := newTool(t, Config{Command: []string{"testdata/echo.sh"}})
	for i := range 8 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			args := `{"i":` + strconv.Itoa(i) + `}`
			got, err := tl.Call(t.Context(), json.RawMessage(args))
			if err != nil {
				t.Fatalf("Call: %v", err)
			}
			if got != args+"\n" {
				t.Errorf("Call = %q, want %q", got, args+"\n")
			}
		})
	}
}

func TestCapBuffer(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		limit    int64
		writes   []string
		want     string
		wantOver bool
	}{
		{name: "under", limit: 10, writes: []string{"abc", "def"}, want: "abcdef"},
		{name: "exactly", limit: 6, writes: []string{"abc", "def"}, want: "abcdef"},
		{name: "over in one write", limit: 4, writes: []string{"abcdef"}, want: "abcd", wantOver: true},
		{name: "over across writes", limit: 4, writes: []string{"abc", "def", "ghi"}, want: "abcd", wantOver: true},
		{name: "zero limit", limit: 0, writes: []string{"a"}, want: "", wantOver: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &capBuffer{limit: tt.limit, full: make(chan struct{})}
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := string(b.bytes()); got != tt.want {
				t.Errorf("bytes = %q, want %q", got, tt.want)
			}
			if got := b.overflowed(); got != tt.wantOver {
				t.Errorf("overflowed = %v, want %v", got, tt.wantOver)
			}
			select {
			case <-b.full:
				if !tt.wantOver {
					t.Error("full closed without an overflow")
				}
			default:
				if tt.wantOver {
					t.Error("full not closed after an overflow")
				}
			}
		})
	}
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name   string
		size   int
		writes []string
		want   string
	}{
		{name: "short", size: 8, writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "exactly", size: 4, writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "long write", size: 4, writes: []string{"abcdefgh"}, want: "...efgh"},
		{name: "across writes", size: 4, writes: []string{"abc", "def", "g"}, want: "...defg"},
		{name: "cut inside a character", size: 3, writes: []string{"x\u00e9\u00e9"}, want: "...\u00e9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := &tailBuffer{size: tt.size}
			for _, w := range tt.writes {
				if n, err := b.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
			}
			if got := string(b.bytes()); got != tt.want {
				t.Errorf("bytes = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestBuildEnv(t *testing.T) {
	t.Parallel()

	got := buildEnv(fixedEnv(map[string]string{"PATH": "/bin", "TZ": "UTC", "SECRET": "s"}), map[string]string{"TZ": "Europe/Paris", "B": "2", "A": "1"})
	want := []string{"A=1", "B=2", "PATH=/bin", "TZ=Europe/Paris"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("buildEnv mismatch (-want +got):\n%s", diff)
	}
	if env := buildEnv(fixedEnv(nil), nil); env == nil || len(env) != 0 {
		t.Errorf("buildEnv with nothing = %#v, want an empty non-nil slice", env)
	}
}

// TestCallLogsNoSecrets checks the debug record of a call carries neither
// the arguments nor configured values.
func TestCallLogsNoSecrets(t *testing.T) {
	t.Parallel()

	var logs bytes.Buffer
	logger := newTextLogger(&logs)
	tl := newTool(t, Config{Command: []string{"testdata/echo.sh"}, Env: map[string]string{"TOKEN": "env-secret"}, Logger: logger})
	if _, err := tl.Call(t.Context(), json.RawMessage(`{"q":"arg-secret"}`)); err != nil {
		t.Fatalf("Call: %v", err)
	}
	got := logs.String()
	if !strings.Contains(got, "shell tool call finished") || !strings.Contains(got, "component=shelltool") {
		t.Errorf("missing call record: %q", got)
	}
	for _, secret := range []string{"env-secret", "arg-secret"} {
		if strings.Contains(got, secret) {
			t.Errorf("log contains %q: %q", secret, got)
		}
	}
}

// newTextLogger logs every level as text to w.
func newTextLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
