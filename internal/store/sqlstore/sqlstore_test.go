package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/omniserve/omniserve/internal/memory"
	"github.com/omniserve/omniserve/internal/memory/memorytest"
	"github.com/omniserve/omniserve/internal/task"
	"github.com/omniserve/omniserve/internal/task/tasktest"
	"github.com/omniserve/omniserve/internal/telemetry"
	"github.com/omniserve/omniserve/internal/telemetry/telemetrytest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// postgresURLVar names the variable that points the tests at PostgreSQL.
const postgresURLVar = "OMNISERVE_TEST_POSTGRES_URL"

// backend is one database the tests run against.
type backend struct {
	name string
	// fresh returns the URL and options of a new, empty database (a temp
	// file, or a schema of its own dropped at cleanup).
	fresh func(t testing.TB) (string, Options)
}

// sqliteFile is SQLite on a file in the test's temp directory.
var sqliteFile = backend{name: "sqlite", fresh: func(t testing.TB) (string, Options) {
	return "sqlite:///" + filepath.Join(t.TempDir(), "store.db"), Options{}
}}

// sqliteMemory is SQLite in memory.
var sqliteMemory = backend{name: "sqlite_memory", fresh: func(testing.TB) (string, Options) {
	return "sqlite:///:memory:", Options{}
}}

// skipWithoutPostgres skips t when no PostgreSQL URL is set.
func skipWithoutPostgres(t testing.TB) {
	t.Helper()
	if os.Getenv(postgresURLVar) == "" {
		t.Skip(postgresURLVar + " is not set; eval \"$(scripts/test-services.sh)\" to test against PostgreSQL")
	}
}

// postgres is PostgreSQL from OMNISERVE_TEST_POSTGRES_URL, one schema per
// call; the test skips when the variable is unset.
var postgres = backend{name: "postgres", fresh: func(t testing.TB) (string, Options) {
	skipWithoutPostgres(t)
	url := os.Getenv(postgresURLVar)
	schema := "t_" + randomHex(8)
	t.Cleanup(func() { dropSchema(t, url, schema) })
	return url, Options{Schema: schema}
}}

// durable are the backends whose state outlives a store.
var durable = []backend{sqliteFile, postgres}

// all are every backend.
var all = []backend{sqliteFile, sqliteMemory, postgres}

// forEach runs fn as a subtest per backend.
func forEach(t *testing.T, backends []backend, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			if b.name == postgres.name {
				skipWithoutPostgres(t)
			}
			fn(t, b)
		})
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func dropSchema(t testing.TB, url, schema string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
		return
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS "`+schema+`" CASCADE`); err != nil {
		t.Errorf("drop schema %s: %v", schema, err)
	}
}

// open opens a store, closed at cleanup.
func open(t testing.TB, url string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// fresh opens a store on a new database of b.
func (b backend) open(t testing.TB) *Store {
	t.Helper()
	url, opts := b.fresh(t)
	return open(t, url, opts)
}

func TestTaskContract(t *testing.T) {
	forEach(t, all, func(t *testing.T, b backend) {
		caps := tasktest.Capabilities{}
		if b.name != sqliteMemory.name {
			caps.ReopenFunc = func(t *testing.T, s task.Store, clock *tasktest.Clock) task.Store {
				old := s.(*Store)
				if err := old.Close(); err != nil {
					t.Fatalf("close before reopen: %v", err)
				}
				opts := old.opts
				opts.ClockFunc = clock.Now
				return open(t, old.url, opts)
			}
		}
		tasktest.Run(t, func(t *testing.T, clock *tasktest.Clock) task.Store {
			url, opts := b.fresh(t)
			opts.ClockFunc = clock.Now
			return open(t, url, opts)
		}, caps)
	})
}

func TestTelemetryContract(t *testing.T) {
	forEach(t, all, func(t *testing.T, b backend) {
		telemetrytest.Run(t, func(t *testing.T) telemetry.Store { return b.open(t) })
	})
}

func TestMemoryContract(t *testing.T) {
	forEach(t, all, func(t *testing.T, b backend) {
		memorytest.Run(t, func(t *testing.T) memory.Store { return b.open(t) })
	})
}
