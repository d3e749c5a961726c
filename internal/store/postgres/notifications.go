package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"fledge.dev/fledge/internal/store"
)

const notificationCols = `id, deployment_id, event_seq, event, created_at, done, attempts, next_attempt_at`

func scanNotification(row pgx.Row) (store.Notification, error) {
	var n store.Notification
	err := row.Scan(&n.ID, &n.DeploymentID, &n.EventSeq, &n.Event, &n.CreatedAt, &n.Done, &n.Attempts, &n.NextAttemptAt)
	n.CreatedAt, n.NextAttemptAt = n.CreatedAt.UTC(), n.NextAttemptAt.UTC()
	return n, err
}

// ClaimNotifications leases up to limit due notifications to owner; FOR
// UPDATE SKIP LOCKED lets replicas claim at once without taking the same
// row or waiting on each other.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, ttl time.Duration, limit int) ([]store.Notification, error) {
	if owner == "" || ttl <= 0 || limit < 1 {
		return nil, fmt.Errorf("claim notifications: need an owner, a positive ttl and limit (owner %q, ttl %s, limit %d)", owner, ttl, limit)
	}
	now := s.now()
	rows, err := s.pool.Query(ctx, `UPDATE notification_outbox SET lease_owner = $1, lease_expires = $2
		WHERE id IN (SELECT id FROM notification_outbox
			WHERE NOT done AND next_attempt_at <= $3
				AND (lease_owner = '' OR lease_expires IS NULL OR lease_expires <= $3)
			ORDER BY id LIMIT $4
			FOR UPDATE SKIP LOCKED)
		RETURNING `+notificationCols, owner, now.Add(ttl), now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Notification, error) { return scanNotification(r) })
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	// RETURNING has no order: oldest first.
	slices.SortFunc(out, func(a, b store.Notification) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// FinishNotification records a delivery round of owner's notification.
func (s *Store) FinishNotification(ctx context.Context, id int64, owner string, attempts []store.NotificationAttempt, done bool, next time.Time) error {
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE notification_outbox
			SET done = $1, attempts = attempts + 1, next_attempt_at = $2, lease_owner = '', lease_expires = NULL
			WHERE id = $3 AND lease_owner = $4 AND lease_owner <> '' AND lease_expires > $5`,
			done, next, id, owner, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return store.ErrLeaseLost
		}
		for _, a := range attempts {
			at := a.At
			if at.IsZero() {
				at = now
			}
			if _, err := tx.Exec(ctx, `INSERT INTO notification_attempts
				(notification_id, receiver, sink, attempt, at, result, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
				id, a.Receiver, a.Sink, a.Attempt, at, a.Result, a.Detail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish notification %d: %w", id, mapErr(err))
	}
	return nil
}

// ListNotifications returns a deployment's notifications and attempts.
func (s *Store) ListNotifications(ctx context.Context, deploymentID int64) ([]store.Notification, []store.NotificationAttempt, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+notificationCols+` FROM notification_outbox
		WHERE deployment_id = $1 ORDER BY id`, deploymentID)
	if err != nil {
		return nil, nil, fmt.Errorf("list notifications of deployment %d: %w", deploymentID, err)
	}
	ns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Notification, error) { return scanNotification(r) })
	if err != nil {
		return nil, nil, fmt.Errorf("list notifications of deployment %d: %w", deploymentID, err)
	}
	rows, err = s.pool.Query(ctx, `SELECT a.notification_id, a.receiver, a.sink, a.attempt, a.at, a.result, a.detail
		FROM notification_attempts a JOIN notification_outbox o ON o.id = a.notification_id
		WHERE o.deployment_id = $1 ORDER BY a.id`, deploymentID)
	if err != nil {
		return nil, nil, fmt.Errorf("list notification attempts of deployment %d: %w", deploymentID, err)
	}
	as, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.NotificationAttempt, error) {
		var a store.NotificationAttempt
		err := r.Scan(&a.NotificationID, &a.Receiver, &a.Sink, &a.Attempt, &a.At, &a.Result, &a.Detail)
		a.At = a.At.UTC()
		return a, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list notification attempts of deployment %d: %w", deploymentID, err)
	}
	return ns, as, nil
}

// PendingNotifications counts the notifications not done.
func (s *Store) PendingNotifications(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM notification_outbox WHERE NOT done`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending notifications: %w", err)
	}
	return n, nil
}
