package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/migration"
)

// Config configures Open.
type Config struct {
	// Path is the database file; it is created when missing.
	Path string
	// Clock tells the time for leases, wake-ups and timestamps
	// (default time.Now).
	Clock func() time.Time
	// Logger receives migration and diagnostic messages (default: discard).
	Logger *slog.Logger
	// BusyTimeout is how long a connection waits for another process's
	// lock on the file before failing (default 10s).
	BusyTimeout time.Duration
	// MaxReaders caps the read connections (default: GOMAXPROCS, at least 2).
	MaxReaders int
}

// WithDefaults returns a copy of c with unset fields defaulted.
func (c Config) WithDefaults() Config {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.BusyTimeout == 0 {
		c.BusyTimeout = 10 * time.Second
	}
	if c.MaxReaders == 0 {
		c.MaxReaders = max(2, runtime.GOMAXPROCS(0))
	}
	return c
}

// Validate reports the first problem with c; call it after WithDefaults.
func (c Config) Validate() error {
	switch {
	case c.Path == "":
		return errors.New("sqlite: Path is required")
	case c.Path == ":memory:" || strings.HasPrefix(c.Path, "file:"):
		return fmt.Errorf("sqlite: Path must be a plain file path, not %q", c.Path)
	case strings.ContainsRune(c.Path, '?'):
		return fmt.Errorf("sqlite: Path %q must not contain '?'", c.Path)
	case c.Clock == nil:
		return errors.New("sqlite: Clock is required")
	case c.Logger == nil:
		return errors.New("sqlite: Logger is required")
	case c.BusyTimeout < 0:
		return fmt.Errorf("sqlite: BusyTimeout must not be negative, got %s", c.BusyTimeout)
	case c.MaxReaders < 1:
		return fmt.Errorf("sqlite: MaxReaders must be at least 1, got %d", c.MaxReaders)
	}
	return nil
}

// Store is the SQLite implementation of store.Store. Every write goes
// through one connection and starts with BEGIN IMMEDIATE, so writers queue
// in the process instead of failing with SQLITE_BUSY; reads use a pool of
// read-only connections that WAL lets run beside the writer.
type Store struct {
	w *sql.DB
	// wturns orders the writes on w (writeTx, inWriteTurn).
	wturns turns
	r      *readDB
	now    func() time.Time
	log    *slog.Logger
}

var _ store.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Open opens (creating if needed) the database file at cfg.Path and applies
// the pending schema migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	busy := strconv.FormatInt(cfg.BusyTimeout.Milliseconds(), 10)
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+busy+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", cfg.Path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	// One writer connection: SQLite has a single writer anyway, and
	// queueing in database/sql is cheaper and fairer than busy-waiting.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	s := &Store{w: w, wturns: newTurns(1), now: cfg.Clock, log: cfg.Logger}
	if err := s.migrate(ctx); err != nil {
		_ = w.Close()
		return nil, err
	}

	rq := url.Values{}
	rq.Add("_pragma", "busy_timeout("+busy+")")
	rq.Add("_pragma", "foreign_keys(1)")
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", cfg.Path+"?"+rq.Encode())
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite %s: %w", cfg.Path, err)
	}
	r.SetMaxOpenConns(cfg.MaxReaders)
	r.SetMaxIdleConns(cfg.MaxReaders)
	s.r = newReadDB(r, cfg.MaxReaders)
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that both the writer and the readers answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("ping sqlite: %w", err)
	}
	return nil
}

// Close closes the database; in-flight calls fail.
func (s *Store) Close() error {
	var errs []error
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close sqlite: %w", err)
	}
	return nil
}

// migrate applies the pending migrations, each in its own IMMEDIATE
// transaction, which also keeps two processes from applying one twice.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	for _, m := range ms {
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx,
				`SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx,
				`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.Version, m.Name, micros(s.now())); err != nil {
				return err
			}
			s.log.InfoContext(ctx, "applied migration", "driver", "sqlite", "migration", m.Name)
			return nil
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	var newest int
	if err := s.w.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&newest); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if known := ms[len(ms)-1].Version; newest > known { // migration.Load never returns none here: the embed needs a match
		s.log.WarnContext(ctx, "database schema is newer than this binary",
			"driver", "sqlite", "schema_version", newest, "known_version", known)
	}
	return nil
}

// writeTx runs fn in a write transaction (BEGIN IMMEDIATE on the single
// writer connection) and commits it when fn returns nil.
// Writers take turns in order of arrival (turns).
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.inWriteTurn(ctx, func() error {
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		if err := fn(tx); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
}

// exec runs one statement on the writer connection in its turn.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.inWriteTurn(ctx, func() error {
		var err error
		res, err = s.w.ExecContext(ctx, query, args...)
		return err
	})
	return res, err
}

// inWriteTurn runs fn, which makes one statement on the writer
// connection, in its turn among the writers.
func (s *Store) inWriteTurn(ctx context.Context, fn func() error) error {
	return s.wturns.run(ctx, fn)
}

// sqliteCode returns the extended result code of a SQLite error, or 0.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code()
	}
	return 0
}

func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isForeignKey(err error) bool {
	return sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// micros is how times are stored: microseconds since the Unix epoch, the
// same precision as PostgreSQL's timestamptz.
func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: micros(*t), Valid: true}
}

func timePtr(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// blob stores empty byte slices as NULL so that nil and empty read back
// alike (nil).
func blob(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
