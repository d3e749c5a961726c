package analysis

import (
	"reflect"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

func TestThresholds(t *testing.T) {
	t.Parallel()
	args := map[string]string{"min": "0.99", "max": "0.5", "name": "web"}
	ok, bad := v1alpha1.ThresholdSuccess, v1alpha1.ThresholdFailure
	th := func(cond, op string, v float64) v1alpha1.MetricThreshold {
		return v1alpha1.MetricThreshold{Condition: cond, Operator: op, Value: v}
	}
	tests := []struct {
		name             string
		success, failure string
		want             []v1alpha1.MetricThreshold
	}{
		{"a literal", "result >= 0.95", "", []v1alpha1.MetricThreshold{th(ok, ">=", 0.95)}},
		{"an integer", "result < 500", "", []v1alpha1.MetricThreshold{th(ok, "<", 500)}},
		{"the number first", "0.5 > result", "", []v1alpha1.MetricThreshold{th(ok, "<", 0.5)}},
		{"an argument", "result >= double(args.min)", "", []v1alpha1.MetricThreshold{th(ok, ">=", 0.99)}},
		{"an argument by index", `result <= double(args["max"])`, "", []v1alpha1.MetricThreshold{th(ok, "<=", 0.5)}},
		{"an element", "result[0] > 0.9", "", []v1alpha1.MetricThreshold{th(ok, ">", 0.9)}},
		{"a band", "result >= 0.1 && result <= 0.9", "", []v1alpha1.MetricThreshold{th(ok, ">=", 0.1), th(ok, "<=", 0.9)}},
		{"both conditions", "result >= 0.99", "result < 0.9", []v1alpha1.MetricThreshold{th(ok, ">=", 0.99), th(bad, "<", 0.9)}},
		{"a negation is not read", "!(result < 0.9)", "", nil},
		{"a function of the result is not read", "size(result) > 2", "", nil},
		{"a text argument is not a number", "result >= double(args.name)", "", nil},
		{"an unknown argument", "result >= double(args.nobody)", "", nil},
		{"no comparison", "result", "", nil},
		{"does not parse", "result >=", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Thresholds(v1alpha1.AnalysisMetric{SuccessCondition: tt.success, FailureCondition: tt.failure}, args)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Thresholds(%q, %q) = %+v, want %+v", tt.success, tt.failure, got, tt.want)
			}
		})
	}
}
