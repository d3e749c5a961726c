package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"fledge.dev/fledge/internal/store"
)

// deploymentView is GetDeploymentView's statement: the row (its plan and
// state only when its version is not ?2), then the live deployment of its
// pipeline (as LiveDeploymentID finds it), its decisions, notifications
// and their attempts as the JSON arrays store.DecodeViewLists reads, and
// the tokens revision.
const deploymentView = `SELECT id, pipeline, number, kind, rollback_to, parameters, triggered_by,
		CASE WHEN version = ?2 THEN NULL ELSE plan END AS plan, CASE WHEN version = ?2 THEN NULL ELSE state END AS state,
		status, version, cancel_requested, wake_at, created_at, updated_at,
		started_at, ended_at, production_at, lease_owner, lease_expires,
	coalesce((SELECT l.id FROM deployments l WHERE l.pipeline = d.pipeline AND l.production_at IS NOT NULL
		ORDER BY l.production_at DESC, l.id DESC LIMIT 1), 0) AS live_id,
	(SELECT json_group_array(json_object('id', id, 'stage', stage, 'user', user_name, 'decision', decision,
		'reason', reason, 'at', at))
		FROM decisions WHERE deployment_id = d.id) AS decisions,
	(SELECT json_group_array(json_object('id', id, 'eventSeq', event_seq, 'event', event,
		'createdAt', created_at, 'done', done, 'attempts', attempts, 'nextAttemptAt', next_attempt_at))
		FROM notification_outbox WHERE deployment_id = d.id) AS notifications,
	(SELECT json_group_array(json_object('id', a.id, 'notificationId', a.notification_id, 'receiver', a.receiver,
		'sink', a.sink, 'attempt', a.attempt, 'at', a.at, 'result', a.result, 'detail', a.detail))
		FROM notification_attempts a JOIN notification_outbox o ON o.id = a.notification_id
		WHERE o.deployment_id = d.id) AS attempts,
	(` + tokensRevision + `) AS tokens_revision
FROM deployments d WHERE d.id = ?1`

// GetDeploymentView reads deployment id and what its view shows in one
// statement: one read transaction, where a read of each would take one
// each. Many requests read a view at once: they take turns (inTurn).
func (s *Store) GetDeploymentView(ctx context.Context, id, knownVersion int64) (store.DeploymentView, error) {
	var v store.DeploymentView
	var decisions, notifications, attempts []byte
	var d store.Deployment
	err := s.r.inTurn(ctx, func() error {
		var err error
		d, err = scanDeployment(s.r.QueryRowContext(ctx, deploymentView, id, knownVersion),
			&v.LiveID, &decisions, &notifications, &attempts, &v.TokensRevision)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return v, fmt.Errorf("get deployment %d: %w", id, err)
	}
	v.Deployment = d
	if err := store.DecodeViewLists(&v, decisions, notifications, attempts); err != nil {
		return v, fmt.Errorf("get deployment %d: %w", id, err)
	}
	return v, nil
}
