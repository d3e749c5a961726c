package v1alpha1

import "testing"

func TestParseDeploymentRef(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want DeploymentRef
		bad  bool
	}{
		{in: "42", want: DeploymentRef{ID: 42}},
		{in: "deployment/42", want: DeploymentRef{ID: 42}},
		{in: "deployments/7", want: DeploymentRef{ID: 7}},
		{in: "webpage#6", want: DeploymentRef{Pipeline: "webpage", Number: 6}},
		{in: "webpage/6", want: DeploymentRef{Pipeline: "webpage", Number: 6}},
		{in: "deployment/web-1#12", want: DeploymentRef{Pipeline: "web-1", Number: 12}},
		{in: "0", bad: true},
		{in: "-3", bad: true},
		{in: "abc", bad: true},
		{in: "#6", bad: true},
		{in: "webpage#", bad: true},
		{in: "webpage#0", bad: true},
		{in: "Web#1", bad: true},
		{in: "a/b/1", bad: true},
		{in: "", bad: true},
	} {
		got, err := ParseDeploymentRef(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("ParseDeploymentRef(%q) = %+v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseDeploymentRef(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	if s := (DeploymentRef{Pipeline: "web", Number: 3}).String(); s != "web#3" {
		t.Errorf("String = %q", s)
	}
	if s := (Deployment{Pipeline: "web", Number: 3}).Ref(); s != "web#3" {
		t.Errorf("Ref = %q", s)
	}
}
