package cli

import (
	"bytes"
	"testing"
)

func TestEscapingWriter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"v1.2\rv1.3", `v1.2\rv1.3`},
		{"red \x1b[31mtext", `red \x1b[31mtext`},
		{"tab\tand\nnewline", "tab\tand\nnewline"},
		{"rtl \u202eevil", `rtl \u202eevil`},
		{"zero\u200bwidth", `zero\u200bwidth`},
		{"c1 \u009b", `c1 \u009b`},
		{"bad \xff utf-8", `bad \xff utf-8`},
		{"naïve café ✓", "naïve café ✓"},
		{"del\x7f", `del\x7f`},
	} {
		var b bytes.Buffer
		w := newEscapingWriter(&b)
		// Byte by byte: a character split across writes is kept whole.
		for i := range len(tc.in) {
			if _, err := w.Write([]byte{tc.in[i]}); err != nil {
				t.Fatal(err)
			}
		}
		if b.String() != tc.want {
			t.Errorf("%q printed as %q, want %q", tc.in, b.String(), tc.want)
		}
	}
}
