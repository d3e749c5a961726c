package storetest

import (
	"bytes"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

func securityTests() []testCase {
	return []testCase{
		{"Token/CreateLookUpListDelete", testTokens},
		{"Token/NameAndHashAreUnique", testTokenUnique},
		{"Token/RevisionMovesWithEveryChange", testTokensRevision},
		{"Audit/AppendAndFilter", testAudit},
		{"Audit/ConcurrentAppendsKeepEveryEntry", testAuditConcurrent},
		{"Audit/ExportOldestFirstAndPrune", testAuditPrune},
		{"Secret/PutGetListDelete", testSecrets},
		{"Delivery/SecondRecordIsAConflict", testDeliveries},
	}
}

func testTokens(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	exp := start.Add(time.Hour)
	want := []store.Token{
		{Name: "alice", Hash: []byte("hash-alice-0123456789abcdef01234"), Roles: []string{"approver", "deployer:web"}, CreatedAt: start, CreatedBy: "admin"},
		{Name: "ci", Hash: []byte("hash-ci-0123456789abcdef01234567"), Roles: []string{"deployer"}, CreatedAt: start.Add(time.Second), CreatedBy: "admin", ExpiresAt: &exp},
	}
	for _, tok := range []store.Token{want[1], want[0]} {
		must(t, b.s.CreateToken(b.ctx, tok), "CreateToken "+tok.Name)
	}
	got, err := b.s.TokenByHash(b.ctx, want[1].Hash)
	must(t, err, "TokenByHash")
	sameToken(t, "TokenByHash(ci)", got, want[1])
	_, err = b.s.TokenByHash(b.ctx, []byte("no such hash"))
	wantErr(t, err, store.ErrNotFound, "TokenByHash of an unknown hash")

	list, err := b.s.ListTokens(b.ctx)
	must(t, err, "ListTokens")
	if len(list) != 2 {
		t.Fatalf("ListTokens: %d tokens, want 2", len(list))
	}
	for i := range want {
		sameToken(t, fmt.Sprintf("ListTokens[%d]", i), list[i], want[i])
	}

	must(t, b.s.DeleteToken(b.ctx, "ci"), "DeleteToken")
	_, err = b.s.TokenByHash(b.ctx, want[1].Hash)
	wantErr(t, err, store.ErrNotFound, "TokenByHash after delete")
	wantErr(t, b.s.DeleteToken(b.ctx, "ci"), store.ErrNotFound, "DeleteToken twice")
	// A revoked name can be issued again, with a new secret.
	must(t, b.s.CreateToken(b.ctx, store.Token{Name: "ci", Hash: []byte("hash-ci-2"), Roles: []string{"deployer"}}), "CreateToken again")
	again, err := b.s.TokenByHash(b.ctx, []byte("hash-ci-2"))
	must(t, err, "TokenByHash of the new token")
	sameTime(t, "CreatedAt defaults to now", again.CreatedAt, start)
}

func sameToken(t *testing.T, what string, got, want store.Token) {
	t.Helper()
	if got.Name != want.Name || !bytes.Equal(got.Hash, want.Hash) || !reflect.DeepEqual(got.Roles, want.Roles) || got.CreatedBy != want.CreatedBy {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	sameTime(t, what+": CreatedAt", got.CreatedAt, want.CreatedAt)
	sameTimePtr(t, what+": ExpiresAt", got.ExpiresAt, want.ExpiresAt)
}

func testTokenUnique(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	must(t, b.s.CreateToken(b.ctx, store.Token{Name: "a", Hash: []byte("h1"), Roles: []string{"viewer"}}), "CreateToken")
	wantErr(t, b.s.CreateToken(b.ctx, store.Token{Name: "a", Hash: []byte("h2")}), store.ErrConflict, "same name")
	wantErr(t, b.s.CreateToken(b.ctx, store.Token{Name: "b", Hash: []byte("h1")}), store.ErrConflict, "same hash")
	tok, err := b.s.TokenByHash(b.ctx, []byte("h1"))
	must(t, err, "TokenByHash")
	if tok.Name != "a" || len(tok.Roles) != 1 || tok.Roles[0] != "viewer" {
		t.Fatalf("the first token changed: %+v", tok)
	}
	must(t, b.s.CreateToken(b.ctx, store.Token{Name: "none", Hash: []byte("h3")}), "CreateToken without roles")
	tok, err = b.s.TokenByHash(b.ctx, []byte("h3"))
	must(t, err, "TokenByHash")
	if len(tok.Roles) != 0 {
		t.Fatalf("roles of a token created with none: %v", tok.Roles)
	}
}

func testAudit(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	entries := []store.AuditEntry{
		{Actor: "admin", Action: "token.create", Target: "token/ci", RemoteAddr: "10.0.0.1", Outcome: "ok", Detail: "roles deployer"},
		{Actor: "ci", Action: "run.create", Target: "pipeline/web", RemoteAddr: "10.0.0.2", Outcome: "ok"},
		{Actor: "ci", Action: "deployment.approve", Target: "deployment/1", RemoteAddr: "10.0.0.2", Outcome: "denied", Detail: "lacks role approver"},
		{Actor: "alice", Action: "deployment.approve", Target: "deployment/1", Outcome: "ok"},
	}
	var ids []int64
	for _, e := range entries {
		b.clock.Advance(time.Minute)
		got, err := b.s.AppendAudit(b.ctx, e)
		must(t, err, "AppendAudit")
		if got.ID == 0 || (len(ids) > 0 && got.ID <= ids[len(ids)-1]) {
			t.Fatalf("AppendAudit assigned id %d after %v", got.ID, ids)
		}
		sameTime(t, "At defaults to now", got.At, b.clock.Now())
		ids = append(ids, got.ID)
	}
	explicit := start.Add(time.Hour)
	got, err := b.s.AppendAudit(b.ctx, store.AuditEntry{At: explicit, Actor: "bob", Action: "login.failed"})
	must(t, err, "AppendAudit with a time")
	sameTime(t, "explicit At", got.At, explicit)
	ids = append(ids, got.ID)

	list := func(f store.AuditFilter) []int64 {
		t.Helper()
		es, err := b.s.ListAudit(b.ctx, f)
		must(t, err, "ListAudit")
		var out []int64
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"all, newest first", store.AuditFilter{}, []int64{ids[4], ids[3], ids[2], ids[1], ids[0]}},
		{"actor", store.AuditFilter{Actor: "ci"}, []int64{ids[2], ids[1]}},
		{"action", store.AuditFilter{Action: "deployment.approve"}, []int64{ids[3], ids[2]}},
		{"actor and action", store.AuditFilter{Actor: "ci", Action: "deployment.approve"}, []int64{ids[2]}},
		{"since is inclusive", store.AuditFilter{Since: start.Add(3 * time.Minute)}, []int64{ids[4], ids[3], ids[2]}},
		{"limit", store.AuditFilter{Limit: 2}, []int64{ids[4], ids[3]}},
		{"page", store.AuditFilter{BeforeID: ids[2], Limit: 10}, []int64{ids[1], ids[0]}},
		{"nothing", store.AuditFilter{Actor: "nobody"}, nil},
	} {
		if got := list(tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ids %v, want %v", tc.name, got, tc.want)
		}
	}
	es, err := b.s.ListAudit(b.ctx, store.AuditFilter{Actor: "ci", Action: "deployment.approve"})
	must(t, err, "ListAudit")
	e := es[0]
	w := entries[2]
	if e.Actor != w.Actor || e.Action != w.Action || e.Target != w.Target || e.RemoteAddr != w.RemoteAddr || e.Outcome != w.Outcome || e.Detail != w.Detail {
		t.Fatalf("stored entry %+v, want %+v", e, w)
	}
	sameTime(t, "stored At", e.At, start.Add(3*time.Minute))
}

func testAuditConcurrent(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = b.s.AppendAudit(b.ctx, store.AuditEntry{Actor: fmt.Sprintf("u%d", i%4), Action: "x"})
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err, "concurrent AppendAudit")
	}
	es, err := b.s.ListAudit(b.ctx, store.AuditFilter{Limit: 1000})
	must(t, err, "ListAudit")
	if len(es) != n {
		t.Fatalf("%d entries, want %d", len(es), n)
	}
	seen := map[int64]bool{}
	for _, e := range es {
		if seen[e.ID] {
			t.Fatalf("id %d twice", e.ID)
		}
		seen[e.ID] = true
	}
}

func testSecrets(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	created, err := b.s.PutSecret(b.ctx, store.Secret{Name: "github", Sealed: []byte("sealed-1")})
	must(t, err, "PutSecret")
	if !created {
		t.Fatal("first PutSecret: created false")
	}
	b.clock.Advance(time.Minute)
	created, err = b.s.PutSecret(b.ctx, store.Secret{Name: "github", Sealed: []byte("sealed-2")})
	must(t, err, "PutSecret again")
	if created {
		t.Fatal("second PutSecret: created true")
	}
	_, err = b.s.PutSecret(b.ctx, store.Secret{Name: "another", Sealed: []byte("sealed-3")})
	must(t, err, "PutSecret another")
	got, err := b.s.GetSecret(b.ctx, "github")
	must(t, err, "GetSecret")
	if got.Name != "github" || string(got.Sealed) != "sealed-2" {
		t.Fatalf("GetSecret = %+v", got)
	}
	sameTime(t, "CreatedAt", got.CreatedAt, start)
	sameTime(t, "UpdatedAt", got.UpdatedAt, start.Add(time.Minute))
	list, err := b.s.ListSecrets(b.ctx)
	must(t, err, "ListSecrets")
	if len(list) != 2 || list[0].Name != "another" || list[1].Name != "github" {
		t.Fatalf("ListSecrets = %+v", list)
	}
	must(t, b.s.DeleteSecret(b.ctx, "github"), "DeleteSecret")
	_, err = b.s.GetSecret(b.ctx, "github")
	wantErr(t, err, store.ErrNotFound, "GetSecret after delete")
	wantErr(t, b.s.DeleteSecret(b.ctx, "github"), store.ErrNotFound, "DeleteSecret twice")
}

func testDeliveries(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	must(t, b.s.RecordDelivery(b.ctx, "github:1234", start), "RecordDelivery")
	must(t, b.s.RecordDelivery(b.ctx, "github:5678", start), "RecordDelivery of another key")
	wantErr(t, b.s.RecordDelivery(b.ctx, "github:1234", start.Add(time.Hour)), store.ErrConflict, "RecordDelivery replayed")
	// Concurrent deliveries of one key: exactly one is recorded.
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = b.s.RecordDelivery(b.ctx, "generic:race", start) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else {
			wantErr(t, err, store.ErrConflict, "concurrent RecordDelivery")
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent records of one key succeeded, want 1", ok)
	}
}

// testAuditPrune: entries are listed oldest first before a time (an
// export), and a prune deletes exactly those older than its time up to its
// id, leaving the rest.
func testAuditPrune(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	var ids []int64
	for i := range 6 {
		e, err := b.s.AppendAudit(b.ctx, store.AuditEntry{At: start.Add(time.Duration(i) * time.Hour), Actor: "alice", Action: fmt.Sprintf("a%d", i)})
		must(t, err, "AppendAudit")
		ids = append(ids, e.ID)
	}
	cut := start.Add(3 * time.Hour)
	page, err := b.s.ListAudit(b.ctx, store.AuditFilter{Until: cut, Oldest: true, Limit: 2})
	must(t, err, "ListAudit oldest first")
	if len(page) != 2 || page[0].ID != ids[0] || page[1].ID != ids[1] {
		t.Fatalf("first page oldest first before %s: %+v", cut, page)
	}
	page, err = b.s.ListAudit(b.ctx, store.AuditFilter{Until: cut, Oldest: true, AfterID: page[1].ID, Limit: 2})
	must(t, err, "ListAudit next page")
	if len(page) != 1 || page[0].ID != ids[2] {
		t.Fatalf("second page: %+v", page)
	}
	// Up to the second entry only, although three are older than cut: an
	// entry appended after an export is never pruned unseen.
	n, err := b.s.PruneAudit(b.ctx, store.AuditPrune{Actor: "admin", Before: cut, ThroughID: ids[1]})
	must(t, err, "PruneAudit")
	if n != 2 {
		t.Fatalf("PruneAudit deleted %d, want 2", n)
	}
	left, err := b.s.ListAudit(b.ctx, store.AuditFilter{Oldest: true})
	must(t, err, "ListAudit")
	if len(left) != 4 || left[0].ID != ids[2] {
		t.Fatalf("after the prune: %+v", left)
	}
	n, err = b.s.PruneAudit(b.ctx, store.AuditPrune{Actor: "admin", Before: cut, ThroughID: ids[5]})
	must(t, err, "PruneAudit")
	if n != 1 {
		t.Fatalf("second PruneAudit deleted %d, want 1", n)
	}
}

// testTokensRevision: every change to the tokens moves the revision, a
// refused change and a read do not, and TokenByHash tells the revision
// it read the token at.
func testTokensRevision(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	alice := store.Token{Name: "alice", Hash: []byte("hash-alice"), Roles: []string{"viewer"}}
	rev := func() int64 {
		t.Helper()
		r, err := b.s.TokensRevision(b.ctx)
		must(t, err, "TokensRevision")
		return r
	}
	last := rev()
	for _, tc := range []struct {
		name  string
		op    func() error
		fails bool
		moves bool
	}{
		{"create", func() error { return b.s.CreateToken(b.ctx, alice) }, false, true},
		{"create a taken name", func() error { return b.s.CreateToken(b.ctx, alice) }, true, false},
		{"look up", func() error { _, err := b.s.TokenByHash(b.ctx, alice.Hash); return err }, false, false},
		{"list", func() error { _, err := b.s.ListTokens(b.ctx); return err }, false, false},
		{"create another", func() error {
			return b.s.CreateToken(b.ctx, store.Token{Name: "bob", Hash: []byte("hash-bob"), Roles: []string{"admin"}})
		}, false, true},
		{"delete", func() error { return b.s.DeleteToken(b.ctx, "alice") }, false, true},
		{"delete an unknown name", func() error { return b.s.DeleteToken(b.ctx, "alice") }, true, false},
	} {
		err := tc.op()
		if (err != nil) != tc.fails {
			t.Fatalf("%s: error %v, want failure %v", tc.name, err, tc.fails)
		}
		now := rev()
		switch {
		case tc.moves && now <= last:
			t.Errorf("%s: revision %d, want more than %d", tc.name, now, last)
		case !tc.moves && now != last:
			t.Errorf("%s: revision %d, want %d unchanged", tc.name, now, last)
		}
		last = now
	}
	got, err := b.s.TokenByHash(b.ctx, []byte("hash-bob"))
	must(t, err, "TokenByHash")
	if got.Revision != last {
		t.Errorf("TokenByHash: Revision %d, want the current %d", got.Revision, last)
	}
}
