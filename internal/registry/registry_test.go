package registry

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, text string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(text), &u.Object); err != nil {
		t.Fatal(err)
	}
	return u
}

func pullSecrets(t *testing.T, o *unstructured.Unstructured) []string {
	t.Helper()
	path := append(podSpecPaths[o.GetKind()], "imagePullSecrets")
	l, _, err := unstructured.NestedSlice(o.Object, path...)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range l {
		names = append(names, e.(map[string]any)["name"].(string))
	}
	return names
}

func TestInjectPullSecrets(t *testing.T) {
	const sec = "fledge-registry-ghcr"
	tests := []struct {
		name    string
		in      string
		want    []string // imagePullSecrets afterwards; nil: object untouched
		changed bool
	}{
		{"deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: i}]\n", []string{sec}, true},
		{"statefulset", "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: s}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: i}]\n", []string{sec}, true},
		{"daemonset", "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: s}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: i}]\n", []string{sec}, true},
		{"job", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: j}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: i}]\n", []string{sec}, true},
		{"cronjob", "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: cj}\nspec:\n  schedule: '* * * * *'\n  jobTemplate:\n    spec:\n      template:\n        spec:\n          containers: [{name: c, image: i}]\n", []string{sec}, true},
		{"pod", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: i}]\n", []string{sec}, true},
		{"already named", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      imagePullSecrets: [{name: fledge-registry-ghcr}]\n      containers: [{name: c, image: i}]\n", []string{sec}, false},
		{"others kept first", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    spec:\n      imagePullSecrets: [{name: mine}]\n      containers: [{name: c, image: i}]\n", []string{"mine", sec}, true},
		{"service untouched", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: 80}]\n", nil, false},
		{"custom resource of a workload kind untouched", "apiVersion: example.com/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {}\n", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := obj(t, tt.in)
			before := in.DeepCopy()
			out, changed, err := InjectPullSecrets([]*unstructured.Unstructured{in}, sec)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(in.Object, before.Object) {
				t.Error("the input object was modified")
			}
			if got := len(changed) == 1; got != tt.changed {
				t.Errorf("changed = %v, want changed %v", changed, tt.changed)
			}
			if !tt.changed && out[0] != in {
				t.Error("an unchanged object was copied")
			}
			if tt.want == nil {
				return
			}
			if got := pullSecrets(t, out[0]); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("imagePullSecrets = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestInjectPullSecretsMalformed(t *testing.T) {
	tests := []struct{ name, in, where string }{
		{"no template", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: 1}\n", "spec.template.spec"},
		{"spec not a mapping", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: [1]\n", "spec"},
		{"list not a list", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  imagePullSecrets: mine\n", "spec.imagePullSecrets"},
		{"entry not a mapping", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  imagePullSecrets: [mine]\n", "spec.imagePullSecrets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := InjectPullSecrets([]*unstructured.Unstructured{obj(t, tt.in)}, "s")
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tt.where) {
				t.Errorf("err = %v, want ErrMalformed naming %s", err, tt.where)
			}
		})
	}
}

func TestSecret(t *testing.T) {
	c := Credential{Server: "ghcr.io", Username: "robot", Password: "t0ken"}
	s, err := Secret("ghcr", c)
	if err != nil {
		t.Fatal(err)
	}
	if s.GetName() != "fledge-registry-ghcr" || s.Object["type"] != "kubernetes.io/dockerconfigjson" || s.GetLabels()[LabelCredential] != "ghcr" {
		t.Fatalf("secret = %v", s.Object)
	}
	raw, err := base64.StdEncoding.DecodeString(s.Object["data"].(map[string]any)[".dockerconfigjson"].(string))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]struct{ Username, Password, Auth string } `json:"auths"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	a := cfg.Auths["ghcr.io"]
	if a.Username != "robot" || a.Password != "t0ken" || a.Auth != base64.StdEncoding.EncodeToString([]byte("robot:t0ken")) {
		t.Errorf("auths = %+v", cfg.Auths)
	}
}

func TestCredentialValidate(t *testing.T) {
	tests := []struct {
		name  string
		c     Credential
		field string // "" valid
	}{
		{"valid", Credential{"registry.example:5000", "u", "p"}, ""},
		{"url", Credential{"https://index.docker.io/v1/", "u", "p"}, ""},
		{"no server", Credential{"", "u", "p"}, "server"},
		{"other scheme", Credential{"ftp://x", "u", "p"}, "server"},
		{"no user", Credential{"r", "", "p"}, "username"},
		{"colon in user", Credential{"r", "a:b", "p"}, "username"},
		{"no password", Credential{"r", "u", ""}, "password"},
		{"newline in password", Credential{"r", "u", "p\nq"}, "password"},
		{"long password", Credential{"r", "u", strings.Repeat("x", MaxPasswordBytes+1)}, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fes := tt.c.Validate()
			if tt.field == "" {
				if len(fes) > 0 {
					t.Errorf("Validate = %v, want none", fes)
				}
				return
			}
			if len(fes) == 0 || fes[0].Field != tt.field {
				t.Errorf("Validate = %v, want an error on %s", fes, tt.field)
			}
		})
	}
	b, _ := Credential{"r", "u", "p"}.Marshal()
	if c, err := Parse(b); err != nil || c.Password != "p" {
		t.Errorf("Parse(Marshal) = %+v, %v", c, err)
	}
}
