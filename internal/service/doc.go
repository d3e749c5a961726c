// Package service is what the HTTP API does: apply and read resources,
// start runs (rendered and validated before anything touches a cluster),
// record decisions, cancel, and roll back. It owns the translation between
// stored rows and the public v1alpha1 types; the HTTP layer only maps
// requests and errors.
package service
