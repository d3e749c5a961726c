package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"fledge.dev/fledge/internal/store/postgres"
	"fledge.dev/fledge/internal/store/storetest"
)

// Idle replicas: how much of PostgreSQL replicas with nothing to run
// take, with the scale benchmark's 10,000 deployments in the store (each
// pipeline's head waiting for approval, the rest queued behind it).
const (
	replicaPipelines = 1000
	replicaPerPipe   = 10
	// replicaSettle is how long replicas run before the window: a backend
	// reports its transactions to pg_stat_database within 10 s of going
	// idle (PGSTAT_IDLE_INTERVAL), so both ends of the window lag alike.
	replicaSettle = 12 * time.Second
	replicaWindow = 30 * time.Second
)

// ReplicasResult is the replicas benchmark.
type ReplicasResult struct {
	Deployments int         `json:"deployments"`
	PostgreSQL  string      `json:"postgresql"`
	Idle        []IdleCount `json:"idle"`
	// Runs are the phases of replicas running releases.
	Runs []ReplicaRun `json:"runs,omitempty"`
	// Throughput is the executor's throughput with Kubernetes aside.
	Throughput *ThroughputResult `json:"throughput,omitempty"`
}

// IdleCount is what n idle replicas cost the database over a window.
type IdleCount struct {
	Replicas int     `json:"replicas"`
	Seconds  float64 `json:"seconds"`
	// TxPerSecond counts the database's committed and rolled back
	// transactions per second (every statement of Fledge's is one).
	TxPerSecond float64 `json:"tx_per_second"`
	// RowsPerSecond counts the rows the database read (tup_fetched +
	// tup_returned) per second.
	RowsPerSecond float64 `json:"rows_per_second"`
	// BackendCores is the CPU of the database's processes serving the
	// replicas, in cores.
	BackendCores float64 `json:"backend_cores"`
}

// replicasBench measures idle replicas on a fresh database of the
// PostgreSQL server $FLEDGE_TEST_POSTGRES_DSN names, or the one
// hack/start-postgres.sh starts, then replicas running releases.
func (b *bench) replicasBench(ctx context.Context, res *Results) error {
	admin, err := b.postgresDSN(ctx)
	if err != nil {
		return err
	}
	r := &ReplicasResult{Deployments: replicaPipelines * replicaPerPipe}
	res.Replicas = r
	if err := b.idleBench(ctx, admin, r); err != nil {
		return err
	}
	if err := b.replicaRuns(ctx, admin, r); err != nil {
		return err
	}
	return b.throughputBench(ctx, admin, r)
}

// idleBench measures 1 and 3 idle replicas on a fresh database seeded with
// the scale benchmark's deployments.
func (b *bench) idleBench(ctx context.Context, admin string, r *ReplicasResult) error {
	dsn, drop, err := freshDatabase(ctx, admin)
	if err != nil {
		return err
	}
	defer drop()
	st, err := postgres.Open(ctx, postgres.Config{DSN: dsn, Logger: discard})
	if err != nil {
		return err
	}
	begin := time.Now()
	err = storetest.SeedWaiting(ctx, st, time.Now(), replicaPipelines, replicaPerPipe)
	st.Close()
	if err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	b.log.Info("replicas: store seeded", "deployments", replicaPipelines*replicaPerPipe, "took", time.Since(begin).Round(time.Millisecond).String())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_ = conn.QueryRow(ctx, `SELECT current_setting('server_version')`).Scan(&r.PostgreSQL)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	token, err := newToken()
	if err != nil {
		return err
	}
	for _, n := range []int{1, 3} {
		c, err := b.idleReplicas(ctx, conn, dsn, hex.EncodeToString(key), token, n)
		if err != nil {
			return err
		}
		r.Idle = append(r.Idle, c)
		b.log.Info("replicas: idle", "replicas", n, "tx_per_second", c.TxPerSecond, "backend_cores", c.BackendCores)
	}
	return nil
}

// idleReplicas starts n replicas on dsn, lets them settle, and counts
// what the database does for them over replicaWindow.
func (b *bench) idleReplicas(ctx context.Context, conn *pgx.Conn, dsn, key, token string, n int) (IdleCount, error) {
	servers, err := b.startReplicas(ctx, filepath.Join(b.work, "replicas", strconv.Itoa(n)), dsn, key, token, n)
	defer stopAll(servers)
	if err != nil {
		return IdleCount{}, err
	}
	if err := sleepCtx(ctx, replicaSettle); err != nil {
		return IdleCount{}, err
	}
	tx0, rows0, cpu0, err := dbCounters(ctx, conn)
	if err != nil {
		return IdleCount{}, err
	}
	start := time.Now()
	if err := sleepCtx(ctx, replicaWindow); err != nil {
		return IdleCount{}, err
	}
	tx1, rows1, cpu1, err := dbCounters(ctx, conn)
	if err != nil {
		return IdleCount{}, err
	}
	secs := time.Since(start).Seconds()
	return IdleCount{
		Replicas: n, Seconds: secs,
		TxPerSecond: float64(tx1-tx0) / secs, RowsPerSecond: float64(rows1-rows0) / secs,
		BackendCores: (cpu1 - cpu0) / secs,
	}, nil
}

// startReplicas starts n replicas on dsn, each in a folder of dir, with
// one admin token and one secret key for all. It returns those started
// so far on an error too.
func (b *bench) startReplicas(ctx context.Context, dir, dsn, key, token string, n int) ([]*fledgeServer, error) {
	var servers []*fledgeServer
	for i := range n {
		d := filepath.Join(dir, strconv.Itoa(i))
		keyFile := filepath.Join(d, "secret.key")
		if err := os.MkdirAll(d, 0o700); err != nil {
			return servers, err
		}
		if err := os.WriteFile(filepath.Join(d, "admin.token"), []byte(token+"\n"), 0o600); err != nil {
			return servers, err
		}
		if err := os.WriteFile(keyFile, []byte(key+"\n"), 0o600); err != nil {
			return servers, err
		}
		s, err := b.startFledge(ctx, d, dsn, "--secret-key-file", keyFile)
		if err != nil {
			return servers, fmt.Errorf("start replica %d: %w", i, err)
		}
		servers = append(servers, s)
	}
	return servers, nil
}

func stopAll(servers []*fledgeServer) {
	for _, s := range servers {
		s.stop()
	}
}

// dbCounters reads the database's transaction and row counters and the
// CPU seconds its backends (other than conn's) have used.
func dbCounters(ctx context.Context, conn *pgx.Conn) (tx, rows int64, cpu float64, err error) {
	if _, err := conn.Exec(ctx, `SELECT pg_stat_clear_snapshot()`); err != nil {
		return 0, 0, 0, err
	}
	if err := conn.QueryRow(ctx, `SELECT xact_commit + xact_rollback, tup_fetched + tup_returned
		FROM pg_stat_database WHERE datname = current_database()`).Scan(&tx, &rows); err != nil {
		return 0, 0, 0, fmt.Errorf("read pg_stat_database: %w", err)
	}
	pids, err := pgx.CollectRows(mustQuery(ctx, conn, `SELECT pid FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`), pgx.RowTo[int32])
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read pg_stat_activity: %w", err)
	}
	for _, pid := range pids {
		cpu += processCPU(int(pid))
	}
	return tx, rows, cpu, nil
}

func mustQuery(ctx context.Context, conn *pgx.Conn, sql string, args ...any) pgx.Rows {
	rows, _ := conn.Query(ctx, sql, args...) // an error comes back from CollectRows
	return rows
}

// processCPU is the CPU seconds process pid has used (0 once it ended).
func processCPU(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	text := string(data)
	f := strings.Fields(text[strings.LastIndexByte(text, ')')+1:])
	if len(f) < 13 {
		return 0
	}
	user, _ := strconv.ParseFloat(f[11], 64)
	sys, _ := strconv.ParseFloat(f[12], 64)
	return (user + sys) / clockTicks
}

// postgresDSN is the superuser DSN of the PostgreSQL server to use.
func (b *bench) postgresDSN(ctx context.Context) (string, error) {
	if dsn := os.Getenv("FLEDGE_TEST_POSTGRES_DSN"); dsn != "" {
		return dsn, nil
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(b.root, "hack", "start-postgres.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/start-postgres.sh: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	_, dsn, ok := strings.Cut(lines[len(lines)-1], "FLEDGE_TEST_POSTGRES_DSN=")
	if !ok {
		return "", errors.New("hack/start-postgres.sh printed no DSN")
	}
	return dsn, nil
}

// freshDatabase creates an empty database on admin's server and returns
// its DSN and a function that drops it.
func freshDatabase(ctx context.Context, admin string) (string, func(), error) {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "fledge_bench_" + hex.EncodeToString(suffix)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		conn.Close(context.Background())
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		conn.Close(context.Background())
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = conn.Exec(dctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
		conn.Close(dctx)
	}
	return u.String(), drop, nil
}
