package v1alpha1

import (
	"sort"
	"strings"
)

// FormatParameters writes a deployment's parameters as NAME=value in name
// order, joined by sep; it is the one spelling of parameters in events,
// audit notes and command output.
func FormatParameters(p map[string]string, sep string) string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(p[k])
	}
	return b.String()
}

// DescribeParameters is FormatParameters for sentences: "A=1, B=2", or
// "no parameters".
func DescribeParameters(p map[string]string) string {
	if len(p) == 0 {
		return "no parameters"
	}
	return FormatParameters(p, ", ")
}
