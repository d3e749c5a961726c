// Package sqlite is the embedded store.Store driver: one database file, no
// server, no cgo (modernc.org/sqlite). It suits a single Fledge server; use
// the postgres driver to run several replicas.
//
// The file runs in WAL mode with foreign keys on. All writes go through
// one connection and each write transaction starts with BEGIN IMMEDIATE, so
// concurrent writers of this process queue instead of failing with
// SQLITE_BUSY, and writers of other processes wait up to
// Config.BusyTimeout. Reads use a separate pool of read-only connections.
// Schema migrations are embedded (migrations/NNNN_name.sql), recorded in
// schema_migrations, and applied by Open.
//
// # Leases and fencing
//
// ClaimDeployment picks, in ID order, the first deployment that is not
// final, has no lease or an expired one (LeaseExpires <= now), has WakeAt
// null or passed, and is either the oldest unfinished deployment of its
// pipeline or has never started (StartedAt null) and has a cancellation
// request, so a queued run can be cancelled while another runs.
// It sets LeaseOwner and LeaseExpires = now+ttl and bumps Version. Every
// time comes from Config.Clock, never from the database.
//
// While the lease is unexpired only its owner may call UpdateDeployment or
// RenewLease. Once it expires it is lost, even if nobody claimed it yet:
// both return store.ErrLeaseLost, and the old holder must stop, because
// another executor may now run the deployment. The Version check fences the
// rest: a stale row gets store.ErrConflict. ReleaseLease gives the lease
// up early.
//
// RequestCancel and AddDecision do not change Version (they write no field
// the lease holder writes), but both pull a future WakeAt to now, so a
// waiting deployment is claimable at once and the executor notices.
//
// Times are stored as microseconds since the Unix epoch and read back in
// UTC, the same precision the postgres driver keeps.
package sqlite
