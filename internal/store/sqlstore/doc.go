// Package sqlstore is the SQL backend: one [Store] keeps background tasks
// ([task.Store]), the telemetry event log ([telemetry.Store]) and session
// memory ([memory.Store]) in SQLite (through modernc.org/sqlite, no cgo) or
// PostgreSQL (through pgx), on one connection pool.
//
// # Opening
//
// [Open] takes a SQLAlchemy-style URL, as the original's configuration
// does: sqlite:///relative/path.db, sqlite:////absolute/path.db,
// sqlite:///:memory: (or sqlite://), and postgres:// or postgresql:// URLs;
// a driver suffix such as postgresql+psycopg:// or sqlite+pysqlite:// is
// ignored. Open applies the embedded migrations (migrations/NNN_*.sql,
// recorded in a schema_migrations table) before it returns, in one
// transaction: under pg_advisory_xact_lock on PostgreSQL and BEGIN
// IMMEDIATE on SQLite, so several processes may start together.
//
// # Schema
//
// Every entity is one row: the record itself as JSON text in a data column,
// an integer version for compare-and-swap, and copies of the fields that
// claims, the overlap guard, occurrence dedupe, the lease sweeper and lists
// filter and sort on, as indexed columns. Times in those columns are Unix
// microseconds, the precision every record keeps. A write touches the rows
// it changes and their index entries, never the history, so its cost does
// not grow with the number of runs or events kept.
//
// Events are an append-only table keyed by (session_id, sequence), with a
// global autoincrement id that orders [Store.EventQuery] and is its cursor.
// A per-session counter row hands out sequence numbers: the append's upsert
// of that row takes its row lock (PostgreSQL) or runs under the database
// write lock (SQLite), so numbers are gap-free and race-free across
// processes. A trace table keeps each trace's [telemetry.TraceFacts],
// folded in on append, so listing traces never scans events.
//
// # Transactions, claims and leases
//
// Every task-store method is one transaction that loads the rows it needs
// (FOR UPDATE on PostgreSQL), calls package task's Prepare or Apply rule
// function, and writes back what changed with a version check. The rules
// are therefore exactly those of the in-memory store. Claims use FOR
// UPDATE SKIP LOCKED on PostgreSQL, so concurrent workers never wait on one
// another's candidates; on SQLite every write transaction is BEGIN
// IMMEDIATE (WAL mode, 30 s busy timeout), which serialises writers across
// processes, and writers within one process queue on a mutex rather than
// in SQLite's busy loop. Transactions that lose a race (a unique
// violation, a deadlock, a serialisation failure, SQLITE_BUSY) are retried
// from the start.
//
// The database is the clock for leases: on PostgreSQL each transaction
// reads the server's time once, after taking its row locks, and the rules
// use it, so every process's leases follow one clock. SQLite has no
// server, so the process clock stands in (every process sharing the file
// runs on the same machine). [Options.ClockFunc] replaces both, for
// tests. Events are stamped with the process clock, as by every backend.
//
// # Live follow
//
// [Store.EventWatch] channels close on the next append in this process at
// once. Appends by other processes arrive through LISTEN/NOTIFY on
// PostgreSQL: the append notifies inside its transaction (so the wake-up
// follows the commit), and one dedicated listener connection per Store
// fans notifications out, reconnecting after failures and waking every
// follower when it does, since notifications may have been missed. SQLite
// has no notifications: every channel is also closed every
// [Options.PollInterval]. [Store.WakeupMode] declares which applies.
package sqlstore
