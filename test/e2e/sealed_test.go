package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"fledge.dev/fledge/api/v1alpha1"
)

// The values of a Kubernetes Secret inside an artifact are sealed in the
// store and opened only for the cluster: after a release, a second one and
// a rollback, the cluster's Secret has the real (rendered) value each time,
// a viewer sees (redacted) through the artifact, the deployment's manifests
// and the production diff, the rollback preview marks the value as changed
// without showing it, and neither the raw store (every row of every table
// on PostgreSQL, the database files on SQLite) nor the server's debug log
// holds the value in clear.
func TestArtifactSecretSealed(t *testing.T) {
	for _, kind := range storeKinds {
		t.Run(kind, func(t *testing.T) { artifactSecretSealed(t, kind) })
	}
}

func artifactSecretSealed(t *testing.T, kind string) {
	p := "sealed-" + kind
	storeURL := newStoreURL(t, kind)
	s := startServerOn(t, storeURL, nil)
	const password = "MARKER-5ea1-db-password"
	token := "MARKER-5ea1-api-token"
	tokenB64 := base64.StdEncoding.EncodeToString([]byte(token))
	secretDoc := "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: webpage-db\ntype: Opaque\nstringData:\n  password: " +
		password + "-${IMAGE_TAG}\ndata:\n  token: " + tokenB64 + "\n"
	dir := writeFixture(t, fixture{
		Pipeline: p, Environment: "local", Artifact: p, CanaryNS: p + "-c", ProdNS: p + "-p",
		Edit: func(m string) string { return strings.TrimRight(m, "\n") + "\n" + secretDoc },
	})
	s.fledge("admin", "apply", "-f", dir)
	if out := s.fledge("admin", "apply", "-f", dir); !strings.Contains(out, "artifact/"+p+" unchanged") {
		t.Fatalf("re-applying an artifact with a Secret must be unchanged:\n%s", out)
	}
	leaks := []string{password, tokenB64, token}

	// checkSecret asserts that the cluster's Secret in ns has the values.
	checkSecret := func(ns, pw string) {
		t.Helper()
		sec, err := cluster.Clientset().CoreV1().Secrets(ns).Get(context.Background(), "webpage-db", metav1.GetOptions{})
		if err != nil {
			t.Fatalf("secret %s/webpage-db: %v", ns, err)
		}
		if got := string(sec.Data["password"]); got != pw {
			t.Fatalf("secret %s/webpage-db has password %q, want %q", ns, got, pw)
		}
		if got := string(sec.Data["token"]); got != token {
			t.Fatalf("secret %s/webpage-db has token %q, want %q", ns, got, token)
		}
	}
	// viewerSees asserts that a viewer reading path gets the redacted form.
	viewerSees := func(path string) {
		t.Helper()
		code, body := s.getAs("vera", path)
		if code != http.StatusOK || !strings.Contains(body, "(redacted)") || strings.Contains(body, "fledge-sealed") {
			t.Fatalf("GET %s as a viewer: %d %s", path, code, body)
		}
		for _, leak := range leaks {
			if strings.Contains(body, leak) {
				t.Fatalf("GET %s as a viewer shows %q:\n%s", path, leak, body)
			}
		}
	}

	d1 := s.run("ci", p, "IMAGE_TAG=1.0")
	s.waitStatus(d1.ID, 3*time.Minute, v1alpha1.StatusWaitingForApproval)
	checkSecret(p+"-c", password+"-1.0")
	viewerSees("/api/v1/artifacts/" + p)
	viewerSees(fmt.Sprintf("/api/v1/deployments/%d/manifests", d1.ID))
	viewerSees(fmt.Sprintf("/api/v1/deployments/%d/diff", d1.ID))
	s.fledge("alice", "approve", itoa(d1.ID))
	s.waitStatus(d1.ID, 3*time.Minute, v1alpha1.StatusSucceeded)
	checkSecret(p+"-p", password+"-1.0")

	d2 := s.run("ci", p, "IMAGE_TAG=2.0")
	s.waitStatus(d2.ID, 3*time.Minute, v1alpha1.StatusWaitingForApproval)
	checkSecret(p+"-c", password+"-2.0")
	// Production's dry-run opens the values: only the password changes.
	code, diff := s.getAs("vera", fmt.Sprintf("/api/v1/deployments/%d/diff", d2.ID))
	if code != http.StatusOK || !strings.Contains(diff, "password: (redacted, changed)") || strings.Contains(diff, "token: (redacted, changed)") {
		t.Fatalf("production diff of #2: %d %s", code, diff)
	}
	s.fledge("alice", "approve", itoa(d2.ID))
	s.waitStatus(d2.ID, 3*time.Minute, v1alpha1.StatusSucceeded)
	checkSecret(p+"-p", password+"-2.0")

	preview := s.fledge("dave", "rollback", p, "--to", itoa(d1.ID), "--dry-run")
	if !strings.Contains(preview, "(redacted, changed)") {
		t.Fatalf("the rollback preview should mark the password changed:\n%s", preview)
	}
	s.fledge("dave", "rollback", p, "--to", itoa(d1.ID), "--yes")
	var list v1alpha1.DeploymentList
	s.getJSON("/api/v1/deployments?pipeline="+p+"&limit=1", &list)
	s.waitStatus(list.Items[0].ID, 3*time.Minute, v1alpha1.StatusSucceeded)
	checkSecret(p+"-p", password+"-1.0")

	var seen bytes.Buffer
	seen.WriteString(preview)
	seen.WriteString(diff)
	s.stop()
	log, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	seen.Write(log)
	raw := rawStore(t, kind, storeURL)
	for _, leak := range leaks {
		if i := bytes.Index(raw, []byte(leak)); i >= 0 {
			t.Errorf("the %s store holds %q in clear: ...%s...", kind, leak, raw[max(0, i-200):i])
		}
		if i := bytes.Index(seen.Bytes(), []byte(leak)); i >= 0 {
			t.Errorf("%q shown or logged: ...%s...", leak, seen.Bytes()[max(0, i-200):i])
		}
	}
	if !bytes.Contains(raw, []byte("fledge-sealed:v1:")) {
		t.Fatalf("the %s store holds no sealed value: was the artifact stored at all?", kind)
	}
}

// getAs sends GET path with user's token and returns the status and body.
func (s *server) getAs(user, path string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.url+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+s.token(user))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

// rawStore returns everything a store holds as bytes: the SQLite database
// files, or every row of every table of the PostgreSQL database as text.
func rawStore(t *testing.T, kind, storeURL string) []byte {
	t.Helper()
	var raw []byte
	if kind == "sqlite" {
		for _, f := range []string{storeURL, storeURL + "-wal", storeURL + "-shm"} {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			raw = append(raw, b...)
		}
		return raw
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, storeURL)
	if err != nil {
		t.Fatalf("connect to the store: %v", err)
	}
	defer conn.Close(ctx)
	// Every column of every table as text; bytea (resource specs, plans)
	// with its bytes as they are, not as hex.
	rows, err := conn.Query(ctx, `SELECT quote_ident(table_name),
		string_agg('coalesce(' || CASE WHEN data_type = 'bytea' THEN 'encode(' || quote_ident(column_name) || ', ''escape'')'
			ELSE quote_ident(column_name) || '::text' END || ', '''')', ' || '' '' || ')
		FROM information_schema.columns WHERE table_schema = 'public' GROUP BY table_name`)
	if err != nil {
		t.Fatal(err)
	}
	type table struct{ name, columns string }
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var tb table
		err := r.Scan(&tb.name, &tb.columns)
		return tb, err
	})
	if err != nil || len(tables) == 0 {
		t.Fatalf("list the store's tables: %v %v", tables, err)
	}
	for _, tb := range tables {
		rows, err := conn.Query(ctx, "SELECT "+tb.columns+" FROM "+tb.name)
		if err != nil {
			t.Fatalf("read %s: %v", tb.name, err)
		}
		texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("read %s: %v", tb.name, err)
		}
		for _, text := range texts {
			raw = append(raw, text...)
		}
	}
	return raw
}
