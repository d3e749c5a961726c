// Package postgres is the store.Store driver for PostgreSQL (pgx/v5,
// pgxpool), for running several Fledge replicas against one database.
//
// Schema migrations are embedded (migrations/NNNN_name.sql), recorded in
// schema_migrations and applied by Open in one transaction that first takes
// a transaction-scoped advisory lock, so replicas starting at once apply
// them exactly once.
//
// # Leases and fencing
//
// ClaimDeployment picks, in ID order, the first deployment that is not
// final, has no lease or an expired one (LeaseExpires <= now), has WakeAt
// null or passed, and is either the oldest unfinished deployment of its
// pipeline or has never started (StartedAt null) and has a cancellation
// request, so a queued run can be cancelled while another runs;
// it locks that row FOR UPDATE SKIP LOCKED, so concurrent claimers never
// win the same row and never wait on each other. It sets LeaseOwner and
// LeaseExpires = now+ttl and bumps Version. Every time comes from
// Config.Clock, never from the database's now().
//
// While the lease is unexpired only its owner may call UpdateDeployment or
// RenewLease. Once it expires it is lost, even if nobody claimed it yet:
// both return store.ErrLeaseLost, and the old holder must stop, because
// another replica may now run the deployment. The Version check fences the
// rest: a stale row gets store.ErrConflict. ReleaseLease gives the lease
// up early.
//
// RequestCancel and AddDecision do not change Version (they write no field
// the lease holder writes), but both pull a future WakeAt to now, so a
// waiting deployment is claimable at once and the executor notices.
//
// Event Seq numbers come from the deployment row's last_seq column, bumped
// in the same transaction that inserts the events; the row lock makes
// them gapless and unique under concurrent appenders. Deployment Numbers
// come from a per-pipeline counter row the same way.
package postgres
