package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// postgresEnv names the variable that points the tests at PostgreSQL.
const postgresEnv = "OMNISERVE_TEST_POSTGRES_URL"

// pollEvery is how often a test re-reads state another process changes.
const pollEvery = 25 * time.Millisecond

// server is one omniserve process.
type server struct {
	name    string
	url     string
	cmd     *exec.Cmd
	logPath string
	client  *http.Client
	// done is closed when the process has exited; waitErr is then its
	// exit status.
	done    chan struct{}
	waitErr error
}

// baseEnv is the environment every process starts from: no variable of
// the test's own environment leaks in but PATH and HOME, which shell
// tools inherit.
func baseEnv(t *testing.T) map[string]string {
	env := map[string]string{
		"PATH":                                os.Getenv("PATH"),
		"HOME":                                os.Getenv("HOME"),
		"OMNICOREAGENT_SERVE_REQUEST_LOGGING": "false",
		"OMNICOREAGENT_SERVE_SHUTDOWN_GRACE":  "5",
		"OMNICOREAGENT_SERVE_LOG_LEVEL":       "INFO",
	}
	if env["HOME"] == "" {
		env["HOME"] = t.TempDir()
	}
	return env
}

// storeEnv points every store of a process at one SQL URL.
func storeEnv(dbURL string) map[string]string {
	return map[string]string{
		"OMNICOREAGENT_BACKGROUND_TASK_STORE_URL": dbURL,
		"OMNICOREAGENT_TELEMETRY_STORE_URL":       dbURL,
		"OMNICOREAGENT_MEMORY_STORE":              "sql",
		"DATABASE_URL":                            dbURL,
	}
}

// merge returns the union of the maps, later ones winning.
func merge(ms ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

// startServer starts `omniserve run --agent agent` on a free loopback
// port with env (on top of baseEnv) and waits until GET /ready answers
// 200. The process is killed in t.Cleanup if it still runs, and its log is
// printed when the test failed.
func startServer(ctx context.Context, t *testing.T, name, agent string, env map[string]string) *server {
	t.Helper()
	for try := 1; ; try++ {
		s, err := launch(ctx, t, name, agent, env)
		if err == nil {
			return s
		}
		// Another process may take the port between freePort and the
		// server's listen: try another one.
		if errors.Is(err, errPortTaken) && try < 3 {
			t.Logf("%s: %v; retrying on another port", name, err)
			continue
		}
		t.Fatalf("start %s: %v", name, err)
	}
}

var errPortTaken = errors.New("port taken")

func launch(ctx context.Context, t *testing.T, name, agent string, env map[string]string) (*server, error) {
	port := freePort(t)
	logPath := filepath.Join(t.TempDir(), name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "run", "--agent", agent, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
	for k, v := range merge(baseEnv(t), env) {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	s := &server{
		name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, logPath: logPath,
		client: &http.Client{Transport: tr}, done: make(chan struct{}),
	}
	go func() {
		s.waitErr = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.kill()
		tr.CloseIdleConnections()
		if t.Failed() {
			t.Logf("%s log (%s):\n%s", name, logPath, s.logTail())
		}
	})
	if err := s.waitReady(ctx); err != nil {
		s.kill()
		if strings.Contains(s.logTail(), "address already in use") {
			return nil, fmt.Errorf("%w: %d", errPortTaken, port)
		}
		return nil, fmt.Errorf("%w\n%s log:\n%s", err, name, s.logTail())
	}
	return s, nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitReady polls GET /ready until it answers 200, the process exits or
// ctx ends.
func (s *server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, s.url+"/ready", nil)
		resp, err := s.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		cancel()
		if err == nil && resp.StatusCode == http.StatusOK {
			return nil
		}
		select {
		case <-s.done:
			return fmt.Errorf("%s exited before it was ready: %v", s.name, s.waitErr)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w", s.name, ctx.Err())
		case <-tick.C:
		}
	}
}

// stop sends SIGTERM and waits for the process to exit; the error is its
// exit status.
func (s *server) stop(ctx context.Context) error {
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-s.done:
		return s.waitErr
	case <-ctx.Done():
		return fmt.Errorf("%s did not exit after SIGTERM: %w", s.name, ctx.Err())
	}
}

// kill sends SIGKILL, unless the process has exited, and waits for it.
func (s *server) kill() {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Kill()
	<-s.done
}

// logTail returns the end of the process's log.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return err.Error()
	}
	const max = 16 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// call sends a JSON request and decodes a JSON answer into out (when not
// nil and the status is 2xx). It returns the status and the raw body.
func (s *server) call(ctx context.Context, method, path string, body, out any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, raw, err
	}
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, raw, fmt.Errorf("decode %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, raw, nil
}

// must is call that fails the test unless the status is want.
func (s *server) must(ctx context.Context, t *testing.T, method, path string, body any, want int, out any) {
	t.Helper()
	status, raw, err := s.call(ctx, method, path, body, out)
	if err != nil {
		t.Fatalf("%s: %s %s: %v", s.name, method, path, err)
	}
	if status != want {
		t.Fatalf("%s: %s %s: got status %d, want %d: %s", s.name, method, path, status, want, raw)
	}
}

// Background API shapes, as much of them as the tests read.

type bgRun struct {
	RunID         string `json:"run_id"`
	TaskID        string `json:"task_id"`
	Status        string `json:"status"`
	Attempt       int    `json:"attempt"`
	MaxAttempts   int    `json:"max_attempts"`
	SessionID     string `json:"session_id"`
	LeaseOwner    string `json:"lease_owner"`
	Error         string `json:"error"`
	ResultPreview string `json:"result_preview"`
}

func (r *bgRun) terminal() bool {
	switch r.Status {
	case "completed", "failed", "cancelled", "timeout", "skipped":
		return true
	}
	return false
}

type bgAttempt struct {
	AttemptNumber int    `json:"attempt_number"`
	Reason        string `json:"reason"`
	Status        string `json:"status"`
	WorkerID      string `json:"worker_id"`
	Error         string `json:"error"`
}

type bgEvent struct {
	Event           string `json:"event"`
	Sequence        int64  `json:"sequence"`
	RunID           string `json:"run_id"`
	Status          string `json:"status"`
	Attempt         int    `json:"attempt"`
	WorkerID        string `json:"worker_id"`
	PreviousStatus  string `json:"previous_status"`
	RecoveryOutcome string `json:"recovery_outcome"`
}

type bgStatus struct {
	Running      bool           `json:"running"`
	WorkerID     string         `json:"worker_id"`
	StatusCounts map[string]int `json:"status_counts"`
}

func (s *server) workerID(ctx context.Context, t *testing.T) string {
	t.Helper()
	var st bgStatus
	s.must(ctx, t, http.MethodGet, "/background/status", nil, http.StatusOK, &st)
	if st.WorkerID == "" {
		t.Fatalf("%s: /background/status has no worker_id", s.name)
	}
	return st.WorkerID
}

func (s *server) run(ctx context.Context, t *testing.T, runID string) bgRun {
	t.Helper()
	var r bgRun
	s.must(ctx, t, http.MethodGet, "/background/runs/"+runID, nil, http.StatusOK, &r)
	return r
}

// waitRun polls the run on s until ok accepts it.
func (s *server) waitRun(ctx context.Context, t *testing.T, runID string, what string, ok func(bgRun) bool) bgRun {
	t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		var r bgRun
		status, raw, err := s.call(ctx, http.MethodGet, "/background/runs/"+runID, nil, &r)
		if err == nil && status == http.StatusOK && ok(r) {
			return r
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: run %s never became %s: last answer %d %s (err %v)", s.name, runID, what, status, raw, err)
		case <-s.done:
			t.Fatalf("%s exited while waiting for run %s to become %s: %v", s.name, runID, what, s.waitErr)
		case <-tick.C:
		}
	}
}

func (s *server) events(ctx context.Context, t *testing.T, runID string) []bgEvent {
	t.Helper()
	var body struct {
		RunID  string    `json:"run_id"`
		Events []bgEvent `json:"events"`
		Count  int       `json:"count"`
	}
	s.must(ctx, t, http.MethodGet, "/background/runs/"+runID+"/events", nil, http.StatusOK, &body)
	if body.Count != len(body.Events) {
		t.Errorf("%s: run %s events: count %d, but %d events", s.name, runID, body.Count, len(body.Events))
	}
	return body.Events
}

// finalEvents polls the run's events until the last one ends the run. A
// run's record turns terminal before its terminal event is appended (an
// event is emitted only after the write it reports), so a client that saw
// the run end may read the events a moment too early.
func (s *server) finalEvents(ctx context.Context, t *testing.T, runID string) []bgEvent {
	t.Helper()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for {
		evs := s.events(ctx, t, runID)
		if n := len(evs); n > 0 && isTerminalEvent(evs[n-1].Event) {
			return evs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: run %s events never ended with a terminal event: %v", s.name, runID, eventNames(evs))
		case <-tick.C:
		}
	}
}

func isTerminalEvent(name string) bool {
	switch name {
	case "background_run_completed", "background_run_failed", "background_run_cancelled",
		"background_run_timeout", "background_run_skipped":
		return true
	}
	return false
}

func (s *server) attempts(ctx context.Context, t *testing.T, runID string) []bgAttempt {
	t.Helper()
	var out []bgAttempt
	s.must(ctx, t, http.MethodGet, "/background/runs/"+runID+"/attempts", nil, http.StatusOK, &out)
	return out
}

// eventNames lists the events' names, for failure messages.
func eventNames(evs []bgEvent) []string {
	out := make([]string, 0, len(evs))
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%d:%s", e.Sequence, e.Event))
	}
	return out
}

// Agent files.

// writeAgent writes a JSON agent file on the echo model with the given
// tools and returns its path.
func writeAgent(t *testing.T, dir, name string, tools ...map[string]any) string {
	t.Helper()
	if tools == nil {
		tools = []map[string]any{}
	}
	doc := map[string]any{
		"name":               name,
		"system_instruction": "You repeat what you are told and call tools on request.",
		"model_config":       map[string]any{"provider": "echo"},
		"tools":              tools,
		"max_steps":          4,
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// shellTool is a shell tool entry of an agent file; the tool takes no
// arguments unless params says otherwise.
func shellTool(name string, command []string, env map[string]string, params map[string]any) map[string]any {
	if params == nil {
		params = map[string]any{"type": "object", "properties": map[string]any{}}
	}
	return map[string]any{"shell": map[string]any{
		"name": name, "description": "An end-to-end test tool.", "command": command,
		"parameters": params, "timeout": 60, "env": env,
	}}
}

// toolQuery is a query whose last line makes the echo model call tool.
func toolQuery(text, tool string, args map[string]any) string {
	b, _ := json.Marshal(map[string]any{"tool": tool, "arguments": args})
	return text + "\n" + string(b)
}

// Stores.

// sqliteURL returns the URL of a fresh SQLite file in a temporary
// directory.
func sqliteURL(t *testing.T) string {
	return "sqlite:///" + filepath.Join(t.TempDir(), "omniserve.db")
}

// postgresDB creates a database of its own for the test, dropped in
// t.Cleanup, and returns its URL; without OMNISERVE_TEST_POSTGRES_URL the
// test is skipped.
func postgresDB(t *testing.T) string {
	t.Helper()
	admin := os.Getenv(postgresEnv)
	if admin == "" {
		t.Skipf("%s is not set: skipping this PostgreSQL test (scripts/test-services.sh starts PostgreSQL and prints the URL)", postgresEnv)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", postgresEnv, err)
	}
	// The creation time in the name lets a later run drop what a run
	// killed by `go test -timeout` (which skips t.Cleanup) left behind.
	name := fmt.Sprintf("%s%d_%s", dbPrefix, time.Now().Unix(), randomHex(t, 6))
	admExec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			return err
		}
		defer conn.Close(context.WithoutCancel(ctx))
		_, err = conn.Exec(ctx, sql)
		return err
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	sweepOnce.Do(func() {
		if err := dropStaleDatabases(ctx, admin); err != nil {
			t.Logf("drop stale e2e databases: %v", err)
		}
	})
	if err := admExec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// Runs after the processes (started later) were killed.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := admExec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// dbPrefix starts the name of every database the tests create.
const dbPrefix = "e2e_"

// staleAfter is the age past which an e2e database is a leftover: no
// test of this package runs that long.
const staleAfter = time.Hour

var sweepOnce sync.Once

// dropStaleDatabases drops the e2e databases created more than staleAfter
// ago.
func dropStaleDatabases(ctx context.Context, admin string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT datname FROM pg_database WHERE starts_with(datname, $1)`, dbPrefix)
	if err != nil {
		return err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, name := range names {
		stamp, _, ok := strings.Cut(strings.TrimPrefix(name, dbPrefix), "_")
		created, err := strconv.ParseInt(stamp, 10, 64)
		if !ok || err != nil || time.Since(time.Unix(created, 0)) < staleAfter {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return err
		}
	}
	return nil
}

func randomHex(t *testing.T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// checkContiguous fails the test unless seqs is exactly 1..len(seqs).
func checkContiguous(t *testing.T, what string, seqs []int64) {
	t.Helper()
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Errorf("%s: sequence numbers %v are not 1..%d (position %d has %d)", what, seqs, len(seqs), i, s)
			return
		}
	}
}

// Server-Sent Events.

type sseFrame struct {
	Event string
	ID    string
	Data  string
}

type sseStream struct {
	resp   *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

// openStream opens GET path as an event stream; lastEventID, when not
// empty, is sent as Last-Event-ID. Close it with close.
func (s *server) openStream(ctx context.Context, path, lastEventID string) (*sseStream, error) {
	ctx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		return nil, fmt.Errorf("GET %s: %d %s: %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	return &sseStream{resp: resp, lines: sc, cancel: cancel}, nil
}

// next returns the next frame, skipping comments (keep-alives).
func (st *sseStream) next() (sseFrame, error) {
	var f sseFrame
	var data []string
	seen := false
	for st.lines.Scan() {
		line := st.lines.Text()
		if line == "" {
			if seen {
				f.Data = strings.Join(data, "\n")
				return f, nil
			}
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		seen = true
		switch field {
		case "event":
			f.Event = value
		case "id":
			f.ID = value
		case "data":
			data = append(data, value)
		}
	}
	if err := st.lines.Err(); err != nil {
		return sseFrame{}, err
	}
	return sseFrame{}, io.EOF
}

// close disconnects.
func (st *sseStream) close() {
	st.cancel()
	st.resp.Body.Close()
}

// sortedKeys returns m's keys in order, for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
