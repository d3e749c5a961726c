package cli

import (
	"bytes"
	"slices"
	"testing"
)

func TestTableRow(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cells []string
		want  string
	}{
		{"plain", []string{"a", "b"}, "a   b\n"},
		{"empty cell", []string{"a", ""}, "a   -\n"},
		{"tab and newline", []string{"a\tb", "c\nd"}, "a b   c d\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tc.cells)
			var b bytes.Buffer
			tb := newTable(&b)
			tb.row(in...)
			if err := tb.flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("printed %q, want %q", b.String(), tc.want)
			}
			// Header slices are package variables shared by every call.
			if !slices.Equal(in, tc.cells) {
				t.Errorf("row changed its cells to %q", in)
			}
		})
	}
}
