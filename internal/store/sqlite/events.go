package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/store"
)

// insertEvents writes events of deployment id with Seq first, first+1, ...;
// the caller has already reserved those numbers in deployments.last_seq.
func insertEvents(ctx context.Context, tx *sql.Tx, id, first int64, now time.Time, events []store.Event) error {
	if len(events) == 0 {
		return nil
	}
	stmt, err := tx.PrepareContext(ctx,
		`INSERT INTO events (deployment_id, seq, time, stage, type, message) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("insert events: %w", err)
	}
	defer stmt.Close()
	for i, e := range events {
		t := e.Time
		if t.IsZero() {
			t = now
		}
		if _, err := stmt.ExecContext(ctx, id, first+int64(i), micros(t), e.Stage, e.Type, e.Message); err != nil {
			return fmt.Errorf("insert event %d of deployment %d: %w", first+int64(i), id, err)
		}
		if e.Notify != "" {
			if _, err := tx.ExecContext(ctx, `INSERT INTO notification_outbox
				(deployment_id, event_seq, event, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?4)`,
				id, first+int64(i), e.Notify, micros(now)); err != nil {
				return fmt.Errorf("write notification %s of deployment %d to the outbox: %w", e.Notify, id, err)
			}
		}
		if m := e.Measurement; m != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO measurements
				(deployment_id, event_seq, analysis, template, metric, phase, value, message, started_at, finished_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				id, first+int64(i), m.Analysis, m.Template, m.Metric, string(m.Phase), m.Value, m.Message,
				micros(m.StartedAt), micros(m.FinishedAt)); err != nil {
				return fmt.Errorf("write measurement of %s/%s of deployment %d: %w", m.Template, m.Metric, id, err)
			}
		}
	}
	return nil
}

// compactProgress deletes deployment id's rollout progress but the newest
// line of each workload in each stage (store.ProgressEventType); the
// workload is the message up to its second ": ".
func compactProgress(ctx context.Context, tx *sql.Tx, id int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM events
		WHERE deployment_id = ?1 AND type = ?2 AND seq NOT IN (
			SELECT max(seq) FROM events WHERE deployment_id = ?1 AND type = ?2
			GROUP BY stage, substr(message, 1,
				instr(message, ': ') + 1 + instr(substr(message, instr(message, ': ') + 2), ': ')))`,
		id, store.ProgressEventType); err != nil {
		return fmt.Errorf("compact the rollout progress of deployment %d: %w", id, err)
	}
	return nil
}

// ListMeasurements returns deployment id's measurements in order.
func (s *Store) ListMeasurements(ctx context.Context, id int64) ([]v1alpha1.Measurement, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT analysis, template, metric, phase, value, message, started_at, finished_at
		FROM measurements WHERE deployment_id = ? ORDER BY event_seq`, id)
	if err != nil {
		return nil, fmt.Errorf("list measurements of deployment %d: %w", id, err)
	}
	defer rows.Close()
	var out []v1alpha1.Measurement
	for rows.Next() {
		var m v1alpha1.Measurement
		var phase string
		var started, finished int64
		if err := rows.Scan(&m.Analysis, &m.Template, &m.Metric, &phase, &m.Value, &m.Message, &started, &finished); err != nil {
			return nil, fmt.Errorf("list measurements of deployment %d: %w", id, err)
		}
		m.Phase, m.StartedAt, m.FinishedAt = v1alpha1.AnalysisPhase(phase), fromMicros(started), fromMicros(finished)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list measurements of deployment %d: %w", id, err)
	}
	return out, nil
}

// appendEvents reserves Seq numbers per deployment (in ID order, the same
// lock order for every caller) and inserts events; store.ErrNotFound if a
// deployment does not exist.
func appendEvents(ctx context.Context, tx *sql.Tx, now time.Time, events []store.Event) error {
	count := map[int64]int64{}
	for _, e := range events {
		count[e.DeploymentID]++
	}
	ids := make([]int64, 0, len(count))
	for id := range count {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	next := map[int64]int64{}
	for _, id := range ids {
		var last int64
		err := tx.QueryRowContext(ctx,
			`UPDATE deployments SET last_seq = last_seq + ? WHERE id = ? RETURNING last_seq`,
			count[id], id).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("deployment %d: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		next[id] = last - count[id] + 1
	}
	for _, e := range events {
		if err := insertEvents(ctx, tx, e.DeploymentID, next[e.DeploymentID], now, []store.Event{e}); err != nil {
			return err
		}
		next[e.DeploymentID]++
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
	if err := s.writeTx(ctx, func(tx *sql.Tx) error {
		return appendEvents(ctx, tx, now, events)
	}); err != nil {
		return fmt.Errorf("append events: %w", err)
	}
	return nil
}

// ListEvents returns deployment id's events with Seq > afterSeq in order;
// none (no error) for an unknown deployment.
func (s *Store) ListEvents(ctx context.Context, id int64, afterSeq int64) ([]store.Event, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT deployment_id, seq, time, stage, type, message
		FROM events WHERE deployment_id = ? AND seq > ? ORDER BY seq`, id, afterSeq)
	if err != nil {
		return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
	}
	defer rows.Close()
	out := []store.Event{}
	for rows.Next() {
		var e store.Event
		var t int64
		if err := rows.Scan(&e.DeploymentID, &e.Seq, &t, &e.Stage, &e.Type, &e.Message); err != nil {
			return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
		}
		e.Time = fromMicros(t)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events of deployment %d: %w", id, err)
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
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var last int64
		var status string
		err := tx.QueryRowContext(ctx, `UPDATE deployments SET last_seq = last_seq + 1,
				wake_at = CASE WHEN wake_at > ?1 THEN ?1 ELSE wake_at END
			WHERE id = ?2 RETURNING last_seq, status`, micros(now), d.DeploymentID).Scan(&last, &status)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if need > 0 {
			var rejects, approvers int
			if err := tx.QueryRowContext(ctx, decisionTally, d.DeploymentID, d.Stage).Scan(&rejects, &approvers); err != nil {
				return err
			}
			if err := store.CheckStageOpen(status, d.Stage, rejects, approvers, need); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO decisions (deployment_id, stage, user_name, decision, reason, at)
			VALUES (?, ?, ?, ?, ?, ?)`, d.DeploymentID, d.Stage, d.User, d.Decision, d.Reason, micros(at)); err != nil {
			if isUnique(err) {
				return fmt.Errorf("%s at stage %q: %w", d.User, d.Stage, store.ErrDuplicateDecision)
			}
			if isForeignKey(err) {
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
		coalesce(sum(CASE WHEN decision = 'Reject' THEN 1 ELSE 0 END), 0),
		count(DISTINCT CASE WHEN decision = 'Approve' THEN lower(user_name) END)
	FROM decisions WHERE deployment_id = ? AND stage = ?`

// ListDecisions returns deployment id's decisions in the order they were
// made; none (no error) for an unknown deployment.
func (s *Store) ListDecisions(ctx context.Context, id int64) ([]store.Decision, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT deployment_id, stage, user_name, decision, reason, at
		FROM decisions WHERE deployment_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("list decisions of deployment %d: %w", id, err)
	}
	defer rows.Close()
	out := []store.Decision{}
	for rows.Next() {
		var d store.Decision
		var at int64
		if err := rows.Scan(&d.DeploymentID, &d.Stage, &d.User, &d.Decision, &d.Reason, &at); err != nil {
			return nil, fmt.Errorf("list decisions of deployment %d: %w", id, err)
		}
		d.At = fromMicros(at)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list decisions of deployment %d: %w", id, err)
	}
	return out, nil
}

// ListDecisionsOf returns the decisions of each of ids in one query.
func (s *Store) ListDecisionsOf(ctx context.Context, ids []int64) (map[int64][]store.Decision, error) {
	out := map[int64][]store.Decision{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, `SELECT deployment_id, stage, user_name, decision, reason, at
		FROM decisions WHERE deployment_id IN (?`+strings.Repeat(",?", len(ids)-1)+`) ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list decisions of %d deployments: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var d store.Decision
		var at int64
		if err := rows.Scan(&d.DeploymentID, &d.Stage, &d.User, &d.Decision, &d.Reason, &at); err != nil {
			return nil, fmt.Errorf("list decisions of %d deployments: %w", len(ids), err)
		}
		d.At = fromMicros(at)
		out[d.DeploymentID] = append(out[d.DeploymentID], d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list decisions of %d deployments: %w", len(ids), err)
	}
	return out, nil
}
