package kube

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// A diff of a Secret names its changed keys and never shows a value.
func TestDiffHidesSecretData(t *testing.T) {
	t.Parallel()
	secret := func(data map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": "db"}, "data": data,
		}}
	}
	live := secret(map[string]any{"password": "b2xk", "user": "dXNlcg==", "gone": "eA=="})
	planned := secret(map[string]any{"password": "bmV3", "user": "dXNlcg==", "added": "eQ=="})
	od, err := diffObject("prod", "Secret", "db", live, planned)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"b2xk", "bmV3", "dXNlcg==", "eA==", "eQ=="} {
		if strings.Contains(od.Diff, v) {
			t.Fatalf("the diff shows a value %s:\n%s", v, od.Diff)
		}
	}
	if !strings.Contains(od.Diff, "password: (redacted, changed)") || !strings.Contains(od.Diff, "gone") || !strings.Contains(od.Diff, "added") {
		t.Fatalf("the diff does not say what changed:\n%s", od.Diff)
	}
	if live.Object["data"].(map[string]any)["password"] != "b2xk" {
		t.Fatal("the diff changed the live object it was given")
	}
}
