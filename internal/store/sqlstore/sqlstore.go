package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/omniserve/omniserve/internal/memory"
	"github.com/omniserve/omniserve/internal/task"
	"github.com/omniserve/omniserve/internal/telemetry"
)

// Interface guards.
var (
	_ task.Store      = (*Store)(nil)
	_ telemetry.Store = (*Store)(nil)
	_ memory.Store    = (*Store)(nil)
)

// Sentinels of this package.
var (
	// ErrUnsupportedURL reports a URL whose scheme names no database this
	// package speaks.
	ErrUnsupportedURL = errors.New("sqlstore: unsupported database URL")
	// ErrInvalidOption reports an [Options] field that fails validation.
	ErrInvalidOption = errors.New("sqlstore: invalid option")
	// ErrClosed reports a call on a closed [Store].
	ErrClosed = errors.New("sqlstore: store closed")
)

// Options tune a [Store]. The zero value is ready to use.
type Options struct {
	// TablePrefix is prepended to every table and index name, so several
	// stores can share one database or schema. It must be a plain SQL
	// identifier of at most 32 characters (letters, digits, '_', not
	// starting with a digit). Defaults to "".
	TablePrefix string
	// Schema is the PostgreSQL schema the tables live in, created if
	// missing; connections use it as their search_path. Only for
	// PostgreSQL; the same identifier rules apply, up to 63 characters.
	// Defaults to the server's search_path (normally "public").
	Schema string
	// ClockFunc, when set, is the clock every time the store records or
	// compares is read from, instead of the database server's on
	// PostgreSQL or the process's on SQLite. Tests set it to drive leases
	// and schedules without sleeping; production leaves it nil, so that on
	// PostgreSQL every process's leases follow one clock.
	ClockFunc func() time.Time
	// Logger receives the store's warnings, such as a lost listener
	// connection. Defaults to discarding them.
	Logger *slog.Logger
	// PollInterval is how often, on SQLite, every [Store.EventWatch]
	// channel is closed so followers see other processes' appends.
	// Defaults to 200ms. PostgreSQL pushes wake-ups instead.
	PollInterval time.Duration
	// MaxOpenConns caps the connection pool. Defaults to 10 on PostgreSQL
	// (plus one dedicated listener connection), 4 for a SQLite file and 1
	// for an in-memory SQLite database, which must stay on one connection
	// to stay one database.
	MaxOpenConns int

	// afterListenFunc, when set, is called each time the PostgreSQL
	// listener has (re)subscribed. Tests wait on it.
	afterListenFunc func()
}

// identRE is what TablePrefix and Schema may contain.
var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (o *Options) validate(d dialect) error {
	if o.TablePrefix != "" && (len(o.TablePrefix) > 32 || !identRE.MatchString(o.TablePrefix)) {
		return fmt.Errorf("%w: TablePrefix %q must be an identifier of at most 32 characters", ErrInvalidOption, o.TablePrefix)
	}
	if o.Schema != "" {
		if d != dialectPostgres {
			return fmt.Errorf("%w: Schema is only for PostgreSQL", ErrInvalidOption)
		}
		if len(o.Schema) > 63 || !identRE.MatchString(o.Schema) {
			return fmt.Errorf("%w: Schema %q must be an identifier of at most 63 characters", ErrInvalidOption, o.Schema)
		}
	}
	switch {
	case o.PollInterval < 0:
		return fmt.Errorf("%w: PollInterval must not be negative", ErrInvalidOption)
	case o.MaxOpenConns < 0:
		return fmt.Errorf("%w: MaxOpenConns must not be negative", ErrInvalidOption)
	}
	return nil
}

// dialect is the SQL database a store speaks.
type dialect int

const (
	dialectSQLite dialect = iota + 1
	dialectPostgres
)

func (d dialect) String() string {
	if d == dialectPostgres {
		return "postgres"
	}
	return "sqlite"
}

// WakeupMode says how [Store.EventWatch] learns of appends made by other
// processes.
type WakeupMode string

// Wake-up modes.
const (
	// WakeupPush means the database pushes a notification per append
	// (PostgreSQL LISTEN/NOTIFY).
	WakeupPush WakeupMode = "push"
	// WakeupPolling means watchers are woken every [Options.PollInterval]
	// whether or not anything changed (SQLite).
	WakeupPolling WakeupMode = "polling"
)

// Store is the SQL backend of [task.Store], [telemetry.Store] and
// [memory.Store]. It is safe for concurrent use. Call [Store.Close] when
// done.
type Store struct {
	db      *sql.DB
	dialect dialect
	prefix  string
	clock   func() time.Time
	logger  *slog.Logger
	// url and opts are what the store was opened with.
	url  string
	opts Options

	// writeMu queues this process's SQLite write transactions, so they
	// wait here instead of in SQLite's busy handler.
	writeMu sync.Mutex
	// queries caches raw query text rewritten for the dialect.
	queries sync.Map

	hub *watchHub
	// channel is the PostgreSQL NOTIFY channel of this schema and prefix.
	channel string
	// listenerPID is the server process of the listener connection.
	listenerPID atomic.Uint32

	stop      context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open connects to the database url names, applies the migrations it
// lacks and returns the store. See the package documentation for the
// URLs it accepts.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	target, err := parseURL(url)
	if err != nil {
		return nil, err
	}
	if err := opts.validate(target.dialect); err != nil {
		return nil, err
	}
	s := &Store{
		dialect: target.dialect,
		prefix:  opts.TablePrefix,
		clock:   opts.ClockFunc,
		logger:  cmp.Or(opts.Logger, slog.New(slog.NewTextHandler(io.Discard, nil))).With("component", "sqlstore"),
		url:     url,
		opts:    opts,
		hub:     newWatchHub(),
		done:    make(chan struct{}),
	}
	var pgConfig *pgx.ConnConfig
	switch target.dialect {
	case dialectSQLite:
		if !target.memory {
			// SQLite creates the file but not its directory.
			if err := os.MkdirAll(filepath.Dir(target.path), 0o750); err != nil {
				return nil, fmt.Errorf("open sqlite: %w", err)
			}
		}
		s.db, err = sql.Open("sqlite", sqliteDSN(target))
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		maxConns := 4
		if target.memory {
			// Every connection to :memory: is a database of its own.
			maxConns = 1
		} else if opts.MaxOpenConns > 0 {
			maxConns = opts.MaxOpenConns
		}
		s.db.SetMaxOpenConns(maxConns)
		s.db.SetMaxIdleConns(maxConns)
		s.db.SetConnMaxIdleTime(0)
		s.db.SetConnMaxLifetime(0)
	case dialectPostgres:
		pgConfig, err = pgx.ParseConfig(target.dsn)
		if err != nil {
			return nil, fmt.Errorf("parse postgres url: %w", err)
		}
		if opts.Schema != "" {
			pgConfig.RuntimeParams["search_path"] = opts.Schema
		}
		s.db = stdlib.OpenDB(*pgConfig)
		s.db.SetMaxOpenConns(cmp.Or(opts.MaxOpenConns, 10))
		s.db.SetMaxIdleConns(cmp.Or(opts.MaxOpenConns, 10))
		s.channel = notifyChannel(opts.Schema, opts.TablePrefix)
	}
	if err := s.migrate(ctx, opts.Schema); err != nil {
		_ = s.db.Close()
		return nil, err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	switch target.dialect {
	case dialectSQLite:
		go s.poll(runCtx, cmp.Or(opts.PollInterval, 200*time.Millisecond))
	case dialectPostgres:
		conn, err := s.listenConnect(ctx, pgConfig)
		if err != nil {
			stop()
			_ = s.db.Close()
			return nil, err
		}
		go s.listen(runCtx, pgConfig, conn)
	}
	return s, nil
}

// Close stops the store's background work and closes its connections.
// It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stop()
		<-s.done
		s.hub.close()
		s.closeErr = s.db.Close()
	})
	return s.closeErr
}

// WakeupMode reports how [Store.EventWatch] learns of other processes'
// appends: pushed on PostgreSQL, polled on SQLite.
func (s *Store) WakeupMode() WakeupMode {
	if s.dialect == dialectPostgres {
		return WakeupPush
	}
	return WakeupPolling
}

// target is a parsed database URL.
type target struct {
	dialect dialect
	// path is the SQLite file; empty with memory.
	path   string
	memory bool
	// dsn is the PostgreSQL URL as pgx reads it.
	dsn string
}

// parseURL reads a SQLAlchemy-style database URL.
func parseURL(raw string) (target, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return target{}, fmt.Errorf("%w: %q has no scheme", ErrUnsupportedURL, redact(raw))
	}
	// A driver suffix (postgresql+psycopg, sqlite+pysqlite) names a
	// Python driver; the database is what matters here.
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch base {
	case "sqlite":
		// sqlite:///rel/path.db → "rel/path.db"; sqlite:////abs.db → "/abs.db";
		// sqlite:// and sqlite:///:memory: → in memory. The host part
		// SQLAlchemy requires to be empty.
		if rest == "" {
			return target{dialect: dialectSQLite, memory: true}, nil
		}
		path, ok := strings.CutPrefix(rest, "/")
		if !ok {
			return target{}, fmt.Errorf("%w: sqlite URL %q must be sqlite:///path", ErrUnsupportedURL, raw)
		}
		path, _, _ = strings.Cut(path, "?") // SQLAlchemy driver options do not apply
		switch path {
		case "", ":memory:":
			return target{dialect: dialectSQLite, memory: true}, nil
		}
		return target{dialect: dialectSQLite, path: path}, nil
	case "postgres", "postgresql":
		if rest == "" {
			return target{}, fmt.Errorf("%w: postgres URL has no host", ErrUnsupportedURL)
		}
		return target{dialect: dialectPostgres, dsn: "postgres://" + rest}, nil
	}
	return target{}, fmt.Errorf("%w: scheme %q (want sqlite or postgresql)", ErrUnsupportedURL, scheme)
}

// redact hides a URL's password in error messages.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "<unparsable>"
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return raw
	}
	user, _, _ := strings.Cut(userinfo, ":")
	return scheme + "://" + user + ":xxxxx@" + host
}

// sqliteDSN returns the modernc.org/sqlite DSN of t: WAL, a 30 s busy
// timeout, BEGIN IMMEDIATE for every read-write transaction, and a page
// cache of up to 16 MB per connection, which keeps the hot index pages of
// a large history in memory (with SQLite's default 2 MB, a run transition
// at 100,000 runs of history cost a fifth more than at 100).
func sqliteDSN(t target) string {
	params := "_pragma=busy_timeout(30000)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-16000)&_txlock=immediate"
	if t.memory {
		return "file::memory:?" + params
	}
	// In a file: URI, '%', '?' and '#' are syntax.
	path := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(t.path)
	return "file:" + path + "?" + params + "&_pragma=journal_mode(WAL)"
}

// notifyChannel names the NOTIFY channel of a schema and prefix, within
// PostgreSQL's 63-byte identifier limit.
func notifyChannel(schema, prefix string) string {
	name := "omniserve_events_" + cmp.Or(schema, "default") + "_" + prefix
	if len(name) > 63 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(name))
		name = "omniserve_events_" + strconv.FormatUint(h.Sum64(), 16)
	}
	return name
}

// q returns the raw query rewritten for the store's dialect: {p} becomes
// the table prefix, {lock} FOR UPDATE, {share} FOR SHARE and {skiplocked}
// FOR UPDATE SKIP LOCKED on PostgreSQL (nothing on SQLite, whose write
// transactions hold the database lock), and ? the dialect's placeholder.
func (s *Store) q(raw string) string {
	if v, ok := s.queries.Load(raw); ok {
		return v.(string)
	}
	pg := s.dialect == dialectPostgres
	pick := func(clause string) string {
		if pg {
			return clause
		}
		return ""
	}
	out := strings.NewReplacer(
		"{p}", s.prefix,
		"{lock}", pick(" FOR UPDATE"),
		"{share}", pick(" FOR SHARE"),
		"{skiplocked}", pick(" FOR UPDATE SKIP LOCKED"),
	).Replace(raw)
	if pg {
		var b strings.Builder
		n := 0
		for _, c := range out {
			if c == '?' {
				n++
				b.WriteString("$" + strconv.Itoa(n))
				continue
			}
			b.WriteRune(c)
		}
		out = b.String()
	}
	s.queries.Store(raw, out)
	return out
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Errors a transaction body returns to have the whole transaction retried.
var (
	// errRetry marks a transient failure: a deadlock, a serialisation
	// failure, SQLITE_BUSY, or a lost compare-and-swap.
	errRetry = errors.New("sqlstore: transient conflict")
	// errUnique marks a unique violation: a concurrent transaction wrote
	// the same key first, so a retry sees its row.
	errUnique = errors.New("sqlstore: unique violation")
)

// maxAttempts bounds how often one transaction is retried.
const maxAttempts = 20

// dbError marks an error of the database layer, so [Store.inTx] can tell
// it from the task rules' errors, which must reach callers unchanged.
type dbError struct{ err error }

func (e *dbError) Error() string { return e.err.Error() }
func (e *dbError) Unwrap() error { return e.err }

// dbErr marks err as a database error and classifies it: unique
// violations and transient failures are marked for retry. Callers handle
// sql.ErrNoRows themselves before calling it.
func dbErr(err error) error {
	if err == nil {
		return nil
	}
	var done *dbError
	if errors.As(err, &done) {
		return err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return &dbError{fmt.Errorf("%w: %w", errUnique, err)}
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return &dbError{fmt.Errorf("%w: %w", errRetry, err)}
		}
		return &dbError{err}
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		switch code := liteErr.Code(); {
		case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE || code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return &dbError{fmt.Errorf("%w: %w", errUnique, err)}
		case code&0xff == sqlite3.SQLITE_BUSY || code&0xff == sqlite3.SQLITE_LOCKED:
			return &dbError{fmt.Errorf("%w: %w", errRetry, err)}
		}
	}
	if strings.Contains(err.Error(), "sql: database is closed") {
		// database/sql does not export this error.
		return &dbError{fmt.Errorf("%w: %w", ErrClosed, err)}
	}
	return &dbError{err}
}

// inTx runs fn in a read-write transaction, retrying it from the start
// while it fails with a transient conflict or unique violation. Errors fn
// returns that do not come from the database pass through unchanged: the
// task rules' errors must reach callers as they are. op names the
// operation in database errors.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	var err error
	for range maxAttempts {
		err = s.tryTx(ctx, fn)
		if err == nil || !(errors.Is(err, errRetry) || errors.Is(err, errUnique)) || ctx.Err() != nil {
			break
		}
	}
	var dbe *dbError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errUnique):
		// Still conflicting after every retry: report a conflict.
		return fmt.Errorf("%s: %w: %w", op, task.ErrConflict, err)
	case errors.As(err, &dbe):
		return fmt.Errorf("%s: %w", op, err)
	}
	return err
}

// wrap marks err, from a read outside [Store.inTx], as the database's and
// names op.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", op, dbErr(err))
}

// tryTx runs fn once in a transaction.
func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) (err error) {
	if s.dialect == dialectSQLite {
		s.writeMu.Lock()
		defer s.writeMu.Unlock()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return dbErr(err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := fn(tx); err != nil {
		return err
	}
	return dbErr(tx.Commit())
}

// now returns the store's current time at microsecond precision: the
// injected clock's, else the database server's on PostgreSQL, else the
// process's. Transactions call it once, after taking their row locks, so
// a wait for a lock does not age the time their rules see; PostgreSQL's
// statement_timestamp() is used rather than now(), which is fixed at the
// transaction's start.
func (s *Store) now(ctx context.Context, q querier) (time.Time, error) {
	switch {
	case s.clock != nil:
		return micro(s.clock()), nil
	case s.dialect == dialectPostgres:
		var t time.Time
		if err := q.QueryRowContext(ctx, "SELECT statement_timestamp()").Scan(&t); err != nil {
			return time.Time{}, dbErr(err)
		}
		return micro(t), nil
	}
	return micro(time.Now()), nil
}

// wallNow is the time events are stamped with: the injected clock's, else
// the process's.
func (s *Store) wallNow() time.Time {
	if s.clock != nil {
		return s.clock().UTC()
	}
	return time.Now().UTC()
}

func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// micros renders t for a time column.
func micros(t time.Time) int64 { return t.UnixMicro() }

// microsPtr renders t for a nullable time column.
func microsPtr(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func flag(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// placeholders returns n comma-separated placeholders.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
