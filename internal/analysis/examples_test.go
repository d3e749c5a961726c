package analysis

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/resourcefile"
)

// The templates of examples/analysis decode strictly, validate, compile,
// and measure against a Prometheus answer with the deployment's arguments
// filled into their queries.
func TestExampleTemplates(t *testing.T) {
	t.Parallel()
	objs, err := resourcefile.DecodeFile("../../examples/analysis/templates.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePrometheus{status: 200, body: vector("0.25")}
	srv := httptest.NewServer(f)
	defer srv.Close()
	names := map[string]bool{}
	for _, o := range objs {
		raw, err := json.Marshal(o.Value)
		if err != nil {
			t.Fatal(err)
		}
		var tpl v1alpha1.AnalysisTemplate
		if err := json.Unmarshal(raw, &tpl); err != nil {
			t.Fatal(err)
		}
		names[tpl.Metadata.Name] = true
		if err := tpl.Validate(nil); err != nil {
			t.Fatalf("%s: %v", tpl.Metadata.Name, err)
		}
		if fes := CheckTemplate(&tpl); len(fes) > 0 {
			t.Fatalf("%s: %v", tpl.Metadata.Name, fes)
		}
		args := map[string]string{"prometheus": srv.URL, "productionNamespace": "prod", "canaryNamespace": "canary", "ingress": "web", "httpRoute": "web"}
		a := &Analyzer{}
		specs := map[string]v1alpha1.AnalysisTemplateSpec{tpl.Metadata.Name: tpl.Spec}
		t0 := time.Now()
		run, err := a.Start("check", []string{tpl.Metadata.Name}, specs, args, t0)
		if err != nil {
			t.Fatal(err)
		}
		_, ms, err := a.Step(context.Background(), specs, run, t0)
		if err != nil || len(ms) != 1 {
			t.Fatalf("%s: %v %+v", tpl.Metadata.Name, err, ms)
		}
		q := f.last.URL.Query().Get("query")
		if strings.Contains(q, "{{") || !strings.Contains(q, "[1m]") || !(strings.Contains(q, `"canary"`) || strings.Contains(q, "prod-web")) {
			t.Errorf("%s: query %q", tpl.Metadata.Name, q)
		}
		// 0.25 is a bad success rate and a fine p99 latency (seconds).
		want := v1alpha1.AnalysisFailed
		if strings.HasSuffix(tpl.Metadata.Name, "latency-p99") {
			want = v1alpha1.AnalysisSuccessful
		}
		if ms[0].Phase != want {
			t.Errorf("%s: %s (%s), want %s", tpl.Metadata.Name, ms[0].Phase, ms[0].Message, want)
		}
	}
	for _, dp := range []string{"traefik-nginx", "traefik-gateway", "ingress-nginx"} {
		for _, m := range []string{"success-rate", "latency-p99"} {
			if !names[dp+"-"+m] {
				t.Errorf("examples/analysis lacks %s-%s", dp, m)
			}
		}
	}
}
