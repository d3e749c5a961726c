// Package v1alpha1 holds Fledge's public resource types (Environment,
// Artifact, Pipeline) and the API's view of a deployment run, with the
// validation that every client and the server share. It imports the
// standard library only.
package v1alpha1
