package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"fledge.dev/fledge/internal/store"
)

// CreateToken stores a new token; store.ErrConflict if the name or hash
// is taken.
func (s *Store) CreateToken(ctx context.Context, t store.Token) error {
	roles, err := json.Marshal(nonNil(t.Roles))
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	created := t.CreatedAt
	if created.IsZero() {
		created = s.now()
	}
	_, err = s.exec(ctx,
		`INSERT INTO tokens (name, hash, roles, created_at, created_by, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		t.Name, t.Hash, string(roles), micros(created), t.CreatedBy, nullMicros(t.ExpiresAt))
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("create token %s: %w", t.Name, err)
	}
	return nil
}

const tokenColumns = `name, hash, roles, created_at, created_by, expires_at`

// scanToken reads a row of tokenColumns, then into extra the columns
// that follow them.
func scanToken(row scanner, extra ...any) (store.Token, error) {
	var t store.Token
	var roles string
	var c int64
	var exp sql.NullInt64
	if err := row.Scan(append([]any{&t.Name, &t.Hash, &roles, &c, &t.CreatedBy, &exp}, extra...)...); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(roles), &t.Roles); err != nil {
		return t, fmt.Errorf("decode roles of token %s: %w", t.Name, err)
	}
	t.CreatedAt, t.ExpiresAt = fromMicros(c), timePtr(exp)
	return t, nil
}

// TokenByHash returns the token with that hash and the tokens revision,
// read in one statement (one snapshot), or store.ErrNotFound.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (store.Token, error) {
	var rev int64
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+`, (`+tokensRevision+`)
		FROM tokens WHERE hash = ?`, hash), &rev)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Token{}, fmt.Errorf("look up token: %w", err)
	}
	t.Revision = rev
	return t, nil
}

// tokensRevision reads the revision the tokens_revision triggers bump.
const tokensRevision = `SELECT revision FROM tokens_revision WHERE id = 1`

// TokensRevision returns the tokens revision.
func (s *Store) TokensRevision(ctx context.Context) (int64, error) {
	var rev int64
	if err := s.r.QueryRowContext(ctx, tokensRevision).Scan(&rev); err != nil {
		return 0, fmt.Errorf("read tokens revision: %w", err)
	}
	return rev, nil
}

// ListTokens returns every token ordered by name.
func (s *Store) ListTokens(ctx context.Context) ([]store.Token, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	out := []store.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// DeleteToken deletes a token; store.ErrNotFound if there is none.
func (s *Store) DeleteToken(ctx context.Context, name string) error {
	return s.deleteOne(ctx, "token "+name, `DELETE FROM tokens WHERE name = ?`, name)
}

func (s *Store) deleteOne(ctx context.Context, what, query string, args ...any) error {
	res, err := s.exec(ctx, query, args...)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = store.ErrNotFound
		}
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
	e.At = fromMicros(micros(e.At))
	err := s.inWriteTurn(ctx, func() error {
		return s.w.QueryRowContext(ctx,
			`INSERT INTO audit_log (at, actor, action, target, remote_addr, outcome, detail) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			micros(e.At), e.Actor, e.Action, e.Target, e.RemoteAddr, e.Outcome, e.Detail).Scan(&e.ID)
	})
	if err != nil {
		return store.AuditEntry{}, fmt.Errorf("append audit entry: %w", err)
	}
	return e, nil
}

// ListAudit returns entries newest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditEntry, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	if f.Action != "" {
		where, args = append(where, "action = ?"), append(args, f.Action)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "at >= ?"), append(args, micros(f.Since))
	}
	if f.BeforeID > 0 {
		where, args = append(where, "id < ?"), append(args, f.BeforeID)
	}
	if !f.Until.IsZero() {
		where, args = append(where, "at < ?"), append(args, micros(f.Until))
	}
	if f.AfterID > 0 {
		where, args = append(where, "id > ?"), append(args, f.AfterID)
	}
	q := `SELECT id, at, actor, action, target, remote_addr, outcome, detail FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if f.Oldest {
		q += " ORDER BY id LIMIT ?"
	} else {
		q += " ORDER BY id DESC LIMIT ?"
	}
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	defer rows.Close()
	out := []store.AuditEntry{}
	for rows.Next() {
		var e store.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.RemoteAddr, &e.Outcome, &e.Detail); err != nil {
			return nil, fmt.Errorf("list audit log: %w", err)
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit log: %w", err)
	}
	return out, nil
}

// PruneAudit records the prune and deletes what it covers.
func (s *Store) PruneAudit(ctx context.Context, p store.AuditPrune) (int64, error) {
	if p.At.IsZero() {
		p.At = s.now()
	}
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_prunes (at, actor, before, through_id) VALUES (?, ?, ?, ?)`,
			micros(p.At), p.Actor, micros(p.Before), p.ThroughID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM audit_log WHERE at < ? AND id <= ?`, micros(p.Before), p.ThroughID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune audit log: %w", err)
	}
	return n, nil
}

// PutSecret creates or replaces a secret.
func (s *Store) PutSecret(ctx context.Context, sec store.Secret) (bool, error) {
	now := micros(s.now())
	var created bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE secrets SET sealed = ?, updated_at = ? WHERE name = ?`, sec.Sealed, now, sec.Name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		created = true
		_, err = tx.ExecContext(ctx, `INSERT INTO secrets (name, sealed, created_at, updated_at) VALUES (?, ?, ?, ?)`, sec.Name, sec.Sealed, now, now)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("put secret %s: %w", sec.Name, err)
	}
	return created, nil
}

func scanSecret(row scanner) (store.Secret, error) {
	var sec store.Secret
	var c, u int64
	if err := row.Scan(&sec.Name, &sec.Sealed, &c, &u); err != nil {
		return sec, err
	}
	sec.CreatedAt, sec.UpdatedAt = fromMicros(c), fromMicros(u)
	return sec, nil
}

// GetSecret returns one secret or store.ErrNotFound.
func (s *Store) GetSecret(ctx context.Context, name string) (store.Secret, error) {
	sec, err := scanSecret(s.r.QueryRowContext(ctx, `SELECT name, sealed, created_at, updated_at FROM secrets WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Secret{}, fmt.Errorf("get secret %s: %w", name, err)
	}
	return sec, nil
}

// ListSecrets returns every secret ordered by name.
func (s *Store) ListSecrets(ctx context.Context) ([]store.Secret, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, sealed, created_at, updated_at FROM secrets ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	defer rows.Close()
	out := []store.Secret{}
	for rows.Next() {
		sec, err := scanSecret(rows)
		if err != nil {
			return nil, fmt.Errorf("list secrets: %w", err)
		}
		out = append(out, sec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list secrets: %w", err)
	}
	return out, nil
}

// DeleteSecret deletes a secret; store.ErrNotFound if there is none.
func (s *Store) DeleteSecret(ctx context.Context, name string) error {
	return s.deleteOne(ctx, "secret "+name, `DELETE FROM secrets WHERE name = ?`, name)
}

// RecordDelivery remembers a delivery key; store.ErrConflict if seen.
func (s *Store) RecordDelivery(ctx context.Context, key string, at time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO webhook_deliveries (key, received_at) VALUES (?, ?)`, key, micros(at))
	if isUnique(err) {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("record delivery: %w", err)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
