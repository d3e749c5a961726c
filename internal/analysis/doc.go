// Package analysis judges a canary by its metrics: providers read a metric
// (Prometheus' HTTP API, or any JSON endpoint through the web provider),
// CEL conditions decide each measurement, and tallies turn measurements
// into a verdict per metric and per analysis, as the executor's Analyzer.
package analysis
