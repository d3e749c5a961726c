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

// deploymentCols is the column list scanDeployment reads, in its order.
const deploymentCols = `id, pipeline, number, kind, rollback_to, parameters, triggered_by,
	plan, state, status, version, cancel_requested, wake_at, created_at, updated_at,
	started_at, ended_at, production_at, lease_owner, lease_expires`

// deploymentColsNoPlanState is deploymentCols with NULL for the plan and
// the state (DeploymentFilter.OmitPlanState): scanDeployment reads both as
// nil.
const deploymentColsNoPlanState = `id, pipeline, number, kind, rollback_to, parameters, triggered_by,
	NULL, NULL, status, version, cancel_requested, wake_at, created_at, updated_at,
	started_at, ended_at, production_at, lease_owner, lease_expires`

// scanDeployment reads a row of deploymentCols, then into extra the
// columns that follow them.
func scanDeployment(row scanner, extra ...any) (store.Deployment, error) {
	var d store.Deployment
	var params string
	var wake, started, ended, prod, expires sql.NullInt64
	var created, updated int64
	dest := []any{
		&d.ID, &d.Pipeline, &d.Number, &d.Kind, &d.RollbackTo, &params, &d.TriggeredBy,
		&d.Plan, &d.State, &d.Status, &d.Version, &d.CancelRequested, &wake, &created, &updated,
		&started, &ended, &prod, &d.LeaseOwner, &expires,
	}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return store.Deployment{}, err
	}
	if err := json.Unmarshal([]byte(params), &d.Parameters); err != nil {
		return store.Deployment{}, fmt.Errorf("decode parameters of deployment %d: %w", d.ID, err)
	}
	if len(d.Parameters) == 0 {
		d.Parameters = nil
	}
	d.Plan, d.State = orNil(d.Plan), orNil(d.State)
	d.WakeAt, d.StartedAt, d.EndedAt, d.ProductionAt = timePtr(wake), timePtr(started), timePtr(ended), timePtr(prod)
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	d.LeaseExpires = timePtr(expires)
	return d, nil
}

func encodeParams(p map[string]string) (string, error) {
	if len(p) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode parameters: %w", err)
	}
	return string(b), nil
}

// CreateDeployment stores a new deployment and its initial events. The
// lease fields of d are ignored: a new deployment is unleased.
func (s *Store) CreateDeployment(ctx context.Context, d store.Deployment, events ...store.Event) (store.Deployment, error) {
	if d.Pipeline == "" {
		return store.Deployment{}, errors.New("create deployment: Pipeline is required")
	}
	params, err := encodeParams(d.Parameters)
	if err != nil {
		return store.Deployment{}, fmt.Errorf("create deployment: %w", err)
	}
	now := s.now()
	var out store.Deployment
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanDeployment(tx.QueryRowContext(ctx, `INSERT INTO deployments (
				pipeline, number, kind, rollback_to, parameters, triggered_by, plan, state, status,
				finished, version, cancel_requested, wake_at, created_at, updated_at, started_at,
				ended_at, production_at, last_seq)
			VALUES (?1, (SELECT coalesce(max(number), 0) + 1 FROM deployments WHERE pipeline = ?1),
				?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 1, ?10, ?11, ?12, ?12, ?13, ?14, ?15, ?16)
			RETURNING `+deploymentCols,
			d.Pipeline, d.Kind, d.RollbackTo, params, d.TriggeredBy, blob(d.Plan), blob(d.State), d.Status,
			store.Final(d.Status), d.CancelRequested, nullMicros(d.WakeAt), micros(now),
			nullMicros(d.StartedAt), nullMicros(d.EndedAt), nullMicros(d.ProductionAt), len(events)))
		if err != nil {
			return err
		}
		return insertEvents(ctx, tx, out.ID, 1, now, events)
	})
	if err != nil {
		return store.Deployment{}, fmt.Errorf("create deployment of %s: %w", d.Pipeline, err)
	}
	return out, nil
}

// GetDeployment returns one deployment or store.ErrNotFound.
func (s *Store) GetDeployment(ctx context.Context, id int64) (store.Deployment, error) {
	d, err := scanDeployment(s.r.QueryRowContext(ctx,
		`SELECT `+deploymentCols+` FROM deployments WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Deployment{}, fmt.Errorf("get deployment %d: %w", id, err)
	}
	return d, nil
}

// filterWhere renders the WHERE clause of f; paged adds the BeforeID bound.
func filterWhere(f store.DeploymentFilter, paged bool) (string, []any) {
	var conds []string
	var args []any
	if f.Pipeline != "" {
		conds = append(conds, "pipeline = ?")
		args = append(args, f.Pipeline)
	}
	if f.Number > 0 {
		conds = append(conds, "number = ?")
		args = append(args, f.Number)
	}
	if len(f.IDs) > 0 {
		// One JSON array, not a placeholder per id: one query text (one
		// prepared statement) whatever the number of ids.
		ids, _ := json.Marshal(f.IDs) // int64s always encode
		conds = append(conds, "id IN (SELECT value FROM json_each(?))")
		args = append(args, string(ids))
	}
	if len(f.Statuses) > 0 {
		conds = append(conds, "status IN (?"+strings.Repeat(", ?", len(f.Statuses)-1)+")")
		for _, st := range f.Statuses {
			args = append(args, st)
		}
	}
	if paged && f.BeforeID > 0 {
		conds = append(conds, "id < ?")
		args = append(args, f.BeforeID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListDeployments returns the deployments f selects, newest first.
func (s *Store) ListDeployments(ctx context.Context, f store.DeploymentFilter) ([]store.Deployment, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := filterWhere(f, true)
	cols := deploymentCols
	if f.OmitPlanState {
		cols = deploymentColsNoPlanState
	}
	from := ` FROM deployments`
	if f.UnfinishedOfPipeline() {
		// Through the index of unfinished deployments: by (pipeline, id)
		// SQLite walks the finished ones too, the whole history of a
		// pipeline with none under way (0.3 s at 100,000).
		from = ` FROM deployments INDEXED BY deployments_unfinished`
		where += ` AND finished = 0`
	}
	rows, err := s.r.QueryContext(ctx,
		`SELECT `+cols+from+where+` ORDER BY id DESC LIMIT ?`,
		append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	defer rows.Close()
	out := []store.Deployment{}
	for rows.Next() {
		d, err := scanDeployment(rows)
		if err != nil {
			return nil, fmt.Errorf("list deployments: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list deployments: %w", err)
	}
	return out, nil
}

// CountDeployments counts the deployments f selects, ignoring its page
// bound and limit. A filter by pipeline and statuses only sums the
// deployment_counts rows the triggers keep; one by number or IDs selects a
// row or a few, which an index counts at once.
func (s *Store) CountDeployments(ctx context.Context, f store.DeploymentFilter) (int, error) {
	from := `SELECT coalesce(sum(n), 0) FROM deployment_counts`
	if f.Number > 0 || len(f.IDs) > 0 {
		from = `SELECT count(*) FROM deployments`
	}
	where, args := filterWhere(f, false)
	var n int
	if err := s.r.QueryRowContext(ctx, from+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deployments: %w", err)
	}
	return n, nil
}

// UpdateDeployment writes the executor's fields of d and appends events if
// d.Version is current and owner holds an unexpired lease. When both fail,
// store.ErrLeaseLost wins: the caller must stop either way.
func (s *Store) UpdateDeployment(ctx context.Context, d store.Deployment, owner string, events ...store.Event) (store.Deployment, error) {
	now := s.now()
	var out store.Deployment
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanDeployment(tx.QueryRowContext(ctx, `UPDATE deployments SET
				state = ?1, status = ?2, finished = ?3, wake_at = ?4, started_at = ?5, ended_at = ?6,
				production_at = ?7, version = version + 1, updated_at = ?8, last_seq = last_seq + ?9
			WHERE id = ?10 AND version = ?11 AND lease_owner = ?12 AND lease_owner <> ''
				AND lease_expires > ?8
			RETURNING `+deploymentCols,
			blob(d.State), d.Status, store.Final(d.Status), nullMicros(d.WakeAt), nullMicros(d.StartedAt),
			nullMicros(d.EndedAt), nullMicros(d.ProductionAt), micros(now), len(events),
			d.ID, d.Version, owner))
		if errors.Is(err, sql.ErrNoRows) {
			return whyNotUpdated(ctx, tx, d.ID, d.Version, owner, now)
		}
		if err != nil {
			return err
		}
		if len(events) > 0 {
			var last int64
			if err := tx.QueryRowContext(ctx, `SELECT last_seq FROM deployments WHERE id = ?`, d.ID).Scan(&last); err != nil {
				return err
			}
			if err := insertEvents(ctx, tx, d.ID, last-int64(len(events))+1, now, events); err != nil {
				return err
			}
		}
		if store.Final(d.Status) {
			return compactProgress(ctx, tx, d.ID)
		}
		return nil
	})
	if err != nil {
		return store.Deployment{}, fmt.Errorf("update deployment %d: %w", d.ID, err)
	}
	return out, nil
}

// whyNotUpdated tells why a fenced update matched no row.
func whyNotUpdated(ctx context.Context, tx *sql.Tx, id, version int64, owner string, now time.Time) error {
	var cur int64
	var holder string
	var expires sql.NullInt64
	err := tx.QueryRowContext(ctx,
		`SELECT version, lease_owner, lease_expires FROM deployments WHERE id = ?`, id).Scan(&cur, &holder, &expires)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case err != nil:
		return err
	case owner == "" || holder != owner || !expires.Valid || expires.Int64 <= micros(now):
		return store.ErrLeaseLost
	case cur != version:
		return fmt.Errorf("version %d is not current (%d): %w", version, cur, store.ErrConflict)
	}
	return errors.New("update matched no row for an unknown reason")
}

// RequestCancel sets CancelRequested and pulls a future WakeAt to now, so
// that the executor sees the request soon. Version does not change: the
// flag is not a field UpdateDeployment writes, and the lease holder sees it
// in the row UpdateDeployment returns.
func (s *Store) RequestCancel(ctx context.Context, id int64) error {
	now := micros(s.now())
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var finished bool
		err := tx.QueryRowContext(ctx, `SELECT finished FROM deployments WHERE id = ?`, id).Scan(&finished)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return store.ErrNotFound
		case err != nil:
			return err
		case finished:
			return fmt.Errorf("already ended: %w", store.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, `UPDATE deployments SET cancel_requested = 1, updated_at = ?1,
				wake_at = CASE WHEN wake_at > ?1 THEN ?1 ELSE wake_at END
			WHERE id = ?2`, now, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("request cancel of deployment %d: %w", id, err)
	}
	return nil
}

// liveDeployment selects a pipeline's deployment with the latest
// production_at (the highest id on a tie).
const liveDeployment = `
	WHERE pipeline = ? AND production_at IS NOT NULL
	ORDER BY production_at DESC, id DESC LIMIT 1`

// LiveDeployment returns the pipeline's deployment with the latest
// ProductionAt (the highest ID on a tie), or store.ErrNotFound.
func (s *Store) LiveDeployment(ctx context.Context, pipeline string) (store.Deployment, error) {
	d, err := scanDeployment(s.r.QueryRowContext(ctx, `SELECT `+deploymentCols+` FROM deployments`+liveDeployment, pipeline))
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.Deployment{}, fmt.Errorf("live deployment of %s: %w", pipeline, err)
	}
	return d, nil
}

// LiveDeploymentID returns the ID LiveDeployment would return, or
// store.ErrNotFound.
func (s *Store) LiveDeploymentID(ctx context.Context, pipeline string) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT id FROM deployments`+liveDeployment, pipeline).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return 0, fmt.Errorf("live deployment of %s: %w", pipeline, err)
	}
	return id, nil
}

// ClaimDeployment leases the oldest runnable deployment to owner: the
// head of its pipeline, or a never-started one whose cancellation was
// requested. A claim bumps Version, so a previous holder's writes fail even
// if it reuses the owner name.
func (s *Store) ClaimDeployment(ctx context.Context, owner string, ttl time.Duration) (store.Deployment, bool, error) {
	if owner == "" || ttl <= 0 {
		return store.Deployment{}, false, fmt.Errorf("claim deployment: need an owner and a positive ttl (owner %q, ttl %s)", owner, ttl)
	}
	now := s.now()
	var d store.Deployment
	err := s.inWriteTurn(ctx, func() error {
		var err error
		d, err = scanDeployment(s.w.QueryRowContext(ctx, `UPDATE deployments SET
			lease_owner = ?1, lease_expires = ?2, version = version + 1, updated_at = ?3
		WHERE id = (
			SELECT d.id FROM deployments d
			WHERE d.id IN (
					SELECT min(h.id) FROM deployments h WHERE h.finished = 0 GROUP BY h.pipeline
					UNION ALL
					SELECT c.id FROM deployments c
					WHERE c.finished = 0 AND c.started_at IS NULL AND c.cancel_requested = 1)
				AND d.finished = 0
				AND (d.lease_owner = '' OR d.lease_expires IS NULL OR d.lease_expires <= ?3)
				AND (d.wake_at IS NULL OR d.wake_at <= ?3)
			ORDER BY d.started_at IS NULL, d.id LIMIT 1)
		RETURNING `+deploymentCols,
			owner, micros(now.Add(ttl)), micros(now)))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return store.Deployment{}, false, nil
	}
	if err != nil {
		return store.Deployment{}, false, fmt.Errorf("claim deployment: %w", err)
	}
	s.log.DebugContext(ctx, "claimed deployment", "deployment_id", d.ID, "pipeline", d.Pipeline, "owner", owner)
	return d, true, nil
}

// RenewLease extends owner's unexpired lease to now+ttl; an expired lease
// cannot be renewed (store.ErrLeaseLost), even if nobody took it.
func (s *Store) RenewLease(ctx context.Context, id int64, owner string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("renew lease of deployment %d: ttl must be positive, got %s", id, ttl)
	}
	now := s.now()
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deployments SET lease_expires = ?1
			WHERE id = ?2 AND lease_owner = ?3 AND lease_owner <> '' AND lease_expires > ?4`,
			micros(now.Add(ttl)), id, owner, micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM deployments WHERE id = ?`, id).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		return store.ErrLeaseLost
	})
	if err != nil {
		return fmt.Errorf("renew lease of deployment %d: %w", id, err)
	}
	return nil
}

// ReleaseLease clears owner's lease, expired or not; it does nothing when
// owner does not hold it.
func (s *Store) ReleaseLease(ctx context.Context, id int64, owner string) error {
	if owner == "" {
		return nil
	}
	if _, err := s.exec(ctx, `UPDATE deployments SET lease_owner = '', lease_expires = NULL
		WHERE id = ? AND lease_owner = ?`, id, owner); err != nil {
		return fmt.Errorf("release lease of deployment %d: %w", id, err)
	}
	return nil
}
