package v1alpha1_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
)

func TestDurationJSONRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want time.Duration
		out  string // how it is written back
	}{
		{in: `"30s"`, want: 30 * time.Second, out: `"30s"`},
		{in: `"90s"`, want: 90 * time.Second, out: `"1m30s"`},
		{in: `"5m"`, want: 5 * time.Minute, out: `"5m0s"`},
		{in: `"24h"`, want: 24 * time.Hour, out: `"24h0m0s"`},
		{in: `"1h30m"`, want: 90 * time.Minute, out: `"1h30m0s"`},
		{in: `"250ms"`, want: 250 * time.Millisecond, out: `"250ms"`},
		{in: `"0s"`, want: 0, out: `"0s"`},
		{in: `"0"`, want: 0, out: `"0s"`},
		{in: `"-1m"`, want: -time.Minute, out: `"-1m0s"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var s v1alpha1.ShiftTrafficStage
			if err := json.Unmarshal([]byte(`{"rampLimitPercent":25,"batchDelay":`+tt.in+`}`), &s); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if s.BatchDelay == nil || s.BatchDelay.Duration != tt.want {
				t.Fatalf("batchDelay = %v, want %v", s.BatchDelay, tt.want)
			}
			b, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			if want := `{"rampLimitPercent":25,"batchDelay":` + tt.out + `}`; string(b) != want {
				t.Errorf("Marshal = %s, want %s", b, want)
			}
			var back v1alpha1.ShiftTrafficStage
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatalf("Unmarshal of marshalled %s: %v", b, err)
			}
			if back.BatchDelay == nil || back.BatchDelay.Duration != tt.want {
				t.Errorf("round trip batchDelay = %v, want %v", back.BatchDelay, tt.want)
			}
		})
	}
}

func TestDurationValueField(t *testing.T) {
	t.Parallel()
	// A Duration held by value (not pointer) is written as text too.
	type holder struct {
		D v1alpha1.Duration `json:"d"`
	}
	b, err := json.Marshal(holder{D: v1alpha1.Duration{Duration: 2 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"d":"2m0s"}` {
		t.Errorf("Marshal = %s", b)
	}
	var h holder
	if err := json.Unmarshal(b, &h); err != nil || h.D.Duration != 2*time.Minute {
		t.Errorf("Unmarshal = %v, %v", h.D, err)
	}
}

func TestDurationInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		json string
		want string
	}{
		{"words", `"5 minutes"`, `invalid duration "5 minutes": want a number with a unit, like 30s, 5m or 24h`},
		{"no unit", `"30"`, `invalid duration "30": want a number with a unit, like 30s, 5m or 24h`},
		{"empty", `""`, `invalid duration "": want a number with a unit, like 30s, 5m or 24h`},
		{"days", `"1d"`, `invalid duration "1d": want a number with a unit, like 30s, 5m or 24h`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var a v1alpha1.ApprovalStage
			err := json.Unmarshal([]byte(`{"timeout":`+tt.json+`}`), &a)
			if err == nil {
				t.Fatalf("Unmarshal = nil error, timeout %v", a.Timeout)
			}
			if err.Error() != tt.want {
				t.Errorf("error = %q\nwant    %q", err, tt.want)
			}
		})
	}
	// A bare JSON number is not a duration either (no unit).
	var a v1alpha1.ApprovalStage
	var ute *json.UnmarshalTypeError
	if err := json.Unmarshal([]byte(`{"timeout":30}`), &a); !errors.As(err, &ute) {
		t.Errorf("Unmarshal of a number = %v, want a *json.UnmarshalTypeError", err)
	}
	var d v1alpha1.Duration
	err := d.UnmarshalText([]byte("soon"))
	if want := `invalid duration "soon": want a number with a unit, like 30s, 5m or 24h`; err == nil || err.Error() != want {
		t.Errorf("UnmarshalText(soon) = %v, want %s", err, want)
	}
}

func TestDurationOr(t *testing.T) {
	t.Parallel()
	var none *v1alpha1.Duration
	if got := none.Or(v1alpha1.DefaultRolloutTimeout); got != 5*time.Minute {
		t.Errorf("nil.Or = %v, want 5m", got)
	}
	if got := dur(time.Second).Or(time.Hour); got != time.Second {
		t.Errorf("1s.Or = %v, want 1s", got)
	}
	if got := dur(0).Or(time.Hour); got != 0 {
		t.Errorf("0s.Or = %v, want 0 (set, not defaulted)", got)
	}
}

func TestKindOfPlural(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want string
	}{
		{"environments", v1alpha1.KindEnvironment},
		{"environment", v1alpha1.KindEnvironment},
		{"Environment", v1alpha1.KindEnvironment},
		{"ENVIRONMENTS", v1alpha1.KindEnvironment},
		{"env", v1alpha1.KindEnvironment},
		{"Envs", v1alpha1.KindEnvironment},
		{"artifacts", v1alpha1.KindArtifact},
		{"artifact", v1alpha1.KindArtifact},
		{"Artifact", v1alpha1.KindArtifact},
		{"pipelines", v1alpha1.KindPipeline},
		{"pipeline", v1alpha1.KindPipeline},
		{"PipeLine", v1alpha1.KindPipeline},
		{"pl", v1alpha1.KindPipeline},
		{"PIPE", v1alpha1.KindPipeline},
		{"", ""},
		{"art", ""},
		{"pipes", ""},
		{"deployments", ""},
		{"environmentss", ""},
		{"environment ", ""},
		{"énv", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			if got := v1alpha1.KindOfPlural(tt.in); got != tt.want {
				t.Errorf("KindOfPlural(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPlural(t *testing.T) {
	t.Parallel()
	want := map[string]string{
		v1alpha1.KindEnvironment: "environments",
		v1alpha1.KindArtifact:    "artifacts",
		v1alpha1.KindPipeline:    "pipelines",
		"Deployment":             "",
		"":                       "",
	}
	for kind, plural := range want {
		if got := v1alpha1.Plural(kind); got != plural {
			t.Errorf("Plural(%q) = %q, want %q", kind, got, plural)
		}
	}
	// Plural and KindOfPlural are inverses for every kind.
	for _, k := range v1alpha1.Kinds {
		if got := v1alpha1.KindOfPlural(v1alpha1.Plural(k)); got != k {
			t.Errorf("KindOfPlural(Plural(%q)) = %q", k, got)
		}
	}
}

func TestDeploymentStatusFinal(t *testing.T) {
	t.Parallel()
	want := map[v1alpha1.DeploymentStatus]bool{
		v1alpha1.StatusQueued:             false,
		v1alpha1.StatusRunning:            false,
		v1alpha1.StatusWaitingForApproval: false,
		v1alpha1.StatusSucceeded:          true,
		v1alpha1.StatusFailed:             true,
		v1alpha1.StatusRejected:           true,
		v1alpha1.StatusCancelled:          true,
		"":                                false,
	}
	for s, final := range want {
		if got := s.Final(); got != final {
			t.Errorf("%q.Final() = %v, want %v", s, got, final)
		}
	}
}

func TestNamespacesCreatable(t *testing.T) {
	t.Parallel()
	no, yes := false, true
	tests := []struct {
		name string
		v    *bool
		want bool
	}{
		{"default", nil, true},
		{"true", &yes, true},
		{"false", &no, false},
	}
	for _, tt := range tests {
		if got := (v1alpha1.EnvironmentSpec{CreateNamespaces: tt.v}).NamespacesCreatable(); got != tt.want {
			t.Errorf("%s: NamespacesCreatable() = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestIngressLayout(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"":                  v1alpha1.IngressLayoutCanaryNamespace,
		"canary-namespace":  v1alpha1.IngressLayoutCanaryNamespace,
		"beside-production": v1alpha1.IngressLayoutBesideProduction,
	} {
		if got := (v1alpha1.EnvironmentSpec{IngressLayout: in}).Layout(); got != want {
			t.Errorf("Layout() of %q = %q, want %q", in, got, want)
		}
	}
}

func TestTesterHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    *v1alpha1.TesterHeader
		want v1alpha1.TesterHeader
	}{
		{"default", nil, v1alpha1.TesterHeader{Name: "redirect-to-canary", Value: "always"}},
		{"name only", &v1alpha1.TesterHeader{Name: "X-Canary"}, v1alpha1.TesterHeader{Name: "X-Canary", Value: "always"}},
		{"value only", &v1alpha1.TesterHeader{Value: "beta"}, v1alpha1.TesterHeader{Name: "redirect-to-canary", Value: "beta"}},
		{"both", &v1alpha1.TesterHeader{Name: "X-Canary", Value: "beta"}, v1alpha1.TesterHeader{Name: "X-Canary", Value: "beta"}},
	}
	for _, tt := range tests {
		c := v1alpha1.CanaryDeploymentStage{TesterHeader: tt.h}
		if got := c.Header(); got != tt.want {
			t.Errorf("%s: Header() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestCanaryStageRouting(t *testing.T) {
	t.Parallel()
	def := v1alpha1.TesterHeader{Name: "redirect-to-canary", Value: "always"}
	tests := []struct {
		name  string
		stage v1alpha1.CanaryDeploymentStage
		env   v1alpha1.EnvironmentSpec
		want  v1alpha1.TrafficRouting
	}{
		{
			"nginx, default layout",
			v1alpha1.CanaryDeploymentStage{IngressName: "web"},
			v1alpha1.EnvironmentSpec{},
			v1alpha1.TrafficRouting{Provider: "nginx", Ingress: "web", Layout: "canary-namespace", LayoutReason: "default: environment local sets no ingressLayout", TesterHeader: def},
		},
		{
			"nginx beside production",
			v1alpha1.CanaryDeploymentStage{IngressName: "web"},
			v1alpha1.EnvironmentSpec{IngressLayout: "beside-production"},
			v1alpha1.TrafficRouting{Provider: "nginx", Ingress: "web", Layout: "beside-production", LayoutReason: "environment local sets ingressLayout", TesterHeader: def},
		},
		{
			"gateway api ignores the layout",
			v1alpha1.CanaryDeploymentStage{HTTPRouteName: "web", TesterHeader: &v1alpha1.TesterHeader{Name: "X-Canary", Value: "beta"}},
			v1alpha1.EnvironmentSpec{IngressLayout: "beside-production"},
			v1alpha1.TrafficRouting{Provider: "gatewayapi", HTTPRoute: "web", TesterHeader: v1alpha1.TesterHeader{Name: "X-Canary", Value: "beta"}},
		},
	}
	for _, tt := range tests {
		if got := tt.stage.Routing("local", tt.env); got != tt.want {
			t.Errorf("%s: Routing() = %+v, want %+v", tt.name, got, tt.want)
		}
	}
}

func TestCanaryScaleOf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scale    *v1alpha1.CanaryScale
		replicas int
		want     int
	}{
		{nil, 3, 3},
		{&v1alpha1.CanaryScale{Replicas: 1}, 3, 1},
		{&v1alpha1.CanaryScale{Replicas: 5}, 3, 5},
		{&v1alpha1.CanaryScale{Percent: 25}, 10, 3}, // 2.5 rounds up
		{&v1alpha1.CanaryScale{Percent: 25}, 1, 1},
		{&v1alpha1.CanaryScale{Percent: 10}, 0, 1}, // a canary has a pod
		{&v1alpha1.CanaryScale{Percent: 100}, 4, 4},
	}
	for _, tt := range tests {
		if got := tt.scale.Of(tt.replicas); got != tt.want {
			t.Errorf("%+v.Of(%d) = %d, want %d", tt.scale, tt.replicas, got, tt.want)
		}
	}
}
