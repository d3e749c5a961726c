// Package storetest is the one conformance suite every store.Store driver
// runs: Run(t, newStore) from the driver's own test. Each test gets a fresh
// store and a manual Clock, so lease expiry and wake-ups are exact.
//
// Beyond the interface's comments the suite pins what drivers must agree
// on: the ClaimDeployment rules (Claim/Rules, including a never-started run
// with a cancellation request jumping its pipeline's queue); a lease is
// lost the moment it expires (LeaseExpires <= now), even if nobody has
// claimed the deployment yet; ClaimDeployment bumps Version, so a previous
// holder's writes are fenced even under the same owner name; when a fenced
// UpdateDeployment fails for both reasons, store.ErrLeaseLost wins over
// store.ErrConflict; RequestCancel and AddDecision keep Version but pull a
// future WakeAt to now; times keep microseconds; lists of an unknown
// deployment are empty, not an error.
package storetest
