// Package kube is Fledge's only door to Kubernetes: it builds a client from
// an Environment, decodes manifests, creates namespaces, applies objects with
// server-side apply, waits for workloads to roll out, and shows what is live.
//
// Every write is a server-side apply with the field manager "fledge" and
// force=true, so Fledge owns the fields its manifests set and nothing else.
// Apply first dry-runs every object and applies nothing when the server
// rejects any of them; the resulting *RejectedError names each object.
//
// Calls that reach the server retry transient failures (5xx, 429, conflicts,
// timeouts, refused connections) with exponential backoff and jitter until
// their context ends; anything else, such as a validation error, is returned
// at once. Kinds are resolved through discovery, cached in memory and
// refreshed when a kind is not found (for example right after a CRD is
// installed).
//
// Only namespaced objects are deployed: Fledge applies the same manifests to
// a canary and a production namespace, so a cluster-scoped object in them is
// an error.
package kube
