package analysis

import (
	"math"
	"slices"
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

// Conditions are type-checked at compile time and evaluated over result
// and args.
func TestConditions(t *testing.T) {
	t.Parallel()
	args := map[string]string{"threshold": "0.99", "param.TAG": "2.1"}
	tests := []struct {
		expr    string
		numeric bool
		result  any
		want    bool
		compile string // substring of the compile error
		eval    string // substring of the evaluation error
		used    []string
	}{
		{expr: "result >= 0.99", numeric: true, result: 0.995, want: true},
		{expr: "result >= 1", numeric: true, result: 0.5, want: false},
		{expr: "result >= double(args.threshold)", numeric: true, result: 0.99, want: true, used: []string{"threshold"}},
		{expr: `args["param.TAG"] == "2.1" && result < 500.0`, numeric: true, result: 12.0, want: true, used: []string{"param.TAG"}},
		{expr: "result == true", result: true, want: true},
		{expr: "result.ok && result.rate > 0.9", result: map[string]any{"ok": true, "rate": 0.95}, want: true},
		{expr: "size(result) == 2 && result[0] == 1", result: []any{1.0, 2.0}, want: true},
		{expr: "isNaN(result)", numeric: true, compile: "undeclared reference"},
		{expr: "result >=", numeric: true, compile: "Syntax error"},
		{expr: "result + 1.0", numeric: true, compile: "want bool"},
		{expr: `result == "x"`, numeric: true, compile: "no matching overload"},
		{expr: "resultt > 1.0", numeric: true, compile: "undeclared reference to 'resultt'"},
		{expr: "result", result: "yes", eval: "not a bool"},
		{expr: "args.missing == '1'", numeric: true, result: 1.0, eval: "no such key", used: []string{"missing"}},
		{expr: "result > 0.5", numeric: true, result: math.NaN(), want: false},
	}
	for _, tt := range tests {
		c, used, err := Compile(tt.expr, tt.numeric)
		if tt.compile != "" {
			if err == nil || !strings.Contains(err.Error(), tt.compile) {
				t.Errorf("Compile(%q) = %v, want an error with %q", tt.expr, err, tt.compile)
			}
			continue
		}
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.expr, err)
			continue
		}
		if !slices.Equal(used, tt.used) {
			t.Errorf("Compile(%q) uses %v, want %v", tt.expr, used, tt.used)
		}
		got, err := c.Eval(tt.result, args)
		if tt.eval != "" {
			if err == nil || !strings.Contains(err.Error(), tt.eval) {
				t.Errorf("Eval(%q) = %v, want an error with %q", tt.expr, err, tt.eval)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Eval(%q, %v) = %v, %v; want %v", tt.expr, tt.result, got, err, tt.want)
		}
	}
}

// CheckTemplate names the field of each condition that cannot run.
func TestCheckTemplate(t *testing.T) {
	t.Parallel()
	tpl := &v1alpha1.AnalysisTemplate{Spec: v1alpha1.AnalysisTemplateSpec{
		Args: []v1alpha1.AnalysisTemplateArg{{Name: "threshold"}},
		Metrics: []v1alpha1.AnalysisMetric{
			{Name: "ok", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{}}, SuccessCondition: "result >= double(args.threshold)"},
			{Name: "syntax", Provider: v1alpha1.MetricProvider{Prometheus: &v1alpha1.PrometheusProvider{}}, SuccessCondition: "result >=", FailureCondition: "result < double(args.limit)"},
			{Name: "web", Provider: v1alpha1.MetricProvider{Web: &v1alpha1.WebProvider{}}, FailureCondition: "result.errors > 3"},
		},
	}}
	fes := CheckTemplate(tpl)
	want := map[string]string{
		"spec.metrics[1].successCondition": `CEL expression "result >="`,
		"spec.metrics[1].failureCondition": "uses args.limit, which is not a declared argument",
	}
	if len(fes) != len(want) {
		t.Fatalf("got %v, want errors for %v", fes, want)
	}
	for _, fe := range fes {
		if !strings.Contains(fe.Message, want[fe.Field]) {
			t.Errorf("%s: %q, want %q", fe.Field, fe.Message, want[fe.Field])
		}
	}
}
