package cli

import (
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// escapingWriter writes text with anything that could make it read
// differently than it is escaped, Go style (\r, \x1b, \u202e): control
// characters other than tab and newline, invalid UTF-8, and invisible
// formatting characters (bidirectional overrides, zero-width characters,
// line and paragraph separators). The server refuses them in what it
// stores, but what it stored before, and what other systems put in event
// messages or manifests, reaches a terminal only through this writer, so
// a crafted value cannot repaint a line an approver reads.
type escapingWriter struct {
	w io.Writer
	// partial holds the start of a UTF-8 sequence split across writes.
	partial []byte
}

func newEscapingWriter(w io.Writer) io.Writer {
	if w == nil {
		return nil
	}
	return &escapingWriter{w: w}
}

func (e *escapingWriter) Write(p []byte) (int, error) {
	n := len(p)
	if len(e.partial) > 0 {
		p = append(e.partial, p...)
		e.partial = nil
	}
	var b strings.Builder
	for len(p) > 0 {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size <= 1 {
			if !utf8.FullRune(p) && len(p) < utf8.UTFMax {
				e.partial = append([]byte(nil), p...)
				break
			}
			b.WriteString(`\x` + strconv.FormatUint(uint64(p[0])|0x100, 16)[1:])
			p = p[1:]
			continue
		}
		if unusual(r) {
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.Write(p[:size])
		}
		p = p[size:]
	}
	if _, err := io.WriteString(e.w, b.String()); err != nil {
		return 0, err
	}
	return n, nil
}

// Unwrap returns the writer written to, so that a check for a terminal
// sees the real stream.
func (e *escapingWriter) Unwrap() io.Writer { return e.w }

// unusual reports whether r is printed escaped.
func unusual(r rune) bool {
	switch {
	case r == '\t' || r == '\n':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		return true
	}
	return unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029
}
