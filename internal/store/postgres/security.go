package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"fledge.dev/fledge/internal/store"
)

// CreateToken stores a new token; store.ErrConflict if the name or hash
// is taken.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	created := t.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	roles := t.Roles
	if roles == nil {
		roles = []string{}
	}
	_, err := s.pool.Exec(ctx,
		`INSERT INTO tokens (name, hash, roles, created_at, created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		t.Name, t.Hash, roles, created, t.CreatedBy, t.ExpiresAt)
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, mapErr(err))
	}
	return nil
}

const tokenColumns = `name, hash, roles, created_at, created_by, expires_at`

// scanToken reads a row of tokenColumns, then into extra the columns
// that follow them.
func scanToken(row pgx.Row, extra ...any) (store.Token, error) {
	var t store.Token
	if err := row.Scan(append([]any{&t.Name, &t.Hash, &t.Roles, &t.CreatedAt, &t.CreatedBy, &t.ExpiresAt}, extra...)...); err != nil {
		return t, err
	}
	t.CreatedAt, t.ExpiresAt = t.CreatedAt.UTC(), utc(t.ExpiresAt)
	return t, nil
}

// TokenByHash returns the token with that hash and the tokens revision,
// read in one statement (one snapshot), or store.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	var rev int64
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+`, (`+tokensRevision+`)
		FROM tokens WHERE hash = $1`, hash), &rev)
	if err != nil {
		return store.Token{}, fmt.Errorf("look up token: %w", mapErr(err))
	}
	t.Revision = rev
	return t, nil
}

// tokensRevision reads the revision the tokens_revision trigger bumps.
const tokensRevision = `SELECT revision FROM tokens_revision WHERE id = 1`

// TokensRevision returns the tokens revision.
func (s *Store) TokensRevision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.pool.QueryRow(ctx, tokensRevision).Scan(&rev); err != nil {
		return 0, fmt.Errorf("read tokens revision: %w", err)
	}
	return rev, nil
}

// ListTokens returns every token ordered by name.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Token, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	if out == nil {
		out = []store.Token{}
	}
	return out, nil
}

// DeleteToken deletes a token; store.ErrNotFound if there is none.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	return s.deleteOne(ctx, "token "+name, `DELETE FROM tokens WHERE name = $1`, name)
}

func (s *Store) deleteOne(ctx context.Context, what, query string, args ...any) error {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete %s: %w", what, err)
	}
	return nil
}

// AppendAudit appends an entry; At defaults to now.
func (s *Store) AppendAudit(ctx context.Context, e store.AuditEntry) (store.AuditEntry, error) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	e.At = e.At.UTC().Truncate(time.Microsecond)
	err := s.pool.QueryRow(ctx,
		`INSERT INTO audit_log (at, actor, action, target, remote_addr, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		e.At, e.Actor, e.Action, e.Target, e.RemoteAddr, e.Outcome, e.Detail).Scan(&e.ID)
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// ListAudit returns entries newest first.
// PruneAudit records the prune and deletes what it covers.
func (s *Store) PruneAudit(ctx context.Context, p store.AuditPrune) (int64, error) {
	if p.At.IsZero() {
		p.At = s.now()
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO audit_prunes (at, actor, before, through_id) VALUES ($1, $2, $3, $4)`,
			p.At, p.Actor, p.Before, p.ThroughID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM audit_log WHERE at < $1 AND id <= $2`, p.Before, p.ThroughID)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	return n, nil
}

func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if !f.Since.IsZero() {
		add("at >= ?", f.Since)
	}
	if f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	if !f.Until.IsZero() {
		add("at < ?", f.Until)
	}
	if f.AfterID > 0 {
		add("id > ?", f.AfterID)
	}
	q := `SELECT id, at, actor, action, target, remote_addr, outcome, detail FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	order := " ORDER BY id DESC"
	if f.Oldest {
		order = " ORDER BY id"
	}
	q += order + " LIMIT $" + strconv.Itoa(len(args))
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AuditEntry, error) {
		var e store.AuditEntry
		err := r.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.Target, &e.RemoteAddr, &e.Outcome, &e.Detail)
		e.At = e.At.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	if out == nil {
		out = []store.AuditEntry{}
	}
	return out, nil
}

// PutSecret creates or replaces a secret.
func (s *Store) PutSecret(ctx context.Context, sec store.Secret) (bool, error) {
	var created bool
	err := s.pool.QueryRow(ctx, `INSERT INTO secrets (name, sealed, created_at, updated_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (name) DO UPDATE SET sealed = EXCLUDED.sealed, updated_at = EXCLUDED.updated_at
		RETURNING (xmax = 0)`, sec.Name, sec.Sealed, s.now()).Scan(&created)
	if err != nil {
		return false, fmt.Errorf("put secret %s: %w", sec.Name, err)
	}
	return created, nil
}

func scanSecret(row pgx.Row) (store.Secret, error) {
	var sec store.Secret
	err := row.Scan(&sec.Name, &sec.Sealed, &sec.CreatedAt, &sec.UpdatedAt)
	sec.CreatedAt, sec.UpdatedAt = sec.CreatedAt.UTC(), sec.UpdatedAt.UTC()
	return sec, err
}

// GetSecret returns one secret or store.ErrNotFound.
func (s *Store) GetSecret(ctx context.Context, name string) (store.Secret, error) {
	sec, err := scanSecret(s.pool.QueryRow(ctx, `SELECT name, sealed, created_at, updated_at FROM secrets WHERE name = $1`, name))
	if err != nil {
		return store.Secret{}, fmt.Errorf("get secret %s: %w", name, mapErr(err))
	}
	return sec, nil
}

// ListSecrets returns every secret ordered by name.
func (s *Store) ListSecrets(ctx context.Context) ([]store.Secret, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, sealed, created_at, updated_at FROM secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Secret, error) { return scanSecret(r) })
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	if out == nil {
		out = []store.Secret{}
	}
	return out, nil
}

// DeleteSecret deletes a secret; store.ErrNotFound if there is none.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	return s.deleteOne(ctx, "secret "+name, `DELETE FROM secrets WHERE name = $1`, name)
}

// RecordDelivery remembers a delivery key; store.ErrConflict if seen.
func (s *Store) RecordDelivery(ctx context.Context, key string, at time.Time) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO webhook_deliveries (key, received_at) VALUES ($1, $2)`, key, at); err != nil {
		return fmt.Errorf("record delivery: %w", mapErr(err))
	}
	return nil
}
