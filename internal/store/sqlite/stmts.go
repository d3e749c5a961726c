package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxCachedStatements bounds the statement cache. The store's queries are
// a fixed set (filters combine a few clauses), far fewer than this.
const maxCachedStatements = 256

// readDB is the pool of read-only connections with its prepared
// statements: SQLite spends more time parsing a small query than running
// it, so each query text is prepared once and reused (database/sql
// prepares it again on each connection that first runs it).
type readDB struct {
	*sql.DB

	mu    sync.RWMutex
	stmts map[string]*sql.Stmt

	// turns has a slot per connection of the pool (inTurn).
	turns turns
}

// newReadDB wraps db, a pool of size connections.
func newReadDB(db *sql.DB, size int) *readDB {
	return &readDB{DB: db, stmts: map[string]*sql.Stmt{}, turns: newTurns(size)}
}

// inTurn runs fn, which reads through one connection of the pool and
// gives it back, once the callers that came before had their turn.
func (r *readDB) inTurn(ctx context.Context, fn func() error) error {
	return r.turns.run(ctx, fn)
}

// turns hands a pool's connections out in order of arrival. database/sql
// hands a freed connection to a random waiter, so under a queue of
// requests some wait many times as long as the others (at 64 requests on
// 2 read connections, a p99 about 9 times the p50; on the one writer, the
// executor's steps and the API's writes); turns keep the order of
// arrival. A channel's blocked senders go first in, first out.
type turns chan struct{}

// newTurns returns turns for a pool of size connections.
func newTurns(size int) turns { return make(turns, size) }

// run runs fn, which uses one connection of the pool and gives it back,
// once the callers that came before had their turn; a caller whose
// context ends while it waits leaves without running fn.
func (t turns) run(ctx context.Context, fn func() error) error {
	select {
	case t <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-t }()
	return fn()
}

// stmt returns the prepared statement of query, preparing it the first
// time; nil when the cache is full (the caller runs query unprepared).
func (r *readDB) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	r.mu.RLock()
	st := r.stmts[query]
	r.mu.RUnlock()
	if st != nil {
		return st, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.stmts[query]; st != nil {
		return st, nil
	}
	if len(r.stmts) >= maxCachedStatements {
		return nil, nil
	}
	st, err := r.DB.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	r.stmts[query] = st
	return st, nil
}

// QueryContext runs query with its prepared statement.
func (r *readDB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := r.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return r.DB.QueryContext(ctx, query, args...)
	}
	return st.QueryContext(ctx, args...)
}

// QueryRowContext runs query with its prepared statement. A failure to
// prepare shows when the row is scanned, as with sql.DB.
func (r *readDB) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := r.stmt(ctx, query)
	if err != nil || st == nil {
		return r.DB.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

// Close closes the statements and the pool.
func (r *readDB) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for q, st := range r.stmts {
		errs = append(errs, st.Close())
		delete(r.stmts, q)
	}
	errs = append(errs, r.DB.Close())
	return errors.Join(errs...)
}
