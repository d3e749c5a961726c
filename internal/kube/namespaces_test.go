package kube

import (
	"strings"
	"testing"
)

func TestCheckNamespaces(t *testing.T) {
	const manifests = `apiVersion: v1
kind: ConfigMap
metadata: {name: plain}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: system, namespace: kube-system}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: canary}
`
	objs, err := Decode(manifests)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		namespaces []string
		want       []string
		not        []string
	}{
		{"canary and production", []string{"canary", "prod"}, []string{
			`ConfigMap/system: names namespace "kube-system", but Fledge deploys the manifests into namespaces "canary" and "prod"`,
			`Deployment/web: names namespace "canary"`,
		}, []string{"plain"}},
		{"canary only", []string{"canary"}, []string{`ConfigMap/system: names namespace "kube-system", but Fledge deploys the manifests into namespace "canary"`}, []string{"plain", "Deployment/web"}},
	} {
		err := CheckNamespaces(objs, tc.namespaces...)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tc.name, err, w)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q names %q", tc.name, err, w)
			}
		}
	}
	if err := CheckNamespaces(objs[:1], "canary", "prod"); err != nil {
		t.Errorf("objects without a namespace: %v", err)
	}
}
