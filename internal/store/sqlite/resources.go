package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"fledge.dev/fledge/internal/store"
)

// PutResource creates or updates a resource; Generation and UpdatedAt
// change only when Spec does.
func (s *Store) PutResource(ctx context.Context, r store.Resource) (store.Resource, bool, error) {
	now := micros(s.now())
	out := store.Resource{Kind: r.Kind, Name: r.Name}
	var created bool
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var spec []byte
		var c, u int64
		err := tx.QueryRowContext(ctx,
			`SELECT spec, generation, created_at, updated_at FROM resources WHERE kind = ? AND name = ?`,
			r.Kind, r.Name).Scan(&spec, &out.Generation, &c, &u)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = true
			out.Spec, out.Generation, c, u = orNil(r.Spec), 1, now, now
			_, err = tx.ExecContext(ctx,
				`INSERT INTO resources (kind, name, spec, generation, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?)`,
				r.Kind, r.Name, blob(r.Spec), now, now)
		case err != nil:
		case bytes.Equal(spec, r.Spec):
			out.Spec = orNil(spec)
		default:
			out.Spec, u = orNil(r.Spec), now
			out.Generation++
			_, err = tx.ExecContext(ctx,
				`UPDATE resources SET spec = ?, generation = ?, updated_at = ? WHERE kind = ? AND name = ?`,
				blob(r.Spec), out.Generation, now, r.Kind, r.Name)
		}
		out.CreatedAt, out.UpdatedAt = fromMicros(c), fromMicros(u)
		return err
	})
	if err != nil {
		return store.Resource{}, false, fmt.Errorf("put resource %s/%s: %w", r.Kind, r.Name, err)
	}
	return out, created, nil
}

// GetResource returns one resource or store.ErrNotFound.
func (s *Store) GetResource(ctx context.Context, kind, name string) (store.Resource, error) {
	r, err := scanResource(s.r.QueryRowContext(ctx,
		`SELECT kind, name, spec, generation, created_at, updated_at FROM resources WHERE kind = ? AND name = ?`,
		kind, name))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Resource{}, fmt.Errorf("get resource %s/%s: %w", kind, name, err)
	}
	return r, nil
}

// ListResources returns the resources of a kind ordered by name.
func (s *Store) ListResources(ctx context.Context, kind string) ([]store.Resource, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT kind, name, spec, generation, created_at, updated_at FROM resources WHERE kind = ? ORDER BY name`,
		kind)
	if err != nil {
		return nil, fmt.Errorf("list resources %s: %w", kind, err)
	}
	defer rows.Close()
	out := []store.Resource{}
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, fmt.Errorf("list resources %s: %w", kind, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list resources %s: %w", kind, err)
	}
	return out, nil
}

// DeleteResource deletes a resource; store.ErrNotFound if there is none.
func (s *Store) DeleteResource(ctx context.Context, kind, name string) error {
	res, err := s.exec(ctx, `DELETE FROM resources WHERE kind = ? AND name = ?`, kind, name)
	if err == nil {
		var n int64
		if n, err = res.RowsAffected(); err == nil && n == 0 {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("delete resource %s/%s: %w", kind, name, err)
	}
	return nil
}

type scanner interface {
	Scan(dest ...any) error
}

func scanResource(row scanner) (store.Resource, error) {
	var r store.Resource
	var c, u int64
	if err := row.Scan(&r.Kind, &r.Name, &r.Spec, &r.Generation, &c, &u); err != nil {
		return store.Resource{}, err
	}
	r.Spec = orNil(r.Spec)
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	return r, nil
}
