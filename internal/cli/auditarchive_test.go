package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/store"
)

// fledge audit prune archives the old entries to a file, then removes
// exactly those; the prune is audited; export writes JSON lines.
func TestAuditPrune(t *testing.T) {
	t.Parallel()
	a := startRealAPI(t)
	old := time.Now().Add(-72 * time.Hour)
	for i := range 1500 { // more than one page of the export
		if _, err := a.st.AppendAudit(t.Context(), store.AuditEntry{At: old.Add(time.Duration(i) * time.Second), Actor: "alice", Action: "run.create", Target: fmt.Sprintf("pipeline/p%d", i), Outcome: "ok"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.st.AppendAudit(t.Context(), store.AuditEntry{Actor: "bob", Action: "recent", Outcome: "ok"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"audit", "prune", "--older-than", "1h", "--archive", "x"}, "at least 24h"},
		{[]string{"audit", "prune", "--older-than", "48h"}, "--archive FILE is required"},
	} {
		out, err := a.cli(t, a.admin, "", tc.args...)
		if err == nil || !strings.Contains(out+err.Error(), tc.want) {
			t.Errorf("%v: %v %s, want %q", tc.args, err, out, tc.want)
		}
	}
	archive := filepath.Join(t.TempDir(), "audit.jsonl")
	out, err := a.cli(t, a.admin, "", "audit", "prune", "--older-than", "48h", "--archive", archive)
	if err != nil || !strings.Contains(out, "archived 1500 audit entries") || !strings.Contains(out, "removed 1500") {
		t.Fatalf("prune: %v\n%s", err, out)
	}
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if fi, _ := f.Stat(); fi.Mode().Perm() != 0o600 {
		t.Errorf("archive mode %04o, want 0600", fi.Mode().Perm())
	}
	sc := bufio.NewScanner(f)
	var n int
	var prev int64
	for sc.Scan() {
		var e v1alpha1.AuditEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Actor != "alice" || e.ID <= prev {
			t.Fatalf("archive line %d: %v %s", n+1, err, sc.Text())
		}
		prev = e.ID
		n++
	}
	if n != 1500 {
		t.Fatalf("archive has %d lines, want 1500", n)
	}
	// The prune's own entry is written just after its answer.
	var left []store.AuditEntry
	var got string
	for deadline := time.Now().Add(10 * time.Second); got != "audit.prune,recent" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if left, err = a.st.ListAudit(t.Context(), store.AuditFilter{Limit: 10000}); err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range left {
			actions = append(actions, e.Action)
		}
		got = strings.Join(actions, ",")
	}
	if got != "audit.prune,recent" {
		t.Fatalf("left in the audit log: %s", got)
	}
	if !strings.Contains(left[0].Detail, "deleted 1500 entries") || left[0].Actor != "admin" {
		t.Fatalf("the prune's own entry: %+v", left[0])
	}
	// An existing archive is never overwritten; nothing is removed.
	if out, err := a.cli(t, a.admin, "", "audit", "prune", "--older-than", "48h", "--archive", archive); err == nil {
		t.Fatalf("prune into an existing archive: %s", out)
	}
	out, err = a.cli(t, a.admin, "", "audit", "export")
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, `"action":"audit.prune"`) || !strings.Contains(out, `"action":"recent"`) {
		t.Fatalf("export: %v\n%s", err, out)
	}
}
