package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"fledge.dev/fledge/internal/store"
)

func resourceTests() []testCase {
	return []testCase{
		{"Resource/PutCreatesThenUpdates", testPutResource},
		{"Resource/NotFound", testResourceNotFound},
		{"Resource/ListOrderedByNamePerKind", testListResources},
		{"Resource/Delete", testDeleteResource},
		{"Resource/ConcurrentCreateOneWins", testConcurrentPutResource},
	}
}

func testPutResource(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	spec := []byte(`{"name":"web","replicas":2}`)

	steps := []struct {
		name        string
		advance     time.Duration
		spec        []byte
		wantCreated bool
		wantGen     int64
		wantUpdated time.Time
	}{
		{"create", 0, spec, true, 1, start},
		{"same spec: no change", time.Minute, spec, false, 1, start},
		{"new spec: generation bump", time.Minute, []byte(`{"name":"web","replicas":3}`), false, 2, start.Add(2 * time.Minute)},
		{"same again", time.Minute, []byte(`{"name":"web","replicas":3}`), false, 2, start.Add(2 * time.Minute)},
		{"back to the first spec", time.Minute, spec, false, 3, start.Add(4 * time.Minute)},
	}
	for _, st := range steps {
		b.clock.Advance(st.advance)
		got, created, err := b.s.PutResource(b.ctx, store.Resource{Kind: "Pipeline", Name: "web", Spec: st.spec, Generation: 42})
		must(t, err, st.name)
		if created != st.wantCreated || got.Generation != st.wantGen || !bytes.Equal(got.Spec, st.spec) {
			t.Fatalf("%s: created %t generation %d spec %s, want %t %d %s",
				st.name, created, got.Generation, got.Spec, st.wantCreated, st.wantGen, st.spec)
		}
		if got.Kind != "Pipeline" || got.Name != "web" {
			t.Fatalf("%s: returned %s/%s", st.name, got.Kind, got.Name)
		}
		sameTime(t, st.name+": CreatedAt", got.CreatedAt, start)
		sameTime(t, st.name+": UpdatedAt", got.UpdatedAt, st.wantUpdated)

		stored, err := b.s.GetResource(b.ctx, "Pipeline", "web")
		must(t, err, st.name+": GetResource")
		if stored.Generation != got.Generation || !bytes.Equal(stored.Spec, got.Spec) {
			t.Fatalf("%s: GetResource generation %d spec %s, want %d %s", st.name, stored.Generation, stored.Spec, got.Generation, got.Spec)
		}
		sameTime(t, st.name+": stored CreatedAt", stored.CreatedAt, got.CreatedAt)
		sameTime(t, st.name+": stored UpdatedAt", stored.UpdatedAt, got.UpdatedAt)
	}

	// The same name under another kind is another resource.
	got, created, err := b.s.PutResource(b.ctx, store.Resource{Kind: "Environment", Name: "web", Spec: []byte(`{}`)})
	must(t, err, "PutResource of another kind")
	if !created || got.Generation != 1 {
		t.Fatalf("another kind: created %t generation %d, want true 1", created, got.Generation)
	}
}

func testResourceNotFound(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	_, _, err := b.s.PutResource(b.ctx, store.Resource{Kind: "Pipeline", Name: "web", Spec: []byte(`{}`)})
	must(t, err, "PutResource")
	for _, k := range [][2]string{{"Pipeline", "api"}, {"Environment", "web"}, {"", ""}} {
		_, err := b.s.GetResource(b.ctx, k[0], k[1])
		wantErr(t, err, store.ErrNotFound, "GetResource "+k[0]+"/"+k[1])
	}
}

func testListResources(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	for _, r := range []store.Resource{
		{Kind: "Pipeline", Name: "web"},
		{Kind: "Environment", Name: "prod"},
		{Kind: "Pipeline", Name: "api"},
		{Kind: "Pipeline", Name: "worker"},
		{Kind: "Environment", Name: "dev"},
	} {
		r.Spec = []byte(`{"name":"` + r.Name + `"}`)
		_, _, err := b.s.PutResource(b.ctx, r)
		must(t, err, "PutResource")
	}
	for _, tc := range []struct {
		kind string
		want []string
	}{
		{"Pipeline", []string{"api", "web", "worker"}},
		{"Environment", []string{"dev", "prod"}},
		{"Artifact", nil},
	} {
		got, err := b.s.ListResources(b.ctx, tc.kind)
		must(t, err, "ListResources "+tc.kind)
		var names []string
		for _, r := range got {
			if r.Kind != tc.kind || string(r.Spec) != `{"name":"`+r.Name+`"}` || r.Generation != 1 {
				t.Errorf("ListResources(%s): unexpected row %+v", tc.kind, r)
			}
			names = append(names, r.Name)
		}
		if len(names) != len(tc.want) {
			t.Fatalf("ListResources(%s) = %v, want %v", tc.kind, names, tc.want)
		}
		for i := range names {
			if names[i] != tc.want[i] {
				t.Fatalf("ListResources(%s) = %v, want %v", tc.kind, names, tc.want)
			}
		}
	}
}

func testDeleteResource(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	for _, name := range []string{"web", "api"} {
		_, _, err := b.s.PutResource(b.ctx, store.Resource{Kind: "Pipeline", Name: name, Spec: []byte(`{"v":1}`)})
		must(t, err, "PutResource")
	}
	_, _, err := b.s.PutResource(b.ctx, store.Resource{Kind: "Pipeline", Name: "web", Spec: []byte(`{"v":2}`)})
	must(t, err, "PutResource v2")

	must(t, b.s.DeleteResource(b.ctx, "Pipeline", "web"), "DeleteResource")
	_, err = b.s.GetResource(b.ctx, "Pipeline", "web")
	wantErr(t, err, store.ErrNotFound, "GetResource after delete")
	wantErr(t, b.s.DeleteResource(b.ctx, "Pipeline", "web"), store.ErrNotFound, "DeleteResource twice")
	wantErr(t, b.s.DeleteResource(b.ctx, "Environment", "api"), store.ErrNotFound, "DeleteResource of another kind")

	if _, err := b.s.GetResource(b.ctx, "Pipeline", "api"); err != nil {
		t.Fatalf("the other resource is gone: %v", err)
	}
	// Created again, it starts over.
	got, created, err := b.s.PutResource(b.ctx, store.Resource{Kind: "Pipeline", Name: "web", Spec: []byte(`{"v":2}`)})
	must(t, err, "PutResource after delete")
	if !created || got.Generation != 1 {
		t.Fatalf("recreated: created %t generation %d, want true 1", created, got.Generation)
	}
}

func testConcurrentPutResource(t *testing.T, newStore NewStore) {
	b := setup(t, newStore)
	const n = 8
	var wg sync.WaitGroup
	created := make([]bool, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, created[i], errs[i] = b.s.PutResource(b.ctx, store.Resource{Kind: "Pipeline", Name: "web", Spec: []byte(`{}`)})
		})
	}
	wg.Wait()
	wins := 0
	for i := range n {
		must(t, errs[i], "concurrent PutResource")
		if created[i] {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d calls report a creation, want 1", wins)
	}
	got, err := b.s.GetResource(b.ctx, "Pipeline", "web")
	must(t, err, "GetResource")
	if got.Generation != 1 {
		t.Fatalf("Generation %d, want 1 (the spec never changed)", got.Generation)
	}
}
