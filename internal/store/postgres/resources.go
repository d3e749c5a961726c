package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"fledge.dev/fledge/internal/store"
)

// PutResource creates or updates a resource; Generation and UpdatedAt
// change only when Spec does.
func (s *Store) PutResource(ctx context.Context, r store.Resource) (store.Resource, bool, error) {
	now := s.now()
	var out store.Resource
	var created bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		out, err = scanResource(tx.QueryRow(ctx, `INSERT INTO resources (kind, name, spec, generation, created_at, updated_at)
			VALUES ($1, $2, $3, 1, $4, $4) ON CONFLICT (kind, name) DO NOTHING
			RETURNING kind, name, spec, generation, created_at, updated_at`,
			r.Kind, r.Name, orNil(r.Spec), now))
		if err == nil {
			created = true
			return nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		// It exists: lock it, then change it only if the spec differs.
		out, err = scanResource(tx.QueryRow(ctx, `SELECT kind, name, spec, generation, created_at, updated_at
			FROM resources WHERE kind = $1 AND name = $2 FOR UPDATE`, r.Kind, r.Name))
		if err != nil || bytes.Equal(out.Spec, r.Spec) {
			return err
		}
		out, err = scanResource(tx.QueryRow(ctx, `UPDATE resources
			SET spec = $3, generation = generation + 1, updated_at = $4 WHERE kind = $1 AND name = $2
			RETURNING kind, name, spec, generation, created_at, updated_at`,
			r.Kind, r.Name, orNil(r.Spec), now))
		return err
	})
	if err != nil {
		// ErrNoRows here means a concurrent delete won: report a conflict.
		if errors.Is(err, pgx.ErrNoRows) {
			err = store.ErrConflict
		}
		return store.Resource{}, false, fmt.Errorf("put resource %s/%s: %w", r.Kind, r.Name, mapErr(err))
	}
	return out, created, nil
}

// GetResource returns one resource or store.ErrNotFound.
func (s *Store) GetResource(ctx context.Context, kind, name string) (store.Resource, error) {
	r, err := scanResource(s.pool.QueryRow(ctx, `SELECT kind, name, spec, generation, created_at, updated_at
		FROM resources WHERE kind = $1 AND name = $2`, kind, name))
	if err != nil {
		return store.Resource{}, fmt.Errorf("get resource %s/%s: %w", kind, name, mapErr(err))
	}
	return r, nil
}

// ListResources returns the resources of a kind ordered by name.
func (s *Store) ListResources(ctx context.Context, kind string) ([]store.Resource, error) {
	rows, err := s.pool.Query(ctx, `SELECT kind, name, spec, generation, created_at, updated_at
		FROM resources WHERE kind = $1 ORDER BY name`, kind)
	if err != nil {
		return nil, fmt.Errorf("list resources %s: %w", kind, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Resource, error) { return scanResource(row) })
	if err != nil {
		return nil, fmt.Errorf("list resources %s: %w", kind, err)
	}
	if out == nil {
		out = []store.Resource{}
	}
	return out, nil
}

// DeleteResource deletes a resource; store.ErrNotFound if there is none.
func (s *Store) DeleteResource(ctx context.Context, kind, name string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM resources WHERE kind = $1 AND name = $2`, kind, name)
	if err == nil && tag.RowsAffected() == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete resource %s/%s: %w", kind, name, err)
	}
	return nil
}

func scanResource(row pgx.Row) (store.Resource, error) {
	var r store.Resource
	var c, u time.Time
	if err := row.Scan(&r.Kind, &r.Name, &r.Spec, &r.Generation, &c, &u); err != nil {
		return store.Resource{}, err
	}
	r.Spec = orNil(r.Spec)
	r.CreatedAt, r.UpdatedAt = c.UTC(), u.UTC()
	return r, nil
}
