package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/store"
)

// insertEvents writes events of deployment id with Seq first, first+1, ...
// in one statement; the caller has already reserved those numbers in
// deployments.last_seq (and so holds the row lock).
func insertEvents(ctx context.Context, tx pgx.Tx, id, first int64, now time.Time, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	times := make([]time.Time, len(events))
	stages := make([]string, len(events))
	types := make([]string, len(events))
	messages := make([]string, len(events))
	for i, e := range events {
		times[i] = e.Time
		if e.Time.IsZero() {
			times[i] = now
		}
		stages[i], types[i], messages[i] = e.Stage, e.Type, e.Message
	}
	if _, err := tx.Exec(ctx, `INSERT INTO events (deployment_id, seq, time, stage, type, message)
		SELECT $1, $2 + u.i - 1, u.time, u.stage, u.type, u.message
		FROM unnest($3::timestamptz[], $4::text[], $5::text[], $6::text[])
			WITH ORDINALITY AS u(time, stage, type, message, i)`,
		id, first, times, stages, types, messages); err != nil {
		return fmt.Errorf("insert events of deployment %d: %w", id, err)
	}
	for i, e := range events {
		if m := e.Measurement; m != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO measurements
				(deployment_id, event_seq, analysis, template, metric, phase, value, message, started_at, finished_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
				id, first+int64(i), m.Analysis, m.Template, m.Metric, string(m.Phase), m.Value, m.Message,
				m.StartedAt, m.FinishedAt); err != nil {
				return fmt.Errorf("write measurement of %s/%s of deployment %d: %w", m.Template, m.Metric, id, err)
			}
		}
		if e.Notify == "" {
			continue
		}
		if _, err := tx.Exec(ctx, `INSERT INTO notification_outbox
			(deployment_id, event_seq, event, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $4)`,
			id, first+int64(i), e.Notify, now); err != nil {
			return fmt.Errorf("write notification %s of deployment %d to the outbox: %w", e.Notify, id, err)
		}
	}
	return nil
}

// compactProgress deletes deployment id's rollout progress but the newest
// line of each workload in each stage (store.ProgressEventType); the
// workload is the message up to its second ": ".
func compactProgress(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := tx.Exec(ctx, `DELETE FROM events
		WHERE deployment_id = $1 AND type = $2 AND seq NOT IN (
			SELECT max(seq) FROM events WHERE deployment_id = $1 AND type = $2
			GROUP BY stage, split_part(message, ': ', 1), split_part(message, ': ', 2))`,
		id, store.ProgressEventType); err != nil {
		return fmt.Errorf("compact the rollout progress of deployment %d: %w", id, err)
	}
	return nil
}

// ListMeasurements returns deployment id's measurements in order.
func (s *Store) ListMeasurements(ctx context.Context, id int64) ([]v1alpha1.Measurement, error) {
	rows, err := s.pool.Query(ctx, `SELECT analysis, template, metric, phase, value, message, started_at, finished_at
		FROM measurements WHERE deployment_id = $1 ORDER BY event_seq`, id)
	if err != nil {
		return nil, fmt.Errorf("list measurements of deployment %d: %w", id, err)
	}
	defer rows.Close()
	var out []v1alpha1.Measurement
	for rows.Next() {
		var m v1alpha1.Measurement
		var phase string
		if err := rows.Scan(&m.Analysis, &m.Template, &m.Metric, &phase, &m.Value, &m.Message, &m.StartedAt, &m.FinishedAt); err != nil {
			return nil, fmt.Errorf("list measurements of deployment %d: %w", id, err)
		}
		m.Phase = v1alpha1.AnalysisPhase(phase)
		m.StartedAt, m.FinishedAt = m.StartedAt.UTC(), m.FinishedAt.UTC()
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list measurements of deployment %d: %w", id, err)
	}
	return out, nil
}

// appendEvents reserves Seq numbers per deployment, locking the rows in ID
// order (the same order for every caller, so appenders cannot deadlock),
// and inserts events; store.ErrNotFound if a deployment does not exist.
func appendEvents(ctx context.Context, tx pgx.Tx, now time.Time, events []store.Event) error {
	byID := map[int64][]store.Event{}
	for _, e := range events {
		byID[e.DeploymentID] = append(byID[e.DeploymentID], e)
	}
	ids := make([]int64, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		es := byID[id]
		var last int64
		err := tx.QueryRow(ctx, `UPDATE deployments SET last_seq = last_seq + $2 WHERE id = $1 RETURNING last_seq`,
			id, len(es)).Scan(&last)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("deployment %d: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if err := insertEvents(ctx, tx, id, last-int64(len(es))+1, now, es); err != nil {
			return err
		}
	}
	return nil
}

// AppendEvents appends events, each to the deployment its DeploymentID
// names, assigning Seq; all or none are stored.
func (s *Store) AppendEvents(ctx context.Context, events ...store.Event) error {
	if len(events) == 0 {
		return nil
	}
	now := s.now()
	if err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return appendEvents(ctx, tx, now, events)
	}); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// ListEvents returns deployment id's events with Seq > afterSeq in order;
// none (no error) for an unknown deployment.
func (s *Store) ListEvents(ctx context.Context, id int64, afterSeq int64) ([]store.Event, error) {
	rows, err := s.pool.Query(ctx, `SELECT deployment_id, seq, time, stage, type, message
		FROM events WHERE deployment_id = $1 AND seq > $2 ORDER BY seq`, id, afterSeq)
	if err != nil {
		return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.Event, error) {
		var e store.Event
		err := row.Scan(&e.DeploymentID, &e.Seq, &e.Time, &e.Stage, &e.Type, &e.Message)
		e.Time = e.Time.UTC()
		return e, err
	})
	if err != nil {
		return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
	}
	if out == nil {
		out = []store.Event{}
	}
	return out, nil
}

// AddDecision records d and its event e (appended to d's deployment) in
// one transaction, and pulls a future WakeAt of the deployment to now so
// the executor acts on the decision soon.
func (s *Store) AddDecision(ctx context.Context, d store.Decision, need int, e store.Event) error {
	now := s.now()
	at := d.At
	if at.IsZero() {
		at = now
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The UPDATE locks the deployment's row: concurrent decisions on
		// it queue here, and each tallies what the ones before committed.
		var last int64
		var status string
		err := tx.QueryRow(ctx, `UPDATE deployments SET last_seq = last_seq + 1,
				wake_at = CASE WHEN wake_at > $2 THEN $2 ELSE wake_at END
			WHERE id = $1 RETURNING last_seq, status`, d.DeploymentID, now).Scan(&last, &status)
		if errors.Is(err, pgx.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if need > 0 {
			var rejects, approvers int
			if err := tx.QueryRow(ctx, decisionTally, d.DeploymentID, d.Stage).Scan(&rejects, &approvers); err != nil {
				return err
			}
			if err := store.CheckStageOpen(status, d.Stage, rejects, approvers, need); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO decisions (deployment_id, stage, user_name, decision, reason, at)
			VALUES ($1, $2, $3, $4, $5, $6)`, d.DeploymentID, d.Stage, d.User, d.Decision, d.Reason, at); err != nil {
			switch pgCode(err) {
			case uniqueViolation:
				return fmt.Errorf("%s at stage %q: %w", d.User, d.Stage, store.ErrDuplicateDecision)
			case foreignKeyViolation:
				return store.ErrNotFound
			}
			return err
		}
		if e.Time.IsZero() {
			e.Time = at
		}
		return insertEvents(ctx, tx, d.DeploymentID, last, now, []store.Event{e})
	})
	if err != nil {
		return fmt.Errorf("add decision to deployment %d: %w", d.DeploymentID, err)
	}
	return nil
}

// decisionTally counts the rejections and distinct approvers of a stage.
const decisionTally = `SELECT
		count(*) FILTER (WHERE decision = 'Reject'),
		count(DISTINCT lower(user_name)) FILTER (WHERE decision = 'Approve')
	FROM decisions WHERE deployment_id = $1 AND stage = $2`

// ListDecisions returns deployment id's decisions in the order they were
// made; none (no error) for an unknown deployment.
func (s *Store) ListDecisions(ctx context.Context, id int64) ([]store.Decision, error) {
	rows, err := s.pool.Query(ctx, `SELECT deployment_id, stage, user_name, decision, reason, at
		FROM decisions WHERE deployment_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("list decisions of deployment %d: %w", id, err)
	}
	out, err := pgx.CollectRows(rows, scanDecision)
	if err != nil {
		return nil, fmt.Errorf("list decisions of deployment %d: %w", id, err)
	}
	if out == nil {
		out = []store.Decision{}
	}
	return out, nil
}

// ListDecisionsOf returns the decisions of each of ids in one query.
func (s *Store) ListDecisionsOf(ctx context.Context, ids []int64) (map[int64][]store.Decision, error) {
	out := map[int64][]store.Decision{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT deployment_id, stage, user_name, decision, reason, at
		FROM decisions WHERE deployment_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, fmt.Errorf("list decisions of %d deployments: %w", len(ids), err)
	}
	ds, err := pgx.CollectRows(rows, scanDecision)
	if err != nil {
		return nil, fmt.Errorf("list decisions of %d deployments: %w", len(ids), err)
	}
	for _, d := range ds {
		out[d.DeploymentID] = append(out[d.DeploymentID], d)
	}
	return out, nil
}

// scanDecision reads one row of decisions (deployment_id, stage,
// user_name, decision, reason, at).
func scanDecision(row pgx.CollectableRow) (store.Decision, error) {
	var d store.Decision
	err := row.Scan(&d.DeploymentID, &d.Stage, &d.User, &d.Decision, &d.Reason, &d.At)
	d.At = d.At.UTC()
	return d, err
}
