package migration

import (
	"testing"
	"testing/fstest"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		files   []string
		want    []int
		wantErr string
	}{
		{name: "ordered by number", files: []string{"0010_ten.sql", "0002_two.sql", "0001_init.sql"}, want: []int{1, 2, 10}},
		{name: "no number", files: []string{"init.sql"}, wantErr: "migration init.sql: name must start with a positive number and '_'"},
		{name: "zero", files: []string{"0000_zero.sql"}, wantErr: "migration 0000_zero.sql: name must start with a positive number and '_'"},
		{name: "no underscore", files: []string{"0001.sql"}, wantErr: "migration 0001.sql: name must start with a positive number and '_'"},
		{name: "shared version", files: []string{"0004_a.sql", "0004_b.sql"}, wantErr: "migrations 0004_a.sql and 0004_b.sql share a version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := fstest.MapFS{}
			for _, f := range tt.files {
				fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("-- " + f)}
			}
			ms, err := Load(fsys, "migrations")
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("Load = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(ms) != len(tt.want) {
				t.Fatalf("Load = %d migrations, want %d", len(ms), len(tt.want))
			}
			for i, m := range ms {
				if m.Version != tt.want[i] || m.SQL != "-- "+m.Name {
					t.Errorf("migration %d = %+v, want version %d with its file's content", i, m, tt.want[i])
				}
			}
		})
	}
}
