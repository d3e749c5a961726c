// Package pipeline is the deployment state machine: given the plan frozen
// when a run was created and the progress so far, it says which step comes
// next, and how progress changes when a step completes or the run must end.
// It does no I/O: the executor performs the steps and persists the State
// after each one, so a restarted server resumes exactly where it stopped.
//
// Every run ends through the finishing steps: production is restored if a
// production release failed half way, and the canary weight is set to 0,
// whatever the outcome.
package pipeline
