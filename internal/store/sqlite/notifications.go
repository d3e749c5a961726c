package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"fledge.dev/fledge/internal/store"
)

const notificationCols = `id, deployment_id, event_seq, event, created_at, done, attempts, next_attempt_at`

func scanNotification(row interface{ Scan(...any) error }) (store.Notification, error) {
	var n store.Notification
	var created, next int64
	var done int
	if err := row.Scan(&n.ID, &n.DeploymentID, &n.EventSeq, &n.Event, &created, &done, &n.Attempts, &next); err != nil {
		return n, err
	}
	n.CreatedAt, n.NextAttemptAt, n.Done = fromMicros(created), fromMicros(next), done == 1
	return n, nil
}

// ClaimNotifications leases up to limit due notifications to owner. The
// single writer connection serializes claims, so no row goes to two
// owners.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, ttl time.Duration, limit int) ([]store.Notification, error) {
	if owner == "" || ttl <= 0 || limit < 1 {
		return nil, fmt.Errorf("claim notifications: need an owner, a positive ttl and limit (owner %q, ttl %s, limit %d)", owner, ttl, limit)
	}
	now := s.now()
	var out []store.Notification
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE notification_outbox SET lease_owner = ?1, lease_expires = ?2
			WHERE id IN (SELECT id FROM notification_outbox
				WHERE done = 0 AND next_attempt_at <= ?3
					AND (lease_owner = '' OR lease_expires IS NULL OR lease_expires <= ?3)
				ORDER BY id LIMIT ?4)
			RETURNING `+notificationCols, owner, micros(now.Add(ttl)), micros(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n, err := scanNotification(rows)
			if err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
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
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notification_outbox
			SET done = ?1, attempts = attempts + 1, next_attempt_at = ?2, lease_owner = '', lease_expires = NULL
			WHERE id = ?3 AND lease_owner = ?4 AND lease_owner <> '' AND lease_expires > ?5`,
			boolInt(done), micros(next), id, owner, micros(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return store.ErrLeaseLost
		}
		for _, a := range attempts {
			at := a.At
			if at.IsZero() {
				at = now
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO notification_attempts
				(notification_id, receiver, sink, attempt, at, result, detail) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				id, a.Receiver, a.Sink, a.Attempt, micros(at), a.Result, a.Detail); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("finish notification %d: %w", id, err)
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ListNotifications returns a deployment's notifications and attempts.
func (s *Store) ListNotifications(ctx context.Context, deploymentID int64) ([]store.Notification, []store.NotificationAttempt, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+notificationCols+` FROM notification_outbox
		WHERE deployment_id = ? ORDER BY id`, deploymentID)
	if err != nil {
		return nil, nil, fmt.Errorf("list notifications of deployment %d: %w", deploymentID, err)
	}
	var ns []store.Notification
	for rows.Next() {
		n, err := scanNotification(rows)
		if err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("list notifications of deployment %d: %w", deploymentID, err)
		}
		ns = append(ns, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list notifications of deployment %d: %w", deploymentID, err)
	}
	rows, err = s.r.QueryContext(ctx, `SELECT a.notification_id, a.receiver, a.sink, a.attempt, a.at, a.result, a.detail
		FROM notification_attempts a JOIN notification_outbox o ON o.id = a.notification_id
		WHERE o.deployment_id = ? ORDER BY a.id`, deploymentID)
	if err != nil {
		return nil, nil, fmt.Errorf("list notification attempts of deployment %d: %w", deploymentID, err)
	}
	defer rows.Close()
	var as []store.NotificationAttempt
	for rows.Next() {
		var a store.NotificationAttempt
		var at int64
		if err := rows.Scan(&a.NotificationID, &a.Receiver, &a.Sink, &a.Attempt, &at, &a.Result, &a.Detail); err != nil {
			return nil, nil, fmt.Errorf("list notification attempts of deployment %d: %w", deploymentID, err)
		}
		a.At = fromMicros(at)
		as = append(as, a)
	}
	return ns, as, rows.Err()
}

// PendingNotifications counts the notifications not done.
func (s *Store) PendingNotifications(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM notification_outbox WHERE done = 0`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending notifications: %w", err)
	}
	return n, nil
}
