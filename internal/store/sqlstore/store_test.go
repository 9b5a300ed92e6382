package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/omniserve/omniserve/internal/llm"
	"github.com/omniserve/omniserve/internal/task"
	"github.com/omniserve/omniserve/internal/telemetry"
)

func TestParseURL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url     string
		want    target
		wantErr bool
	}{
		{url: "sqlite:///relative/path.db", want: target{dialect: dialectSQLite, path: "relative/path.db"}},
		{url: "sqlite:////absolute/path.db", want: target{dialect: dialectSQLite, path: "/absolute/path.db"}},
		{url: "sqlite:///.omnicoreagent/background.db", want: target{dialect: dialectSQLite, path: ".omnicoreagent/background.db"}},
		{url: "sqlite:///:memory:", want: target{dialect: dialectSQLite, memory: true}},
		{url: "sqlite://", want: target{dialect: dialectSQLite, memory: true}},
		{url: "sqlite:///", want: target{dialect: dialectSQLite, memory: true}},
		{url: "sqlite+pysqlite:///x.db", want: target{dialect: dialectSQLite, path: "x.db"}},
		{url: "sqlite:///x.db?check_same_thread=false", want: target{dialect: dialectSQLite, path: "x.db"}},
		{url: "SQLITE:///x.db", want: target{dialect: dialectSQLite, path: "x.db"}},
		{url: "postgres://u:p@h:5432/db?sslmode=disable", want: target{dialect: dialectPostgres, dsn: "postgres://u:p@h:5432/db?sslmode=disable"}},
		{url: "postgresql://h/db", want: target{dialect: dialectPostgres, dsn: "postgres://h/db"}},
		{url: "postgresql+psycopg://u@h/db", want: target{dialect: dialectPostgres, dsn: "postgres://u@h/db"}},
		{url: "postgresql+asyncpg://u@h/db", want: target{dialect: dialectPostgres, dsn: "postgres://u@h/db"}},
		{url: "sqlite://host/x.db", wantErr: true},
		{url: "postgres://", wantErr: true},
		{url: "mysql+pymysql://u@h/db", wantErr: true},
		{url: "redis://localhost", wantErr: true},
		{url: "/just/a/path.db", wantErr: true},
		{url: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseURL(tt.url)
		if tt.wantErr {
			if !errors.Is(err, ErrUnsupportedURL) {
				t.Errorf("parseURL(%q) = %+v, %v; want ErrUnsupportedURL", tt.url, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseURL(%q) = %+v, %v; want %+v", tt.url, got, err, tt.want)
		}
	}
}

func TestURLErrorsHidePasswords(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), "mysql://user:secret@host/db", Options{})
	if err == nil || !errors.Is(err, ErrUnsupportedURL) {
		t.Fatalf("err = %v", err)
	}
	if got := redact("mysql://user:secret@host/db"); got != "mysql://user:xxxxx@host/db" {
		t.Errorf("redact = %q", got)
	}
}

func TestOpenValidatesOptions(t *testing.T) {
	t.Parallel()
	url := "sqlite:///:memory:"
	for _, opts := range []Options{
		{TablePrefix: "bad-prefix"},
		{TablePrefix: "1abc"},
		{TablePrefix: "a_very_long_prefix_that_goes_on_and_on"},
		{TablePrefix: `x"; DROP TABLE y; --`},
		{Schema: "public"}, // SQLite has no schemas
		{PollInterval: -time.Second},
		{MaxOpenConns: -1},
	} {
		if s, err := Open(t.Context(), url, opts); !errors.Is(err, ErrInvalidOption) {
			if s != nil {
				_ = s.Close()
			}
			t.Errorf("Open with %+v: err = %v, want ErrInvalidOption", opts, err)
		}
	}
	for _, schema := range []string{"bad schema", `x"y`, "9lives"} {
		if err := (&Options{Schema: schema}).validate(dialectPostgres); !errors.Is(err, ErrInvalidOption) {
			t.Errorf("schema %q: err = %v, want ErrInvalidOption", schema, err)
		}
	}
}

func TestMigrationsAreIdempotentAndConcurrent(t *testing.T) {
	forEach(t, durable, func(t *testing.T, b backend) {
		url, opts := b.fresh(t)
		const openers = 8
		stores := make([]*Store, openers)
		errs := make([]error, openers)
		var wg sync.WaitGroup
		for i := range openers {
			wg.Go(func() { stores[i], errs[i] = Open(t.Context(), url, opts) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("opener %d: %v", i, err)
				continue
			}
			t.Cleanup(func() { _ = stores[i].Close() })
		}
		if t.Failed() {
			return
		}
		// Opening again changes nothing, and every store sees one schema.
		s := open(t, url, opts)
		ms, err := migrations()
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.db.QueryRowContext(t.Context(), s.q(`SELECT COUNT(*) FROM {p}schema_migrations`)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != len(ms) {
			t.Errorf("%d migrations recorded, want %d", n, len(ms))
		}
		if err := stores[0].EventAppend(t.Context(), &telemetry.Event{EventType: "x", SessionID: "s"}); err != nil {
			t.Fatal(err)
		}
		if last, err := stores[openers-1].EventLastSequence(t.Context(), "s"); err != nil || last != 1 {
			t.Errorf("another opener sees last = %d, %v", last, err)
		}
	})
}

func TestRefusesASchemaFromANewerBuild(t *testing.T) {
	forEach(t, durable, func(t *testing.T, b backend) {
		url, opts := b.fresh(t)
		s := open(t, url, opts)
		if _, err := s.db.ExecContext(t.Context(), s.q(`INSERT INTO {p}schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`), 999, "future", 0); err != nil {
			t.Fatal(err)
		}
		if s2, err := Open(t.Context(), url, opts); !errors.Is(err, ErrSchemaTooNew) {
			if s2 != nil {
				_ = s2.Close()
			}
			t.Errorf("err = %v, want ErrSchemaTooNew", err)
		}
	})
}

func TestTablePrefixesKeepStoresApart(t *testing.T) {
	forEach(t, durable, func(t *testing.T, b backend) {
		url, opts := b.fresh(t)
		optsA, optsB := opts, opts
		optsA.TablePrefix, optsB.TablePrefix = "a_", "b_"
		a, bs := open(t, url, optsA), open(t, url, optsB)
		ctx := t.Context()
		if err := a.MessageAppend(ctx, "s", llm.Message{Role: llm.RoleUser, Content: "hi"}); err != nil {
			t.Fatal(err)
		}
		if msgs, err := bs.MessageList(ctx, "s"); err != nil || len(msgs) != 0 {
			t.Errorf("prefix b sees %v, %v", msgs, err)
		}
		if msgs, err := a.MessageList(ctx, "s"); err != nil || len(msgs) != 1 {
			t.Errorf("prefix a sees %v, %v", msgs, err)
		}
	})
}

// TestTwoStoresClaimEachRunOnce is two processes on one database: their
// workers claim concurrently, and every run is claimed exactly once.
func TestTwoStoresClaimEachRunOnce(t *testing.T) {
	forEach(t, durable, func(t *testing.T, b backend) {
		url, opts := b.fresh(t)
		stores := []*Store{open(t, url, opts), open(t, url, opts)}
		ctx := t.Context()
		if _, err := stores[0].AgentUpsert(ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{AgentID: "agent"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := stores[0].TaskCreate(ctx, &task.TaskCreateParams{Task: task.Task{
			TaskID: "job", AgentID: "agent", Query: "q", Enabled: true,
			Schedule: task.Schedule{Type: task.ScheduleManual}, OverlapPolicy: task.OverlapAllowParallel,
		}}); err != nil {
			t.Fatal(err)
		}
		const runs = 60
		for i := range runs {
			if _, err := stores[i%2].RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "job", RunID: fmt.Sprintf("run_%02d", i)}); err != nil {
				t.Fatal(err)
			}
		}
		var (
			mu      sync.Mutex
			claimed = map[string][]string{}
			wg      sync.WaitGroup
		)
		for w := range 8 {
			s := stores[w%2]
			worker := fmt.Sprint("w", w)
			wg.Go(func() {
				for {
					r, err := s.RunClaim(ctx, &task.RunClaimParams{WorkerID: worker})
					if err != nil {
						t.Errorf("claim by %s: %v", worker, err)
						return
					}
					if r == nil {
						return
					}
					mu.Lock()
					claimed[r.RunID] = append(claimed[r.RunID], worker)
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(claimed) != runs {
			t.Errorf("%d runs claimed, want %d", len(claimed), runs)
		}
		for id, workers := range claimed {
			if len(workers) != 1 {
				t.Errorf("run %s claimed by %v", id, workers)
			}
		}
		counts, err := stores[1].RunCountByStatus(ctx, &task.RunCountByStatusParams{})
		if err != nil || counts[task.RunClaimed] != runs {
			t.Errorf("counts %v, %v", counts, err)
		}
	})
}

// TestWatchWakesAcrossStores appends through one store and waits on
// another's watch: a NOTIFY on PostgreSQL, the poll on SQLite.
func TestWatchWakesAcrossStores(t *testing.T) {
	forEach(t, durable, func(t *testing.T, b backend) {
		url, opts := b.fresh(t)
		opts.PollInterval = 10 * time.Millisecond
		writer, reader := open(t, url, opts), open(t, url, opts)
		ch := reader.EventWatch("shared")
		other := reader.EventWatch("other")
		if err := writer.EventAppend(t.Context(), &telemetry.Event{EventType: "x", SessionID: "shared"}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("no wake-up from the other store's append")
		}
		if b.name == postgres.name {
			if got := reader.WakeupMode(); got != WakeupPush {
				t.Errorf("wake-up mode %s", got)
			}
			select {
			case <-other:
				t.Error("a NOTIFY for one session woke another")
			default:
			}
		} else if got := reader.WakeupMode(); got != WakeupPolling {
			t.Errorf("wake-up mode %s", got)
		}
		evs, err := reader.EventList(t.Context(), telemetry.ListParams{SessionID: "shared"})
		if err != nil || len(evs) != 1 {
			t.Errorf("reader lists %d events, %v", len(evs), err)
		}
	})
}

// TestFollowAcrossStores follows through one store while another appends.
func TestFollowAcrossStores(t *testing.T) {
	forEach(t, durable, func(t *testing.T, b backend) {
		url, opts := b.fresh(t)
		opts.PollInterval = 10 * time.Millisecond
		writer, reader := open(t, url, opts), open(t, url, opts)
		const n = 50
		stop := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			defer close(stop)
			for range n {
				if err := writer.EventAppend(context.Background(), &telemetry.Event{EventType: "x", SessionID: "f"}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		var got []int64
		for e, err := range telemetry.Follow(t.Context(), reader, telemetry.FollowParams{SessionID: "f", Stop: stop, Batch: 8}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.SequenceNumber)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if len(got) != n || got[0] != 1 || got[n-1] != n {
			t.Errorf("followed %v", got)
		}
	})
}

// TestListenerReconnects kills the listener's connection and checks the
// store resubscribes and keeps delivering wake-ups.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	url, opts := postgres.fresh(t)
	relistened := make(chan struct{}, 1)
	opts.afterListenFunc = func() {
		select {
		case relistened <- struct{}{}:
		default:
		}
	}
	reader := open(t, url, opts)
	writer := open(t, url, Options{Schema: opts.Schema})
	before := reader.EventWatch("s")

	var killed bool
	if err := writer.db.QueryRowContext(t.Context(), `SELECT pg_terminate_backend($1)`, int64(reader.listenerPID.Load())).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if !killed {
		t.Fatal("listener connection not terminated")
	}
	// Losing the connection wakes everyone: notifications may be lost.
	select {
	case <-before:
	case <-time.After(10 * time.Second):
		t.Fatal("watchers not woken when the listener connection was lost")
	}
	select {
	case <-relistened:
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not reconnect")
	}
	after := reader.EventWatch("s")
	if err := writer.EventAppend(t.Context(), &telemetry.Event{EventType: "x", SessionID: "s"}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-after:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up after the listener reconnected")
	}
}

// TestSQLiteFileSurvivesReopen writes events, runs and messages, closes
// the store and reads them back from the file.
func TestSQLiteFileSurvivesReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir", "state.db")
	url := "sqlite:///" + path
	ctx := t.Context()
	s, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{telemetry.EventUserMessage, telemetry.EventFinalAnswer} {
		if err := s.EventAppend(ctx, &telemetry.Event{EventType: typ, SessionID: "s", RunID: "run_1", TraceID: "trace_1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.MessageAppend(ctx, "s", llm.Message{Role: llm.RoleUser, Content: "hi"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AgentUpsert(ctx, &task.AgentUpsertParams{Spec: task.AgentSpec{AgentID: "agent"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TaskCreate(ctx, &task.TaskCreateParams{Task: task.Task{
		TaskID: "job", AgentID: "agent", Query: "q", Enabled: true, Schedule: task.Schedule{Type: task.ScheduleManual},
	}}); err != nil {
		t.Fatal(err)
	}
	run, err := s.RunCreateManual(ctx, &task.RunCreateManualParams{TaskID: "job", RunID: "run_1"})
	if err != nil {
		t.Fatal(err)
	}
	trace, err := s.TraceGet(ctx, "trace_1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}

	r := open(t, url, Options{})
	if last, err := r.EventLastSequence(ctx, "s"); err != nil || last != 2 {
		t.Errorf("last sequence after reopen %d, %v", last, err)
	}
	e := &telemetry.Event{EventType: "x", SessionID: "s"}
	if err := r.EventAppend(ctx, e); err != nil || e.SequenceNumber != 3 {
		t.Errorf("append after reopen: sequence %d, %v", e.SequenceNumber, err)
	}
	got, err := r.TraceGet(ctx, "trace_1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(trace, got); diff != "" {
		t.Errorf("trace after reopen (-before +after):\n%s", diff)
	}
	if got, err := r.RunGet(ctx, &task.RunGetParams{RunID: run.Run.RunID}); err != nil || got.Status != task.RunQueued {
		t.Errorf("run after reopen: %+v, %v", got, err)
	}
	if msgs, err := r.MessageList(ctx, "s"); err != nil || len(msgs) != 1 || msgs[0].Content != "hi" {
		t.Errorf("messages after reopen: %v, %v", msgs, err)
	}
}

func TestClosedStore(t *testing.T) {
	forEach(t, all, func(t *testing.T, b backend) {
		url, opts := b.fresh(t)
		s, err := Open(t.Context(), url, opts)
		if err != nil {
			t.Fatal(err)
		}
		ch := s.EventWatch("s")
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second close: %v", err)
		}
		select {
		case <-ch:
		default:
			t.Error("close left a watcher waiting")
		}
		<-s.EventWatch("s") // closed already
		err = s.EventAppend(t.Context(), &telemetry.Event{SessionID: "s"})
		if !errors.Is(err, ErrClosed) {
			t.Errorf("append after close: %v, want ErrClosed", err)
		}
		if _, err := s.RunGet(t.Context(), &task.RunGetParams{RunID: "x"}); !errors.Is(err, ErrClosed) {
			t.Errorf("read after close: %v, want ErrClosed", err)
		}
	})
}

// TestStatementsSplit checks how migrations are rendered and split.
func TestStatementsSplit(t *testing.T) {
	t.Parallel()
	s := &Store{dialect: dialectSQLite, prefix: "x_"}
	got := s.statements(migration{sql: "-- a; comment;\nCREATE TABLE {p}a (\n  id {id} -- trailing\n);\n\nCREATE INDEX {p}i ON {p}a (id);\n"})
	want := []string{
		"CREATE TABLE x_a (\n  id INTEGER PRIMARY KEY AUTOINCREMENT -- trailing\n)",
		"CREATE INDEX x_i ON x_a (id)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statements (-want +got):\n%s", diff)
	}
}

// TestSequencesAcrossStores appends to one session through two stores at
// once: the sequence numbers are 1..n, each once.
func TestSequencesAcrossStores(t *testing.T) {
	forEach(t, durable, func(t *testing.T, b backend) {
		url, opts := b.fresh(t)
		stores := []*Store{open(t, url, opts), open(t, url, opts)}
		const writers, each = 8, 25
		var wg sync.WaitGroup
		for w := range writers {
			s := stores[w%2]
			wg.Go(func() {
				for range each {
					if err := s.EventAppend(t.Context(), &telemetry.Event{EventType: "x", SessionID: "s", TraceID: "trace_1"}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		evs, err := stores[0].EventList(t.Context(), telemetry.ListParams{SessionID: "s"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != writers*each {
			t.Fatalf("%d events, want %d", len(evs), writers*each)
		}
		for i, e := range evs {
			if e.SequenceNumber != int64(i+1) {
				t.Fatalf("event %d has sequence %d", i, e.SequenceNumber)
			}
		}
		tr, err := stores[1].TraceGet(t.Context(), "trace_1")
		if err != nil || len(tr.Events) != writers*each {
			t.Errorf("trace has %d events, %v", len(tr.Events), err)
		}
	})
}
