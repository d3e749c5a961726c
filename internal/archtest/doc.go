// Package archtest holds the tests that keep the code's shape as
// docs/design.md ("Layers and import rules") and README.md's layout and
// dependency tables describe it: who may import whom, and that every
// package and every direct dependency is listed. It has no other code.
package archtest
