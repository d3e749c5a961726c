package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"fledge.dev/fledge/internal/store"
	"fledge.dev/fledge/internal/store/migration"
)

// Config configures Open.
type Config struct {
	// DSN is a libpq connection string or URL; pgxpool settings such as
	// pool_max_conns may be given in it.
	DSN string
	// Clock tells the time for leases, wake-ups and timestamps
	// (default time.Now). The database's own clock is never used.
	Clock func() time.Time
	// Logger receives migration and diagnostic messages (default: discard).
	Logger *slog.Logger
}

// WithDefaults returns a copy of c with unset fields defaulted.
func (c Config) WithDefaults() Config {
	if c.Clock == nil {
		c.Clock = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first problem with c; call it after WithDefaults.
func (c Config) Validate() error {
	switch {
	case c.DSN == "":
		return errors.New("postgres: DSN is required")
	case c.Clock == nil:
		return errors.New("postgres: Clock is required")
	case c.Logger == nil:
		return errors.New("postgres: Logger is required")
	}
	return nil
}

// Store is the PostgreSQL implementation of store.Store, safe to share
// between several Fledge replicas.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
	log  *slog.Logger
}

var _ store.Store = (*Store)(nil)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the advisory lock that makes replicas starting at
// once apply migrations one at a time ("fledge-m" in ASCII).
const migrationLockKey int64 = 0x666c656467652d6d

// Open connects to cfg.DSN and applies the pending schema migrations.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	pcfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse DSN: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	s := &Store{pool: pool, now: cfg.Clock, log: cfg.Logger}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping postgres: %w", err)
	}
	return nil
}

// Close closes the pool, waiting for connections in use to be returned.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// migrate applies the pending migrations in one transaction that first
// takes a transaction-scoped advisory lock: replicas starting together
// queue on it, and the later ones find nothing left to do.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
			return fmt.Errorf("take migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		done := map[int]bool{}
		newest := 0
		for _, v := range applied {
			done[int(v)] = true
			newest = max(newest, int(v))
		}
		for _, m := range ms {
			if done[m.Version] {
				continue
			}
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("apply %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`,
				m.Version, m.Name, s.now()); err != nil {
				return fmt.Errorf("record %s: %w", m.Name, err)
			}
			s.log.InfoContext(ctx, "applied migration", "driver", "postgres", "migration", m.Name)
		}
		if len(ms) > 0 && newest > ms[len(ms)-1].Version {
			s.log.WarnContext(ctx, "database schema is newer than this binary",
				"driver", "postgres", "schema_version", newest, "known_version", ms[len(ms)-1].Version)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// pgCode returns the SQLSTATE of a PostgreSQL error, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// mapErr turns driver errors into the store's: no row is ErrNotFound, a
// unique violation ErrConflict.
func mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgx.ErrNoRows):
		return store.ErrNotFound
	case pgCode(err) == uniqueViolation:
		return fmt.Errorf("%w: %w", store.ErrConflict, err)
	}
	return err
}

func utc(p *time.Time) *time.Time {
	if p == nil {
		return nil
	}
	t := p.UTC()
	return &t
}

func orNil(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
