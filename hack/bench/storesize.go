package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// StoreSize is what the SQLite file holds after the scale benchmark and
// what one finished release costs in it.
type StoreSize struct {
	// FileBytes is the database file after a checkpoint (the WAL folded
	// in).
	FileBytes int64 `json:"file_bytes"`
	// Tables are the pages of each table with its indexes, and its rows.
	Tables map[string]TableSize `json:"tables"`
	// Releases counts the releases of the scale pipelines that
	// succeeded; the per-release figures are their means.
	Releases int `json:"releases"`
	// EventsWritten are the events a release wrote, EventsKept those left
	// once it ended (rollout progress compacted).
	EventsWritten float64 `json:"events_written_per_release"`
	EventsKept    float64 `json:"events_kept_per_release"`
	// BytesPerRelease is one deployment row, its kept events and its
	// decisions, each at its table's mean bytes per row.
	BytesPerRelease float64 `json:"bytes_per_release"`
}

// TableSize is one table of the store file.
type TableSize struct {
	Rows  int64 `json:"rows"`
	Bytes int64 `json:"bytes"`
}

// measureStore reads the sizes of the SQLite store at path, whose server
// has stopped; releases are the deployments of pipelines other than the
// history's that succeeded.
func measureStore(ctx context.Context, path string) (*StoreSize, error) {
	db, err := sql.Open("sqlite", path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	out := &StoreSize{FileBytes: fi.Size(), Tables: map[string]TableSize{}}
	rows, err := db.QueryContext(ctx, `SELECT m.tbl_name, sum(d.pgsize) FROM dbstat AS d
		JOIN sqlite_master AS m ON m.name = d.name GROUP BY m.tbl_name`)
	if err != nil {
		return nil, fmt.Errorf("table sizes: %w", err)
	}
	for rows.Next() {
		var name string
		var ts TableSize
		if err := rows.Scan(&name, &ts.Bytes); err != nil {
			rows.Close()
			return nil, err
		}
		out.Tables[name] = ts
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, name := range []string{"deployments", "events", "decisions"} {
		ts := out.Tables[name]
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM `+name).Scan(&ts.Rows); err != nil { //nolint:gosec // a fixed table name
			return nil, fmt.Errorf("count %s: %w", name, err)
		}
		out.Tables[name] = ts
	}
	var written, kept, decisions sql.NullFloat64
	if err := db.QueryRowContext(ctx, `SELECT count(*), avg(d.last_seq),
			avg((SELECT count(*) FROM events AS e WHERE e.deployment_id = d.id)),
			avg((SELECT count(*) FROM decisions AS c WHERE c.deployment_id = d.id))
		FROM deployments AS d WHERE d.status = 'Succeeded' AND d.pipeline <> ?`, historyPipeline).
		Scan(&out.Releases, &written, &kept, &decisions); err != nil {
		return nil, fmt.Errorf("events per release: %w", err)
	}
	out.EventsWritten, out.EventsKept = written.Float64, kept.Float64
	perRow := func(name string) float64 {
		ts := out.Tables[name]
		if ts.Rows == 0 {
			return 0
		}
		return float64(ts.Bytes) / float64(ts.Rows)
	}
	if out.Releases > 0 {
		out.BytesPerRelease = perRow("deployments") + out.EventsKept*perRow("events") + decisions.Float64*perRow("decisions")
	}
	return out, nil
}
