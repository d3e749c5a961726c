package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

// previousRelease is the commit of the release before this one: the
// upgrade test builds its fledge binary and upgrades its stores.
const previousRelease = "7e4fd083983e1dafb7bd990c4077b7047287354f"

// TestUpgradeFromPreviousRelease runs the previous release's fledge on a
// fresh store (SQLite, and PostgreSQL), creates resources, a token, a
// finished deployment and one waiting for approval, stops it, and starts
// this version on the same store: the schema migrates at start, everything
// is still there, the old tokens work, and the waiting deployment is
// approved and finishes. Then the previous release runs once more on the
// migrated store, as during a rolling upgrade or after a rollback: it says
// the schema is newer than it knows and goes on serving the store.
func TestUpgradeFromPreviousRelease(t *testing.T) {
	old := previousReleaseBinary(t)
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) {
			testUpgrade(t, old, kind)
		})
	}
}

func testUpgrade(t *testing.T, old, kind string) {
	pipeline := "upgrade-" + kind
	canaryNS, prodNS := "upgrade-"+kind+"-canary", "upgrade-"+kind
	storeURL := newStoreURL(t, kind)
	dir := writeFixture(t, fixture{Pipeline: pipeline, Environment: "upgrade-cluster-" + kind, Artifact: "upgrade-manifest-" + kind, CanaryNS: canaryNS, ProdNS: prodNS})

	// The previous release: resources, a finished deployment and one
	// waiting for approval.
	before := startBinaryOn(t, old, storeURL, nil)
	before.fledge("admin", "apply", "-f", dir)
	done := before.run("ci", pipeline, "IMAGE_TAG=1.0")
	before.waitStatus(done.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	before.fledge("alice", "approve", itoa(done.ID))
	done = before.waitStatus(done.ID, 2*time.Minute, v1alpha1.StatusSucceeded)
	waitWorkload(t, prodNS, image+"1.0")
	waiting := before.run("ci", pipeline, "IMAGE_TAG=2.0")
	waiting = before.waitStatus(waiting.ID, 2*time.Minute, v1alpha1.StatusWaitingForApproval)
	resourcesBefore := withoutAge(before.fledge("admin", "get", "pipelines"))
	doneEvents := before.events(done.ID)
	before.stop()

	// This version on the same store.
	after := startServerOn(t, storeURL, nil)
	if got := withoutAge(after.fledge("admin", "get", "pipelines")); got != resourcesBefore {
		t.Errorf("pipelines after the upgrade:\n%s\nbefore:\n%s", got, resourcesBefore)
	}
	for _, res := range [][]string{{"environments", "upgrade-cluster-" + kind}, {"artifacts", "upgrade-manifest-" + kind}, {"pipelines", pipeline}} {
		after.fledge("admin", append([]string{"get"}, res...)...)
	}
	if d := after.deployment(done.ID); d.Status != v1alpha1.StatusSucceeded || d.Number != done.Number || d.Parameters["IMAGE_TAG"] != "1.0" {
		t.Errorf("finished deployment after the upgrade: %s #%d %v, want Succeeded #%d IMAGE_TAG=1.0", d.Status, d.Number, d.Parameters, done.Number)
	}
	checkCompacted(t, doneEvents, after.events(done.ID))
	if d := after.deployment(waiting.ID); d.Status != v1alpha1.StatusWaitingForApproval {
		t.Fatalf("waiting deployment after the upgrade: %s (%s)", d.Status, d.Message)
	}
	// The tokens made by the previous release (ci, alice) still work.
	after.fledge("alice", "approve", itoa(waiting.ID))
	if d := after.waitStatus(waiting.ID, 2*time.Minute, v1alpha1.StatusSucceeded, v1alpha1.StatusFailed); d.Status != v1alpha1.StatusSucceeded {
		t.Fatalf("waiting deployment approved after the upgrade: %s (%s)", d.Status, d.Message)
	}
	waitWorkload(t, prodNS, image+"2.0")
	after.stop()

	// The previous release on the migrated store: it warns and serves it.
	again := startBinaryOn(t, old, storeURL, nil)
	warning := fmt.Sprintf("schema_version=%d", newestMigration(t, kind))
	if log := again.Tail(); !strings.Contains(log, "database schema is newer than this binary") || !strings.Contains(log, warning) {
		t.Errorf("previous release on the migrated store: no warning naming %s in its log:\n%s", warning, log)
	}
	if d := again.deployment(waiting.ID); d.Status != v1alpha1.StatusSucceeded {
		t.Errorf("previous release on the migrated store reads deployment %d as %s", waiting.ID, d.Status)
	}
	if got := withoutAge(again.fledge("admin", "get", "pipelines")); got != resourcesBefore {
		t.Errorf("previous release on the migrated store lists pipelines:\n%s\nwant:\n%s", got, resourcesBefore)
	}
}

// withoutAge drops the last column (AGE) of a table.
func withoutAge(table string) string {
	var out []string
	for line := range strings.Lines(table) {
		f := strings.Fields(line)
		if len(f) > 0 {
			f = f[:len(f)-1]
		}
		out = append(out, strings.Join(f, " "))
	}
	return strings.Join(out, "\n")
}

// newestMigration is the highest migration number of this version's
// store driver kind.
func newestMigration(t *testing.T, kind string) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(repoRoot, "internal", "store", kind, "migrations"))
	if err != nil {
		t.Fatal(err)
	}
	newest := 0
	for _, e := range entries {
		prefix, _, _ := strings.Cut(e.Name(), "_")
		if n, err := strconv.Atoi(prefix); err == nil && n > newest {
			newest = n
		}
	}
	return newest
}

var (
	previousOnce sync.Once
	previousBin  string
	previousErr  error
)

// previousReleaseBinary returns the previous release's fledge, built once
// from the repository's history and kept under $(go env
// GOCACHE)/fledge/upgrade-COMMIT, so later runs reuse it. A clone without
// that commit (a shallow one) fails the test: the upgrade is not checked
// without it.
func previousReleaseBinary(t *testing.T) string {
	t.Helper()
	previousOnce.Do(func() { previousBin, previousErr = buildRelease(previousRelease) })
	if previousErr != nil {
		t.Fatalf("previous release %s: %v", previousRelease[:7], previousErr)
	}
	return previousBin
}

func buildRelease(commit string) (string, error) {
	gocache, err := exec.Command("go", "env", "GOCACHE").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOCACHE: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(gocache)), "fledge", "upgrade-"+commit)
	bin := filepath.Join(dir, "fledge")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if out, err := exec.Command("git", "-C", repoRoot, "cat-file", "-e", commit+"^{commit}").CombinedOutput(); err != nil {
		return "", fmt.Errorf("commit %s is not in this clone (%s): the upgrade test builds it; clone with full history or run git fetch --unshallow", commit, strings.TrimSpace(string(out)))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("cache directory: %w", err)
	}
	src, err := os.MkdirTemp(dir, "src-")
	if err != nil {
		return "", fmt.Errorf("source directory: %w", err)
	}
	defer os.RemoveAll(src)
	archive := exec.Command("sh", "-c", `git -C "$1" archive "$2" | tar -x -C "$3"`, "sh", repoRoot, commit, src)
	if out, err := archive.CombinedOutput(); err != nil {
		return "", fmt.Errorf("extract %s: %w\n%s", commit, err, out)
	}
	tmp := filepath.Join(src, "fledge.bin")
	build := exec.Command("go", "build", "-trimpath", "-o", tmp, "./cmd/fledge")
	build.Dir = src
	build.Env = append(os.Environ(), "GOTOOLCHAIN=local", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w\n%s", commit, err, out)
	}
	// A rename, so that a run stopped half-way leaves no broken binary.
	if err := os.Rename(tmp, bin); err != nil {
		return "", errors.Join(fmt.Errorf("keep the built binary: %w", err), os.Remove(tmp))
	}
	return bin, nil
}

// checkCompacted fails unless after is before with the rollout progress
// compacted, as migration 0009 does for a finished deployment: every other
// event kept as it was, and of each stage's RolloutProgress lines at least
// the last, none new.
func checkCompacted(t *testing.T, before, after []v1alpha1.Event) {
	t.Helper()
	type key struct {
		seq           int64
		typ, stage, m string
	}
	k := func(e v1alpha1.Event) key { return key{e.Seq, e.Type, e.Stage, e.Message} }
	had := map[key]bool{}
	var kept, progress []key
	lastProgress := map[string]key{}
	for _, e := range before {
		had[k(e)] = true
		if e.Type == "RolloutProgress" {
			lastProgress[e.Stage] = k(e)
			continue
		}
		kept = append(kept, k(e))
	}
	have := map[key]bool{}
	for _, e := range after {
		have[k(e)] = true
		if !had[k(e)] {
			t.Errorf("after the upgrade, event %d %s %q was not recorded before", e.Seq, e.Type, e.Message)
		}
		if e.Type == "RolloutProgress" {
			progress = append(progress, k(e))
		}
	}
	for _, e := range kept {
		if !have[e] {
			t.Errorf("after the upgrade, event %d %s %q is gone", e.seq, e.typ, e.m)
		}
	}
	for stage, e := range lastProgress {
		if !have[e] {
			t.Errorf("after the upgrade, the last rollout progress of stage %s (event %d) is gone", stage, e.seq)
		}
	}
	t.Logf("finished deployment: %d events before the upgrade, %d after (%d rollout progress lines kept)", len(before), len(after), len(progress))
}
