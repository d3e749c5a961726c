package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// Output formats of -o, as kubectl names them. The empty format is each
// command's default (a table, or a one-line message).
const (
	outputTable = "table"
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// addOutputFlag declares -o/--output with the formats a command accepts.
func addOutputFlag(fs *pflag.FlagSet, p *string, formats ...string) {
	fs.StringVarP(p, "output", "o", "", "output format: "+strings.Join(formats, ", "))
}

// checkOutput refuses a format the command does not have.
func checkOutput(format string, formats ...string) error {
	if format == "" {
		return nil
	}
	for _, f := range formats {
		if format == f {
			return nil
		}
	}
	return usageErrorf("--output %q: want one of %s", format, strings.Join(formats, ", "))
}

// printData writes v as indented JSON or as YAML.
func printData(w io.Writer, format string, v any) error {
	switch format {
	case outputJSON:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("encode JSON: %w", err)
		}
		b = append(b, '\n')
		_, err = w.Write(b)
		return err
	case outputYAML:
		enc := yaml.NewEncoder(w)
		enc.SetIndent(2)
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("encode YAML: %w", err)
		}
		return enc.Close()
	}
	return fmt.Errorf("unknown output format %q", format)
}

// table writes aligned columns like kubectl.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, headers ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)}
	if len(headers) > 0 {
		t.row(headers...)
	}
	return t
}

// cellReplacer takes out what would break the columns: a tab or a newline
// inside a cell.
var cellReplacer = strings.NewReplacer("\t", " ", "\n", " ")

// row writes one line. It never writes to cells: callers pass shared
// header slices, and tests print from several goroutines at once.
func (t *table) row(cells ...string) {
	out := make([]string, len(cells))
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		out[i] = cellReplacer.Replace(c)
	}
	fmt.Fprintln(t.tw, strings.Join(out, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

// humanDuration is kubectl's short age: 45s, 5m30s, 12m, 3h10m, 5d, 2y.
func humanDuration(d time.Duration) string {
	if seconds := int(d.Seconds()); seconds < -1 {
		return "<invalid>"
	} else if seconds < 0 {
		return "0s"
	} else if seconds < 60*2 {
		return fmt.Sprintf("%ds", seconds)
	}
	minutes := int(d / time.Minute)
	if minutes < 10 {
		if s := int(d/time.Second) % 60; s != 0 {
			return fmt.Sprintf("%dm%ds", minutes, s)
		}
		return fmt.Sprintf("%dm", minutes)
	} else if minutes < 60*3 {
		return fmt.Sprintf("%dm", minutes)
	}
	hours := int(d / time.Hour)
	switch {
	case hours < 8:
		if m := int(d/time.Minute) % 60; m != 0 {
			return fmt.Sprintf("%dh%dm", hours, m)
		}
		return fmt.Sprintf("%dh", hours)
	case hours < 48:
		return fmt.Sprintf("%dh", hours)
	case hours < 24*8:
		if h := hours % 24; h != 0 {
			return fmt.Sprintf("%dd%dh", hours/24, h)
		}
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*2:
		return fmt.Sprintf("%dd", hours/24)
	case hours < 24*365*8:
		if dy := hours / 24 % 365; dy != 0 {
			return fmt.Sprintf("%dy%dd", hours/24/365, dy)
		}
		return fmt.Sprintf("%dy", hours/24/365)
	}
	return fmt.Sprintf("%dy", hours/24/365)
}

// age is how long ago t was, or "-" for no time.
func age(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	return humanDuration(now.Sub(*t))
}

// timestamp is an absolute time in the clock's zone with how long ago (or
// how far ahead) it is, for describe.
func timestamp(now time.Time, t *time.Time) string {
	if t == nil || t.IsZero() {
		return "-"
	}
	abs := t.In(now.Location()).Format(time.RFC3339)
	if t.After(now.Add(time.Second)) {
		return fmt.Sprintf("%s (in %s)", abs, humanDuration(t.Sub(now)))
	}
	return fmt.Sprintf("%s (%s ago)", abs, humanDuration(now.Sub(*t)))
}

// shortDuration writes a setting's duration without zero units: 5m, 24h,
// 1h30m, 90s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// columns is how a list command prints its items as a table: the headers,
// the extra headers of -o wide, and one row per item.
type columns[T any] struct {
	headers []string
	wide    []string
	row     func(item T, wide bool) []string
}

// printList prints a list as kubectl does: the whole list (data) as JSON
// or YAML with -o json|yaml, else a table of items.
func printList[T any](w io.Writer, output string, data any, items []T, c columns[T]) error {
	if output == outputJSON || output == outputYAML {
		return printData(w, output, data)
	}
	wide := output == outputWide
	headers := c.headers
	if wide {
		headers = append(append([]string(nil), headers...), c.wide...)
	}
	t := newTable(w, headers...)
	for _, it := range items {
		t.row(c.row(it, wide)...)
	}
	return t.flush()
}
