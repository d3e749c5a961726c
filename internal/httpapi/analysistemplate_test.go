package httpapi

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	pipelinepkg "fledge.dev/fledge/internal/pipeline"
	"fledge.dev/fledge/internal/store"
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

// A run freezes the AnalysisTemplates its analysis steps name into its
// plan; a missing template, or an argument neither the step nor the
// deployment gives, refuses the run naming the step and the template.
func TestRunFreezesAnalysisTemplates(t *testing.T) {
	t.Parallel()
	srv := setupAnalysis(t, true)
	tpl, _ := json.Marshal(map[string]any{
		"apiVersion": "fledge.dev/v1alpha1", "kind": "AnalysisTemplate",
		"metadata": map[string]any{"name": "success-rate"},
		"spec": map[string]any{
			"args": []any{map[string]any{"name": "service"}, map[string]any{"name": "param.TAG"}, map[string]any{"name": "canaryNamespace"}, map[string]any{"name": "threshold"}},
			"metrics": []any{map[string]any{
				"name":             "success-rate",
				"provider":         map[string]any{"prometheus": map[string]any{"address": "http://127.0.0.1:9090", "query": `x{svc="{{args.service}}",v="{{args.param.TAG}}"}`}},
				"successCondition": "result >= double(args.threshold)",
			}},
		},
	})
	if code, body := do(t, srv, "PUT", "/api/v1/analysistemplates/success-rate", string(tpl)); code != 201 {
		t.Fatalf("apply template: %d %s", code, body)
	}
	pipeline := func(name string, templates []string, args map[string]string) string {
		refs := []any{}
		for _, tn := range templates {
			refs = append(refs, map[string]any{"name": tn})
		}
		var stepArgs []any
		for k, v := range args {
			stepArgs = append(stepArgs, map[string]any{"name": k, "value": v})
		}
		b, _ := json.Marshal(map[string]any{
			"apiVersion": "fledge.dev/v1alpha1", "kind": "Pipeline", "metadata": map[string]any{"name": name},
			"spec": map[string]any{
				"parameters": []any{map[string]any{"name": "TAG"}},
				"stages": []any{
					map[string]any{"name": "canary", "canaryDeployment": map[string]any{"environment": "local", "artifacts": []string{"web"}, "namespace": "canary", "ingressName": "web"}},
					map[string]any{"name": "progressive", "canarySteps": map[string]any{"steps": []any{
						map[string]any{"setWeight": 10},
						map[string]any{"analysis": map[string]any{"templates": refs, "args": stepArgs}},
					}}},
					map[string]any{"name": "release", "productionRelease": map[string]any{"namespace": "prod"}},
				},
			},
		})
		return string(b)
	}
	tests := []struct {
		name      string
		templates []string
		args      map[string]string
		code      int
		want      []string
	}{
		{"missing template", []string{"nope"}, map[string]string{"threshold": "0.99"}, 422, []string{
			"stages[1].canarySteps.steps[1].analysis.templates[0]", `analysis template \"nope\" does not exist`,
		}},
		{"missing argument", []string{"success-rate"}, nil, 422, []string{
			"stages[1].canarySteps.steps[1].analysis.templates[0]", `analysis template \"success-rate\" needs argument(s) threshold, which neither the step nor the deployment gives`,
		}},
		{"complete", []string{"success-rate"}, map[string]string{"threshold": "0.99"}, 201, nil},
	}
	for i, tt := range tests {
		name := "p" + string(rune('a'+i))
		if code, body := do(t, srv, "PUT", "/api/v1/pipelines/"+name, pipeline(name, tt.templates, tt.args)); code != 201 {
			t.Fatalf("%s: apply pipeline: %d %s", tt.name, code, body)
		}
		code, body := do(t, srv, "POST", "/api/v1/pipelines/"+name+"/runs", `{"parameters":{"TAG":"2.1"}}`)
		if code != tt.code {
			t.Fatalf("%s: run: %d %s", tt.name, code, body)
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s: answer lacks %q: %s", tt.name, w, body)
			}
		}
		if code != 201 {
			continue
		}
		var d struct{ ID int64 }
		_ = json.Unmarshal([]byte(body), &d)
		stored, err := srv.st.GetDeployment(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		var plan pipelinepkg.Plan
		if err := json.Unmarshal(stored.Plan, &plan); err != nil {
			t.Fatal(err)
		}
		spec, ok := plan.AnalysisTemplates["success-rate"]
		if !ok || len(spec.Metrics) != 1 || spec.Metrics[0].SuccessCondition != "result >= double(args.threshold)" {
			t.Fatalf("plan's templates: %+v", plan.AnalysisTemplates)
		}
	}
	// A template that pipelines use is not deleted.
	code, body := do(t, srv, "DELETE", "/api/v1/analysistemplates/success-rate", "")
	if code != 409 || !strings.Contains(body, "used by pipeline(s) pb, pc") {
		t.Fatalf("delete of a used template: %d %s", code, body)
	}
}

// A deployment's measurements are listed in the order they were taken;
// a deployment without any lists none, and an unknown one is 404.
func TestDeploymentMeasurements(t *testing.T) {
	t.Parallel()
	srv := setup(t)
	code, body := do(t, srv, "POST", "/api/v1/pipelines/p/runs", `{"parameters":{"TAG":"2.1"}}`)
	if code != 201 {
		t.Fatalf("run: %d %s", code, body)
	}
	if code, body := do(t, srv, "GET", "/api/v1/deployments/p%231/measurements", ""); code != 200 || body != "{\"items\":[]}\n" {
		t.Fatalf("no measurements: %d %q", code, body)
	}
	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for i, v := range []string{"0.999", "0.9"} {
		phase := v1alpha1.AnalysisSuccessful
		if i == 1 {
			phase = v1alpha1.AnalysisFailed
		}
		m := v1alpha1.Measurement{
			Analysis: "progressive/step-2", Template: "success-rate", Metric: "success-rate", Phase: phase, Value: v,
			Message: "value " + v, StartedAt: at.Add(time.Duration(i) * 30 * time.Second), FinishedAt: at.Add(time.Duration(i)*30*time.Second + time.Second),
		}
		if err := srv.st.AppendEvents(context.Background(), store.Event{DeploymentID: 1, Time: m.FinishedAt, Stage: "progressive", Type: "Measured", Message: m.Message, Measurement: &m}); err != nil {
			t.Fatal(err)
		}
	}
	code, body = do(t, srv, "GET", "/api/v1/deployments/1/measurements", "")
	var list v1alpha1.MeasurementList
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list.Items) != 2 {
		t.Fatalf("measurements: %d %s", code, body)
	}
	if m := list.Items[1]; m.Phase != v1alpha1.AnalysisFailed || m.Value != "0.9" || !m.StartedAt.Equal(at.Add(30*time.Second)) || m.Analysis != "progressive/step-2" {
		t.Fatalf("second measurement: %+v", m)
	}
	if code, body := do(t, srv, "GET", "/api/v1/deployments/99/measurements", ""); code != 404 {
		t.Fatalf("unknown deployment: %d %s", code, body)
	}
}
