package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
)

// An AnalysisTemplate is applied, read and deleted like the other
// resources; a template whose condition does not compile, that uses an
// undeclared argument or has a negative interval is refused with every
// field named, and nothing is stored.
func TestApplyAnalysisTemplate(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	tpl := func(cond, query, interval string) string {
		b, _ := json.Marshal(map[string]any{
			"apiVersion": "fledge.dev/v1alpha1", "kind": "AnalysisTemplate",
			"metadata": map[string]any{"name": "success-rate"},
			"spec": map[string]any{
				"args": []any{map[string]any{"name": "service"}},
				"metrics": []any{map[string]any{
					"name":             "success-rate",
					"provider":         map[string]any{"prometheus": map[string]any{"address": "http://127.0.0.1:9090", "query": query}},
					"successCondition": cond,
					"interval":         interval,
					"count":            3,
				}},
			},
		})
		return string(b)
	}
	code, body := do(t, srv, "PUT", "/api/v1/analysistemplates/success-rate", tpl("result >", `up{job="{{args.other}}"}`, "-5s"))
	if code != 422 {
		t.Fatalf("bad template: %d %s", code, body)
	}
	for _, want := range []string{
		`spec.metrics[0].successCondition`, `CEL expression \"result \u003e\"`,
		`spec.metrics[0].provider.prometheus.query`, `{{args.other}}, which is not a declared argument`,
		`spec.metrics[0].interval`, `must be positive, got -5s`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("refusal lacks %q: %s", want, body)
		}
	}
	if code, body := do(t, srv, "GET", "/api/v1/analysistemplates", ""); code != 200 || strings.Contains(body, "success-rate") {
		t.Fatalf("refused template was stored: %d %s", code, body)
	}
	good := tpl("result >= 0.99", `sum(rate(x{service="{{args.service}}"}[1m]))`, "10s")
	if code, body := do(t, srv, "PUT", "/api/v1/analysistemplates/success-rate", good); code != 201 {
		t.Fatalf("apply: %d %s", code, body)
	}
	if code, body := do(t, srv, "PUT", "/api/v1/analysistemplates/success-rate", good); code != 200 || !strings.Contains(body, `"unchanged"`) {
		t.Fatalf("re-apply: %d %s", code, body)
	}
	code, body = do(t, srv, "GET", "/api/v1/analysistemplates/success-rate", "")
	if code != 200 || !strings.Contains(body, `"successCondition":"result \u003e= 0.99"`) || !strings.Contains(body, `"generation":1`) {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, body := do(t, srv, "DELETE", "/api/v1/analysistemplates/success-rate", ""); code != 200 {
		t.Fatalf("delete: %d %s", code, body)
	}
}
