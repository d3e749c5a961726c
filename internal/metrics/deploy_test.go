package metrics

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// deployDir holds the example dashboard and alert rules.
var deployDir = filepath.Join("..", "..", "deploy")

// promtool returns the path of promtool (Debian package prometheus, which
// hack/install-deps.sh installs); outside CI a missing one skips.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found (install the Debian package prometheus: hack/install-deps.sh): %v", err)
		}
		t.Skipf("promtool not found; run hack/install-deps.sh: %v", err)
	}
	return p
}

// TestAlertRules checks the example alert rules with promtool and runs
// their unit tests (fledge-rules.test.yaml: each alert fires on the input
// it is about, and only then).
func TestAlertRules(t *testing.T) {
	t.Parallel()
	bin := promtool(t)
	dir := filepath.Join(deployDir, "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "fledge-rules.yaml"},
		{"test", "rules", "fledge-rules.test.yaml"},
	} {
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestDeployFilesNameRealMetrics: every fledge_ metric the dashboard, the
// alert rules and docs/operations.md mention is one the server exports,
// and the documentation lists every metric.
func TestDeployFilesNameRealMetrics(t *testing.T) {
	t.Parallel()
	m := New()
	if err := m.Register(&StoreCollector{}); err != nil {
		t.Fatal(err)
	}
	names := m.Names()
	mentioned := regexp.MustCompile(`\bfledge_[a-z_]+[a-z]`)
	suffix := regexp.MustCompile(`_(bucket|count|sum)$`)
	files := []string{
		filepath.Join(deployDir, "grafana", "fledge.json"),
		filepath.Join(deployDir, "prometheus", "fledge-rules.yaml"),
		filepath.Join("..", "..", "docs", "operations.md"),
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range mentioned.FindAllString(string(b), -1) {
			if !slices.Contains(names, name) && !slices.Contains(names, suffix.ReplaceAllString(name, "")) {
				t.Errorf("%s mentions %s, which the server does not export", f, name)
			}
		}
	}
	doc, err := os.ReadFile(files[2])
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		if !strings.Contains(string(doc), "`"+name+"`") {
			t.Errorf("docs/operations.md does not list %s", name)
		}
	}
}
