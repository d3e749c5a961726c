// Package executor runs deployments durably. It claims runnable
// deployments from the store under a lease, performs one step of the
// pipeline state machine at a time, and persists the new state with the
// step's events in one transaction before the next step. A server that dies
// loses nothing: its leases expire and any server (itself after a restart,
// or another replica) claims the deployment and resumes at the recorded
// step. Steps are idempotent (server-side apply, weights read back), so a
// step interrupted after acting but before recording is simply repeated.
//
// Every write is fenced by the lease: when a lease is lost, the store
// refuses the holder's updates (store.ErrLeaseLost) and the run stops.
package executor
