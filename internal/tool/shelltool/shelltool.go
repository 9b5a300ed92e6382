package shelltool

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/omniserve/omniserve/internal/tool"
)

const (
	defaultTimeout        = 30 * time.Second
	defaultMaxOutputBytes = 1 << 20

	// stderrTailBytes is how much of the end of standard error a failure
	// message quotes.
	stderrTailBytes = 2 << 10

	// pipeGrace bounds the wait for the output pipes to drain once the
	// process group has been killed. Only a process that left the group
	// (with setsid, say) can hold them open that long; its output is dropped.
	pipeGrace = time.Second
)

// inheritedEnv names the variables a command inherits from the server.
var inheritedEnv = []string{"PATH", "HOME", "LANG", "TZ"}

// errOutputLimit is the cause recorded when a command writes too much.
var errOutputLimit = errors.New("output limit exceeded")

// errTimedOut is the cause recorded when a call outlives its timeout.
var errTimedOut = errors.New("timed out")

// Config describes one shell tool.
type Config struct {
	// Name is the tool's name, unique within a registry. Required.
	Name string
	// Description tells the model what the tool does. Defaults to "".
	Description string
	// Command is the program and its arguments, executed directly without a
	// shell. Command[0] is resolved with [exec.LookPath] against the server's
	// PATH when the tool is built, so a missing program is a startup error.
	// Required.
	Command []string
	// Parameters is the JSON Schema of the arguments object. Its top-level
	// type must be "object". Defaults to {"type":"object","properties":{}}.
	Parameters json.RawMessage
	// Timeout bounds one call; when it passes, the process group is killed.
	// Defaults to 30s.
	Timeout time.Duration
	// Env adds variables to the command's environment, overriding inherited
	// ones of the same name. The command inherits only PATH, HOME, LANG and
	// TZ from the server; anything else it needs, secrets included, must be
	// listed here. Values never appear in errors or logs. Defaults to none.
	Env map[string]string
	// Workdir is the command's working directory, which must exist when the
	// tool is built. Defaults to the server's working directory.
	Workdir string
	// MaxOutputBytes caps standard output; a command that writes more is
	// killed and the call fails. Defaults to 1 MiB.
	MaxOutputBytes int64
	// LookupEnvFunc reads the server variables a command inherits (PATH,
	// HOME, LANG, TZ), once, when the tool is built. Defaults to
	// [os.LookupEnv].
	LookupEnvFunc func(key string) (string, bool)
	// Logger receives one debug record per call. Defaults to discarding.
	Logger *slog.Logger
}

// shellTool is a [tool.Tool] that runs a program per call.
type shellTool struct {
	name        string
	description string
	schema      json.RawMessage
	resolved    *jsonschema.Resolved
	path        string   // absolute path of the program
	argv        []string // Command as configured; argv[0] is shown to the program
	env         []string
	dir         string
	timeout     time.Duration
	maxOutput   int64
	logger      *slog.Logger
}

var _ tool.Tool = (*shellTool)(nil)

// New validates cfg and returns a local tool that runs cfg.Command once per
// call. The arguments, validated against cfg.Parameters, are written to the
// program's standard input as one line of compact JSON followed by a
// newline, and standard input is then closed. The result is everything the
// program wrote to standard output.
//
// A call fails when the program exits with a non-zero status (the error
// quotes the end of its standard error), writes more than
// cfg.MaxOutputBytes, runs past cfg.Timeout, or when ctx is cancelled. In
// every case the program's whole process group is killed and reaped before
// Call returns.
func New(cfg Config) (tool.Tool, error) {
	if cfg.Name == "" {
		return nil, errors.New("shell tool: Name must not be empty")
	}
	cfg = withDefaults(cfg)
	if err := validate(cfg); err != nil {
		return nil, fmt.Errorf("shell tool %s: %w", cfg.Name, err)
	}
	t := &shellTool{
		name:        cfg.Name,
		description: cfg.Description,
		argv:        slices.Clone(cfg.Command),
		timeout:     cfg.Timeout,
		maxOutput:   cfg.MaxOutputBytes,
		logger:      cfg.Logger.With(slog.String("component", "shelltool"), slog.String("tool", cfg.Name)),
	}
	var err error
	if t.schema, t.resolved, err = compileSchema(cfg.Parameters); err != nil {
		return nil, fmt.Errorf("shell tool %s: %w", cfg.Name, err)
	}
	if t.path, err = resolveProgram(cfg.Command[0]); err != nil {
		return nil, fmt.Errorf("shell tool %s: %w", cfg.Name, err)
	}
	if t.dir, err = checkWorkdir(cfg.Workdir); err != nil {
		return nil, fmt.Errorf("shell tool %s: %w", cfg.Name, err)
	}
	t.env = buildEnv(cfg.LookupEnvFunc, cfg.Env)
	return t, nil
}

// withDefaults fills the zero fields of cfg.
func withDefaults(cfg Config) Config {
	cfg.Timeout = cmp.Or(cfg.Timeout, defaultTimeout)
	cfg.MaxOutputBytes = cmp.Or(cfg.MaxOutputBytes, defaultMaxOutputBytes)
	if cfg.LookupEnvFunc == nil {
		cfg.LookupEnvFunc = os.LookupEnv
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return cfg
}

// validate checks the fields of cfg that need no system calls.
func validate(cfg Config) error {
	if len(cfg.Command) == 0 || cfg.Command[0] == "" {
		return errors.New("invalid Command: must name a program")
	}
	if cfg.Timeout < 0 {
		return fmt.Errorf("invalid Timeout: must not be negative, got %s", cfg.Timeout)
	}
	if cfg.MaxOutputBytes < 0 {
		return fmt.Errorf("invalid MaxOutputBytes: must not be negative, got %d", cfg.MaxOutputBytes)
	}
	for i, arg := range cfg.Command {
		if strings.IndexByte(arg, 0) >= 0 {
			return fmt.Errorf("invalid Command[%d]: contains a NUL byte", i)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return fmt.Errorf("invalid Env: bad variable name %q", k)
		}
		// The value is never quoted: it may be a secret.
		if strings.IndexByte(cfg.Env[k], 0) >= 0 {
			return fmt.Errorf("invalid Env: value of %s contains a NUL byte", k)
		}
	}
	return nil
}

// compileSchema parses and resolves a parameters schema, returning it in
// compact form. Empty or null means an object with no declared properties.
func compileSchema(raw json.RawMessage) (json.RawMessage, *jsonschema.Resolved, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage(`{"type":"object","properties":{}}`)
	}
	var s jsonschema.Schema
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, nil, fmt.Errorf("parse Parameters: %w", err)
	}
	if s.Type != "object" {
		return nil, nil, errors.New(`invalid Parameters: top-level "type" must be "object"`)
	}
	resolved, err := s.Resolve(nil)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve Parameters: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, nil, fmt.Errorf("compact Parameters: %w", err)
	}
	return buf.Bytes(), resolved, nil
}

// resolveProgram finds name on the server's PATH, or checks it when it is a
// path, and makes the result absolute: exec would otherwise resolve a
// relative path against Workdir rather than where it was checked.
func resolveProgram(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("find program: %w", err)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("find program %s: %w", name, err)
	}
	return abs, nil
}

// checkWorkdir returns dir made absolute, after checking it is a directory.
// An empty dir stays empty, meaning the server's working directory.
func checkWorkdir(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("invalid Workdir: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("invalid Workdir: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("invalid Workdir: %s is not a directory", abs)
	}
	return abs, nil
}

// buildEnv returns the command's environment: the inherited variables that
// are set, then extra, sorted by name. The result is never nil, because a
// nil environment would make exec pass the server's whole environment.
func buildEnv(lookup func(string) (string, bool), extra map[string]string) []string {
	vars := make(map[string]string, len(inheritedEnv)+len(extra))
	for _, k := range inheritedEnv {
		if v, ok := lookup(k); ok {
			vars[k] = v
		}
	}
	maps.Copy(vars, extra)
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// Name returns the tool's name.
func (t *shellTool) Name() string { return t.name }

// Description returns the tool's description.
func (t *shellTool) Description() string { return t.description }

// InputSchema returns a copy of the parameters schema.
func (t *shellTool) InputSchema() json.RawMessage { return slices.Clone(t.schema) }

// Kind returns [tool.KindLocal].
func (t *shellTool) Kind() string { return tool.KindLocal }

// Call validates args and runs the command with them on standard input.
func (t *shellTool) Call(ctx context.Context, args json.RawMessage) (string, error) {
	input, err := t.input(args)
	if err != nil {
		return "", err
	}
	if err := context.Cause(ctx); err != nil {
		return "", fmt.Errorf("command %s cancelled: %w", t.name, err)
	}
	start := time.Now()
	res, err := t.run(ctx, input)
	if err != nil {
		return "", err
	}
	t.logger.DebugContext(ctx, "shell tool call finished",
		slog.Int("exit_code", res.state.ExitCode()),
		slog.Int("stdout_bytes", len(res.stdout)),
		slog.Duration("duration", time.Since(start)),
		slog.String("outcome", outcome(res.stop)),
	)
	return t.result(res)
}

// input validates args against the schema and returns the bytes written to
// standard input.
func (t *shellTool) input(args json.RawMessage) ([]byte, error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		args = json.RawMessage(`{}`)
	}
	var instance any
	if err := json.Unmarshal(args, &instance); err != nil {
		return nil, fmt.Errorf("tool %s: decode arguments: %w", t.name, err)
	}
	if err := t.resolved.Validate(instance); err != nil {
		return nil, fmt.Errorf("tool %s: invalid arguments: %w", t.name, err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, args); err != nil {
		return nil, fmt.Errorf("tool %s: compact arguments: %w", t.name, err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// result turns a finished run into the call's result or error.
func (t *shellTool) result(res runResult) (string, error) {
	switch {
	case errors.Is(res.stop, errOutputLimit):
		return "", fmt.Errorf("command %s: %w: wrote more than %d bytes to standard output", t.name, errOutputLimit, t.maxOutput)
	case errors.Is(res.stop, errTimedOut):
		return "", fmt.Errorf("command %s timed out after %s: %w", t.name, t.timeout, context.DeadlineExceeded)
	case res.stop != nil:
		return "", fmt.Errorf("command %s cancelled: %w", t.name, res.stop)
	}
	if code := res.state.ExitCode(); code != 0 {
		detail := fmt.Sprintf("exited with status %d", code)
		if ws, ok := res.state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			detail = fmt.Sprintf("was terminated by signal %d (%s)", ws.Signal(), ws.Signal())
		}
		stderr := strings.TrimSpace(string(res.stderr))
		if stderr == "" {
			return "", fmt.Errorf("command %s %s", t.name, detail)
		}
		return "", fmt.Errorf("command %s %s: %s", t.name, detail, stderr)
	}
	return string(res.stdout), nil
}

// runResult is what one run of the command produced.
type runResult struct {
	state  *os.ProcessState
	stdout []byte
	stderr []byte // the last stderrTailBytes of standard error
	// stop is why the tool killed the command: errOutputLimit,
	// errTimedOut, the context's cause, or nil if it exited by itself.
	stop error
}

// outcome names how a run ended, for logs.
func outcome(stop error) string {
	switch {
	case stop == nil:
		return "exited"
	case errors.Is(stop, errOutputLimit):
		return "output_limit"
	case errors.Is(stop, errTimedOut):
		return "timeout"
	default:
		return "cancelled"
	}
}

// run starts the command in a new process group, feeds it input and
// collects its output until it exits or must be stopped. It kills the group
// and reaps the command before returning, whatever happened.
//
// The pipes are created here rather than by exec so that Wait reaps the
// process without also waiting for the pipes to close: a background child
// holding them open must not keep the call alive once the group is killed.
func (t *shellTool) run(ctx context.Context, input []byte) (runResult, error) {
	stdinR, stdinW, err := os.Pipe()
	if err != nil {
		return runResult{}, fmt.Errorf("command %s: create pipe: %w", t.name, err)
	}
	stdoutR, stdoutW, err := os.Pipe()
	if err != nil {
		closeAll(stdinR, stdinW)
		return runResult{}, fmt.Errorf("command %s: create pipe: %w", t.name, err)
	}
	stderrR, stderrW, err := os.Pipe()
	if err != nil {
		closeAll(stdinR, stdinW, stdoutR, stdoutW)
		return runResult{}, fmt.Errorf("command %s: create pipe: %w", t.name, err)
	}

	cmd := &exec.Cmd{
		Path:        t.path,
		Args:        t.argv,
		Env:         t.env,
		Dir:         t.dir,
		Stdin:       stdinR,
		Stdout:      stdoutW,
		Stderr:      stderrW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	err = cmd.Start()
	// The child holds its own copies of these ends now; ours would keep the
	// pipes from ever reporting EOF.
	closeAll(stdinR, stdoutW, stderrW)
	if err != nil {
		closeAll(stdinW, stdoutR, stderrR)
		return runResult{}, fmt.Errorf("start command %s: %w", t.name, err)
	}
	pgid := cmd.Process.Pid // with Setpgid and Pgid 0, the group is named after the leader

	var (
		wg      sync.WaitGroup
		stdout  = &capBuffer{limit: t.maxOutput, full: make(chan struct{})}
		stderr  = &tailBuffer{size: stderrTailBytes}
		exited  = make(chan struct{})
		waitErr error
	)
	wg.Go(func() {
		// A program that never reads its input makes this fail with
		// EPIPE, or block until the pipe is closed below; both are fine.
		_, _ = stdinW.Write(input)
		_ = stdinW.Close()
	})
	wg.Go(func() { _, _ = io.Copy(stdout, stdoutR) })
	wg.Go(func() { _, _ = io.Copy(stderr, stderrR) })
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()

	timer := time.NewTimer(t.timeout)
	defer timer.Stop()
	var stop error
	select {
	case <-exited:
	case <-stdout.full:
		stop = errOutputLimit
	case <-timer.C:
		stop = errTimedOut
	case <-ctx.Done():
		stop = context.Cause(ctx)
	}
	// Kill the group even after a normal exit, so that background children
	// do not outlive the call. While the group has members the kernel keeps
	// its ID from being reused, and once it has none the kill finds nobody.
	killGroup(pgid)
	// The leader could have moved itself to another group; kill it by its
	// own handle too. After it exited this is a no-op.
	_ = cmd.Process.Kill()
	<-exited

	// Once the group is dead the pipes report EOF. Only a process that left
	// the group can keep them open; stop waiting for it after pipeGrace and
	// close our ends, which unblocks the copying goroutines.
	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()
	grace := time.NewTimer(pipeGrace)
	defer grace.Stop()
	select {
	case <-drained:
	case <-grace.C:
		closeAll(stdinW, stdoutR, stderrR)
		<-drained
	}
	closeAll(stdinW, stdoutR, stderrR)

	if cmd.ProcessState == nil {
		return runResult{}, fmt.Errorf("wait for command %s: %w", t.name, waitErr)
	}
	// A run that overflowed but was already exiting still overflowed.
	if stop == nil && stdout.overflowed() {
		stop = errOutputLimit
	}
	return runResult{state: cmd.ProcessState, stdout: stdout.bytes(), stderr: stderr.bytes(), stop: stop}, nil
}

// killGroup sends SIGKILL to every process in the group pgid. ESRCH, an
// empty group, is the expected outcome after a clean exit.
func killGroup(pgid int) {
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// closeAll closes every file, ignoring errors: these are pipe ends whose
// closing only signals EOF or unblocks a reader.
func closeAll(files ...*os.File) {
	for _, f := range files {
		_ = f.Close()
	}
}

// capBuffer keeps up to limit bytes. The first write beyond the limit
// closes full; later writes are accepted and dropped, so the copying
// goroutine keeps draining the pipe while the process is being killed.
type capBuffer struct {
	limit int64
	full  chan struct{}

	mu   sync.Mutex
	buf  []byte
	over bool
}

// Write implements [io.Writer].
func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		return len(p), nil
	}
	if room := b.limit - int64(len(b.buf)); int64(len(p)) > room {
		b.buf = append(b.buf, p[:room]...)
		b.over = true
		close(b.full)
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// overflowed reports whether more than limit bytes were written.
func (b *capBuffer) overflowed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.over
}

// bytes returns what was kept.
func (b *capBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.buf)
}

// tailBuffer keeps the last size bytes written to it.
type tailBuffer struct {
	size int

	mu      sync.Mutex
	buf     []byte
	dropped bool
}

// Write implements [io.Writer].
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(p)
	if len(p) > b.size {
		p = p[len(p)-b.size:]
		b.dropped = true
	}
	if extra := len(b.buf) + len(p) - b.size; extra > 0 {
		b.buf = append(b.buf[:0], b.buf[extra:]...)
		b.dropped = true
	}
	b.buf = append(b.buf, p...)
	return n, nil
}

// bytes returns the kept tail. When the start was dropped, the tail begins
// at a character boundary and with "...".
func (b *tailBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.dropped {
		return slices.Clone(b.buf)
	}
	tail := b.buf
	for i := 0; i < utf8.UTFMax && len(tail) > 0 && !utf8.RuneStart(tail[0]); i++ {
		tail = tail[1:]
	}
	return append([]byte("..."), tail...)
}
