package archtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const module = "fledge.dev/fledge/"

// layers orders the packages as docs/design.md does: a package may import
// packages of its own layer or a lower one, never a higher one. A new
// package gets a line here (and in README.md's layout table).
var layers = map[string]int{
	// 0: pure building blocks: types, rules, encodings; no I/O of their own.
	"api":                      0,
	"api/v1alpha1":             0,
	"internal/pipeline":        0,
	"internal/render":          0,
	"internal/resourcefile":    0,
	"internal/apischema":       0,
	"internal/registry":        0,
	"internal/redact":          0,
	"internal/auth":            0,
	"internal/secretbox":       0,
	"internal/strictjson":      0,
	"internal/judge":           0,
	"internal/webhook":         0,
	"internal/version":         0,
	"internal/web":             0,
	"internal/store":           0,
	"internal/store/migration": 0,
	"internal/traffic":         0,
	// 1: drivers: databases, the Kubernetes client, the local control plane.
	"internal/store/sqlite":    1,
	"internal/store/postgres":  1,
	"internal/store/storetest": 1,
	"internal/kube":            1,
	"internal/localcluster":    1,
	"internal/gatewaycrd":      1,
	"internal/testenv":         1,
	"internal/golden":          1,
	// 2: traffic providers and their choice per plan; clusters of environments.
	"internal/traffic/nginx":      2,
	"internal/traffic/gatewayapi": 2,
	"internal/traffic/routing":    3,
	"internal/clusters":           3,
	// 3: which deployment each production target runs (read from the
	// store through an interface).
	"internal/targets": 3,
	// 2: metric analysis: providers (Prometheus, web), CEL conditions,
	// tallies to verdicts.
	"internal/analysis": 2,
	// 4: what the server does.
	"internal/executor": 4,
	"internal/service":  4,
	"internal/metrics":  4,
	"internal/notify":   4,
	// 5: the HTTP API and its client.
	"internal/httpapi":   5,
	"internal/apiclient": 5,
	// 6: the composition root; 7: the commands; 8: main.
	"internal/server": 6,
	"internal/cli":    7,
	"cmd/fledge":      8,
}

// rules are import bans beyond the layers, each with the reason
// docs/design.md gives.
var rules = []struct {
	pkgs   []string // packages the rule applies to ("internal/x/..." for a tree)
	banned []string // import path prefixes they may not import
	why    string
}{
	{
		pkgs:   []string{"api/...", "internal/pipeline", "internal/auth", "internal/secretbox", "internal/strictjson", "internal/judge", "internal/store", "internal/store/migration", "internal/version"},
		banned: []string{"!std", "!" + module + "api/", "!" + module + "internal/strictjson"},
		why:    "the public types and the pure packages import the standard library only (and api/v1alpha1)",
	},
	{
		pkgs:   []string{"api/...", "internal/pipeline", "internal/render", "internal/resourcefile", "internal/store/...", "internal/httpapi", "internal/apiclient", "internal/service", "internal/cli", "internal/webhook", "internal/metrics"},
		banned: []string{"k8s.io/", "sigs.k8s.io/"},
		why:    "only the Kubernetes layer (kube, localcluster, traffic providers, clusters, executor) uses a Kubernetes client",
	},
	{
		pkgs:   []string{"internal/httpapi"},
		banned: []string{module + "internal/store/sqlite", module + "internal/store/postgres", module + "internal/kube", module + "internal/executor", "github.com/jackc/", "modernc.org/"},
		why:    "the HTTP layer never touches a database driver or Kubernetes; it calls the service",
	},
	{
		pkgs:   []string{"internal/cli"},
		banned: []string{module + "internal/store", module + "internal/service", module + "internal/executor", module + "internal/httpapi"},
		why:    "the CLI talks to the server through apiclient only; `fledge serve` hands its flags to internal/server",
	},
	{
		pkgs:   []string{"internal/service"},
		banned: []string{module + "internal/executor"},
		why:    "the service wakes the executor through its Notifier and reaches clusters through internal/clusters",
	},
	{
		pkgs:   []string{"internal/...", "api/...", "cmd/..."},
		banned: []string{"helm.sh/", "github.com/google/go-containerregistry/"},
		why:    "the Helm library and go-containerregistry are for the chart tests and the image builder (deploy, hack/image), never in the fledge binary",
	},
	{
		pkgs:   []string{"internal/...", "api/...", "cmd/..."},
		banned: []string{module + "test/", module + "hack/", module + "internal/testenv", module + "internal/golden"},
		why:    "production code never imports tests, their harness or scripts",
	},
}

type pkg struct {
	path    string // relative to the module
	imports []string
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// listPackages returns the module's packages and their (non-test) imports.
func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}} {{.Standard}} {{join .Imports \" \"}}", "./...")
	cmd.Dir = repoRoot(t)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], module) {
			continue
		}
		pkgs = append(pkgs, pkg{path: strings.TrimPrefix(f[0], module), imports: f[2:]})
	}
	return pkgs
}

func matches(p string, patterns []string) bool {
	for _, pat := range patterns {
		if tree, ok := strings.CutSuffix(pat, "/..."); ok {
			if p == tree || strings.HasPrefix(p, tree+"/") {
				return true
			}
		} else if p == pat {
			return true
		}
	}
	return false
}

// isStd reports whether an import path is the standard library's.
func isStd(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".")
}

// banned reports whether imp breaks one of the prefixes; "!x" entries
// form an allow list instead ("!std" is the standard library).
func banned(imp string, list []string) bool {
	var allow []string
	for _, b := range list {
		if a, ok := strings.CutPrefix(b, "!"); ok {
			allow = append(allow, a)
			continue
		}
		if imp == strings.TrimSuffix(b, "/") || strings.HasPrefix(imp, b) {
			return true
		}
	}
	if len(allow) == 0 {
		return false
	}
	for _, a := range allow {
		if (a == "std" && isStd(imp)) || imp == strings.TrimSuffix(a, "/") || strings.HasPrefix(imp, a) {
			return false
		}
	}
	return true
}

// TestImportRules checks every package's imports against the layers and
// the rules of docs/design.md.
func TestImportRules(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		if strings.HasPrefix(p.path, "test/") || strings.HasPrefix(p.path, "hack/") || strings.HasPrefix(p.path, "internal/archtest") || p.path == "deploy" {
			continue
		}
		layer, known := layers[p.path]
		if !known {
			t.Errorf("package %s has no layer: add it to layers in internal/archtest/imports_test.go (and to README.md's layout table)", p.path)
			continue
		}
		for _, imp := range p.imports {
			if rel, ok := strings.CutPrefix(imp, module); ok {
				if l, ok := layers[rel]; ok && l > layer {
					t.Errorf("%s (layer %d) imports %s (layer %d): nothing imports upward", p.path, layer, rel, l)
				}
			}
			for _, r := range rules {
				if matches(p.path, r.pkgs) && banned(imp, r.banned) {
					t.Errorf("%s imports %s: %s", p.path, imp, r.why)
				}
			}
		}
	}
}

// TestRulesCatchViolations makes sure the checks above can fail.
func TestRulesCatchViolations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pkg, imp string
		want     bool
	}{
		{"api/v1alpha1", "fmt", false},
		{"api/v1alpha1", "k8s.io/api/core/v1", true},
		{"api/v1alpha1", "go.yaml.in/yaml/v3", true},
		{"internal/pipeline", module + "api/v1alpha1", false},
		{"internal/pipeline", module + "internal/kube", true},
		{"internal/render", "k8s.io/client-go/rest", true},
		{"internal/httpapi", module + "internal/store/sqlite", true},
		{"internal/cli", module + "internal/store", true},
		{"internal/cli", module + "internal/apiclient", false},
		{"internal/service", module + "internal/executor", true},
		{"internal/executor", module + "test/dataplane", true},
		{"internal/server", module + "internal/testenv", true},
	}
	for _, tt := range tests {
		got := false
		for _, r := range rules {
			if matches(tt.pkg, r.pkgs) && banned(tt.imp, r.banned) {
				got = true
			}
		}
		if got != tt.want {
			t.Errorf("%s importing %s: refused=%v, want %v", tt.pkg, tt.imp, got, tt.want)
		}
	}
}

// TestReadmeLayout: every package of the module is named in README.md's
// layout table (as itself or under a parent row such as test/e2e or
// internal/store (+ sqlite, ...)).
func TestReadmeLayout(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile(filepath.Join(repoRoot(t), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, _ := strings.Cut(string(readme), "\n## Layout\n")
	layout, _, _ = strings.Cut(layout, "\n## ")
	var missing []string
	for _, p := range listPackages(t) {
		if strings.HasPrefix(p.path, "hack/") {
			continue // hack/ has its own row
		}
		if !strings.Contains(layout, "`"+p.path+"`") && !namedUnderParent(layout, p.path) {
			missing = append(missing, p.path)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("README.md's layout table does not name: %s", strings.Join(missing, ", "))
	}
}

// namedUnderParent reports whether a row names a parent of p and p's last
// element (`internal/store` (+ `sqlite`, ...); `internal/traffic/nginx`,
// `gatewayapi`), or p is inside a test tree's row (test/dataplane/agent).
func namedUnderParent(layout, p string) bool {
	parent, base := filepath.Dir(p), filepath.Base(p)
	for _, line := range strings.Split(layout, "\n") {
		if strings.Contains(line, "`"+parent+"`") && strings.Contains(line, "`"+base+"`") {
			return true
		}
		if strings.Contains(line, "`"+parent+"/") && strings.Contains(line, "`"+base+"`") {
			return true
		}
		if strings.HasPrefix(p, "test/") && strings.Contains(line, "`"+parent+"`") {
			return true
		}
	}
	return false
}

// TestReadmeDependencies: every direct dependency in go.mod is in
// README.md's dependency table, with why.
func TestReadmeDependencies(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, deps, _ := strings.Cut(string(readme), "\n## Dependencies and why\n")
	deps, _, _ = strings.Cut(deps, "\n## ")
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	inRequire := false
	for _, line := range strings.Split(string(gomod), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "require ("):
			inRequire = true
			continue
		case line == ")":
			inRequire = false
			continue
		case !inRequire || line == "" || strings.Contains(line, "// indirect"):
			continue
		}
		mod := strings.Fields(line)[0]
		if !strings.Contains(deps, mod) {
			t.Errorf("go.mod requires %s directly, but README.md's dependency table does not name it (add a row saying why)", mod)
		}
	}
}
